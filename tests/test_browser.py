"""End to end in a real browser: the real server on a loopback port, Debian's Chromium driven by
Playwright, a digit drawn with the mouse and an MNIST digit uploaded."""

import itertools
import re
import shutil
import sqlite3
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from conftest import STRICT, start_server, stop_server
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium keeps dialling out for updates and metrics, which a closed network
# refuses slowly.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]

if not Path(CHROMIUM).exists():
    if STRICT:
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    pytest.skip(f"needs Debian's chromium at {CHROMIUM}", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc, url = start_server()
    yield url
    stop_server(proc)


def _browse(url: str, profile: Path) -> Iterator[Page]:
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1000, "height": 800})
        page = context.new_page()
        page.goto(url)
        yield page
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(server: str, tmp_path: Path) -> Iterator[Page]:
    yield from _browse(server, tmp_path / "profile")


def draw(page: Page, points: list[tuple[float, float]]) -> None:
    """One stroke through ``points`` (fractions of the pad's width and height), in small steps
    as a hand moves."""
    box = page.locator("#pad").bounding_box()

    def at(fx: float, fy: float) -> tuple[float, float]:
        return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy

    page.mouse.move(*at(*points[0]))
    page.mouse.down()
    for a, b in itertools.pairwise(points):
        for i in range(1, 9):
            page.mouse.move(*at(a[0] + (b[0] - a[0]) * i / 8, a[1] + (b[1] - a[1]) * i / 8))
    page.mouse.up()


def write_170(page: Page) -> None:
    draw(page, [(0.2, 0.2), (0.205, 0.8)])  # a 1
    draw(page, [(0.38, 0.22), (0.5, 0.22), (0.42, 0.8)])  # a 7
    draw(page, [(0.72, 0.2), (0.64, 0.35), (0.64, 0.65), (0.72, 0.8), (0.8, 0.65),
                (0.8, 0.35), (0.72, 0.2)])  # a 0


def test_drawing_a_one_shows_a_prediction(page: Page, tmp_path: Path) -> None:
    box = page.locator("#pad").bounding_box()
    x = box["x"] + box["width"] * 0.5
    page.mouse.move(x, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    for i in range(1, 21):  # a vertical stroke, in small steps as a hand draws it
        page.mouse.move(x + i * 0.3, box["y"] + box["height"] * (0.2 + 0.03 * i))
    page.mouse.up()
    expect(page.locator("#digit")).to_have_text("1", timeout=15_000)
    expect(page.locator("#processed")).to_be_visible()
    expect(page.locator("#status")).not_to_have_class("status error")
    expect(page.locator("#correct")).to_be_hidden()  # this server keeps no corrections
    assert "%" in page.locator("#confidence").inner_text()
    page.screenshot(path=str(tmp_path / "drawn.png"))

    page.locator("#clear").click()
    expect(page.locator("#digit")).to_have_text("?")


def test_uploading_an_mnist_digit_shows_its_label(page: Page, mnist, tmp_path: Path) -> None:
    index = 3  # a 0 in the test set
    path = tmp_path / "digit.png"
    Image.fromarray(mnist.test_images[index]).save(path)
    page.locator("#file").set_input_files(str(path))
    expect(page.locator("#digit")).to_have_text(str(mnist.test_labels[index]), timeout=15_000)
    expect(page.locator("#uploaded")).to_be_visible()
    expect(page.locator("#processed")).to_be_visible()
    page.screenshot(path=str(tmp_path / "uploaded.png"))


def test_number_mode_reads_three_digits_as_they_are_written(page: Page, tmp_path: Path) -> None:
    page.locator("#mode-number").click()
    expect(page.locator("#mode-number")).to_have_attribute("aria-pressed", "true")
    write_170(page)
    expect(page.locator("#digit")).to_have_text("170", timeout=15_000)
    assert "%" in page.locator("#confidence").inner_text()
    page.screenshot(path=str(tmp_path / "number.png"))


def test_sum_mode_writes_the_answer_after_the_equals_sign(page: Page, tmp_path: Path) -> None:
    page.locator("#mode-sum").click()
    expect(page.locator("#mode-sum")).to_have_attribute("aria-pressed", "true")
    stroke = partial(draw, page)
    stroke([(0.12, 0.25), (0.19, 0.2), (0.22, 0.33), (0.16, 0.48), (0.22, 0.6), (0.2, 0.75),
            (0.12, 0.78)])  # a 3
    stroke([(0.3, 0.5), (0.38, 0.5)])  # a plus sign, a little smaller than the digits
    stroke([(0.34, 0.36), (0.34, 0.64)])
    stroke([(0.5, 0.2), (0.46, 0.55), (0.56, 0.55)])  # a 4 in two strokes
    stroke([(0.54, 0.3), (0.54, 0.8)])
    stroke([(0.64, 0.44), (0.72, 0.44)])  # an equals sign
    stroke([(0.64, 0.58), (0.72, 0.58)])
    expect(page.locator("#digit")).to_have_text("3+4=7", timeout=15_000)
    expect(page.locator("#answer-ink")).to_have_text("7")
    expect(page.locator("#answer-ink")).to_be_visible()
    page.screenshot(path=str(tmp_path / "sum.png"))
    page.locator("#clear").click()
    expect(page.locator("#answer-ink")).to_be_hidden()


def test_a_reading_is_corrected_with_a_digit_button_and_kept(mnist, tmp_path: Path) -> None:
    db = tmp_path / "feedback.db"
    proc, url = start_server("--feedback", str(db), "--feedback-token", "t0ken")
    try:
        for page in _browse(url + "/#token=t0ken", tmp_path / "profile"):
            index, label = 3, int(mnist.test_labels[3])  # a 0
            path = tmp_path / "digit.png"
            Image.fromarray(mnist.test_images[index]).save(path)
            page.locator("#file").set_input_files(str(path))
            expect(page.locator("#digit")).to_have_text(str(label), timeout=15_000)
            expect(page.locator("#correct-digit")).to_be_visible()
            expect(page.locator("#correct-number")).to_be_hidden()
            page.locator("#writer").fill("ana")
            page.get_by_role("button", name="It was 6").click()
            expect(page.locator("#correct-status")).to_contain_text("kept as 6", timeout=15_000)
            expect(page.get_by_role("button", name="It was 6")).to_have_attribute(
                "aria-pressed", "true")
            with sqlite3.connect(db) as con:
                assert con.execute("SELECT label, predicted, writer, kind FROM corrections"
                                   ).fetchall() == [("6", str(label), "ana", "digit")]
            page.screenshot(path=str(tmp_path / "corrected.png"))

            # By keyboard alone: Tab reaches the buttons, Enter presses one, and a second
            # answer replaces the first.
            page.get_by_role("button", name="It was 6").focus()
            page.keyboard.press("Tab")
            page.keyboard.press("Enter")
            expect(page.locator("#correct-status")).to_contain_text("kept as 7", timeout=15_000)

            page.locator("#mode-number").click()
            write_170(page)
            expect(page.locator("#digit")).to_have_text("170", timeout=15_000)
            # The last stroke's reading is in (the class list holds "number-mode" too).
            expect(page.locator("body")).not_to_have_class(re.compile(r"\bbusy\b"),
                                                           timeout=15_000)
            expect(page.locator("#correct-number")).to_be_visible()
            expect(page.locator("#correct-text")).to_have_value("170", timeout=15_000)
            page.locator("#correct-text").fill("171")
            page.locator("#correct-text").press("Enter")
            expect(page.locator("#correct-status")).to_contain_text("kept as 171", timeout=15_000)
    finally:
        stop_server(proc)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT label, kind, length(images) > 0 FROM corrections ORDER BY id"
                           ).fetchall() == [("7", "digit", 1), ("171", "number", 1)]


def test_table_mode_shows_the_grid_and_keeps_a_corrected_cell(mnist, tmp_path: Path) -> None:
    import numpy as np
    from test_table import table_page

    page_image, truth = table_page(mnist, np.random.default_rng(8), rows=4, columns=3)
    path = tmp_path / "table.png"
    page_image.save(path)
    db = tmp_path / "feedback.db"
    proc, url = start_server("--feedback", str(db), "--feedback-token", "t0ken")
    try:
        for page in _browse(url + "/#token=t0ken", tmp_path / "profile"):
            page.locator("#mode-table").click()
            expect(page.locator("#pad")).to_be_hidden()
            page.get_by_label("The first row holds the columns' printed names").uncheck()
            page.locator("#file").set_input_files(str(path))
            expect(page.locator("#digit")).to_have_text("4 × 3", timeout=30_000)
            cells = page.locator("#grid input")
            expect(cells).to_have_count(12)
            values = [cells.nth(k).input_value() for k in range(12)]
            flat = [t for row in truth for t in row]
            assert sum(v == t for v, t in zip(values, flat, strict=True)) >= 9, (values, flat)
            first = page.get_by_label("row 1, column 1", exact=False)
            first.fill("4321")
            first.press("Enter")
            expect(page.locator("#table-status")).to_contain_text("Kept 4321", timeout=15_000)
            page.screenshot(path=str(tmp_path / "table-mode.png"))
            with page.expect_download() as download:
                page.locator("#csv").click()
            lines = Path(download.value.path()).read_text().splitlines()
            assert len(lines) == 4 and lines[0].split(",")[0] == "4321"
    finally:
        stop_server(proc)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT label, kind FROM corrections").fetchall() == [("4321",
                                                                                  "number")]
