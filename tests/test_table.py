"""Tables: the grid found on ruled pages (slanted, bent, faint, merged cells) and on pages with
aligned columns and no rules; every cell read; the CLI's CSV, JSON, spreadsheet and review
file; /api/table."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from conftest import assert_one_line_error, missing, run
from PIL import Image, ImageDraw, ImageFont

from digitrec import load_model
from digitrec.errors import DigitrecError
from digitrec.reading.table import parse_columns
from digitrec.vision.decode import working_size
from digitrec.vision.grid import find_grid
from digitrec.vision.ink import ink_map, ink_mask

CW, CH, MARGIN = 150, 64, 40  # a cell's width and height, the page's margin
NAMES = ["Day", "Price", "Total", "Score"]


@pytest.fixture(scope="module")
def model():
    return load_model(threads=1)


def number_ink(mnist, indices: list[int]) -> Image.Image:
    """MNIST test digits side by side, dark on white, 44 pixels tall."""
    inks = [Image.fromarray(mnist.test_images[i]).resize((44, 44), Image.BICUBIC) for i in indices]
    out = Image.new("L", (38 * len(inks) + 6, 44), 0)
    for k, ink in enumerate(inks):
        out.paste(Image.fromarray(np.maximum(np.asarray(out.crop((38 * k, 0, 38 * k + 44, 44))),
                                             np.asarray(ink))), (38 * k, 0))
    return Image.fromarray(255 - np.asarray(out))


def table_page(mnist, rng: np.random.Generator, rows: int = 6, columns: int = 3,
               rules: bool = True, shade: int = 0, angle: float = 0.0, bend: float = 0.0,
               header: bool = False, merge: bool = False) -> tuple[Image.Image, list[list[str]]]:
    """A page of MNIST numbers in a grid, and the text of each cell (None: print)."""
    width, height = columns * CW + 2 * MARGIN, rows * CH + 2 * MARGIN
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    xs = [MARGIN + j * CW for j in range(columns + 1)]
    ys = [MARGIN + i * CH for i in range(rows + 1)]
    if rules:
        for y in ys:
            draw.line((xs[0], y, xs[-1], y), fill=shade, width=2)
        for j, x in enumerate(xs):
            # A merged first row: no rule between its first two cells.
            draw.line((x, ys[1] if merge and j == 1 else ys[0], x, ys[-1]), fill=shade, width=2)
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 24)
    except OSError:  # a system without DejaVu: Pillow's own
        font = ImageFont.load_default(size=24)
    truth: list[list[str | None]] = []
    for i in range(rows):
        truth.append([])
        for j in range(columns):
            if header and i == 0:
                truth[-1].append(None)
                if not (merge and j == 1):
                    draw.text((xs[j] + 20, ys[0] + 18), NAMES[j], fill=0, font=font)
                continue
            count = int(rng.integers(1, 4))
            indices = [int(k) for k in rng.choice(len(mnist.test_labels), count, replace=False)]
            ink = number_ink(mnist, indices)
            page.paste(ink, (xs[j] + (CW - ink.width) // 2, ys[i] + (CH - ink.height) // 2))
            truth[-1].append("".join(str(mnist.test_labels[k]) for k in indices))
    if angle:
        page = page.rotate(angle, Image.BICUBIC, expand=True, fillcolor=255)
    if bend:
        a = np.asarray(page)
        shift = (bend * ((np.arange(a.shape[1]) - a.shape[1] / 2) / (a.shape[1] / 2)) ** 2)
        out = np.full_like(a, 255)
        for x, s in enumerate(np.round(shift).astype(int)):
            out[max(0, s):, x] = a[: a.shape[0] - max(0, s), x]
        page = Image.fromarray(out)
    return page, truth


def grid_of(page: Image.Image):
    work, _, _ = working_size(page, 1600)
    coverage, _, _ = ink_map(work)
    return find_grid(coverage, ink_mask(coverage))


@pytest.mark.parametrize("look", [{}, {"angle": 3.0}, {"angle": -2.0, "shade": 170},
                                  {"bend": 12.0}, {"rules": False}])
def test_the_grid_is_found(mnist, look) -> None:
    page, _truth = table_page(mnist, np.random.default_rng(1), rows=7, columns=4, **look)
    grid = grid_of(page)
    assert grid is not None and grid.shape == (7, 4)
    assert grid.ruled == look.get("rules", True)
    assert all(c.rows == c.columns == 1 for c in grid.cells)


def test_a_merged_cell_is_one_cell(mnist) -> None:
    page, _ = table_page(mnist, np.random.default_rng(2), rows=5, columns=4, header=True,
                         merge=True)
    grid = grid_of(page)
    assert grid is not None and grid.shape == (5, 4)
    merged = [c for c in grid.cells if c.columns > 1]
    assert [(c.row, c.column, c.rows, c.columns) for c in merged] == [(0, 0, 1, 2)]
    assert len(grid.cells) == 5 * 4 - 1


def test_a_blank_page_has_no_table() -> None:
    coverage = np.zeros((300, 400), np.float32)
    assert find_grid(coverage, coverage > 0) is None


@pytest.mark.parametrize("look", [{}, {"angle": 2.5, "shade": 120}, {"rules": False}])
def test_cells_are_read(model, mnist, look) -> None:
    page, truth = table_page(mnist, np.random.default_rng(3), rows=8, columns=3, **look)
    table = model.table(page)
    assert table.shape == (8, 3)
    read = table.rows()
    right = sum(read[i][j] == truth[i][j] for i in range(8) for j in range(3))
    assert right >= 0.85 * 24, (read, truth)
    assert table.names == ["column 1", "column 2", "column 3"]


def test_print_and_empty_cells_are_not_numbers(model, mnist) -> None:
    page, _truth = table_page(mnist, np.random.default_rng(4), rows=5, columns=3, header=True)
    draw = ImageDraw.Draw(page)  # wipe one written cell
    draw.rectangle((MARGIN + CW + 6, MARGIN + 2 * CH + 6, MARGIN + 2 * CW - 6,
                    MARGIN + 3 * CH - 6), fill=255)
    table = model.table(page, header=True)
    status = {(c.row, c.column): c.status for c in table.cells}
    assert [status[(0, j)] for j in range(3)] == ["print"] * 3
    assert status[(2, 1)] == "empty" and table.rows()[2][1] == ""


def test_a_header_rows_names_are_read_from_its_print(model, mnist) -> None:
    if shutil.which("tesseract") is None:
        missing("tesseract not installed (apt-get install tesseract-ocr)")
    page, _ = table_page(mnist, np.random.default_rng(4), rows=5, columns=3, header=True)
    assert model.table(page, header=True).names == NAMES[:3]


def test_a_columns_pattern_constrains_its_cells(model, mnist) -> None:
    page, _truth = table_page(mnist, np.random.default_rng(5), rows=5, columns=2)
    columns = parse_columns(r"a=\d{3},b")
    table = model.table(page, columns)
    assert table.names == ["a", "b"]
    for cell in table.cells:
        if cell.column == 0 and cell.text:
            assert len(cell.text) == 3 or cell.status == "no_match"


def test_columns_are_parsed_with_commas_inside_patterns() -> None:
    cols = parse_columns(r"day=\d{1,2},month=\d{1,2},year=\d{4},note")
    assert [(c.name, c.pattern) for c in cols] == [("day", r"\d{1,2}"), ("month", r"\d{1,2}"),
                                                    ("year", r"\d{4}"), ("note", None)]
    with pytest.raises(DigitrecError, match="pattern"):
        parse_columns("a=(")


def test_the_cli_writes_csv_json_xlsx_and_a_review(mnist, tmp_path) -> None:
    page, truth = table_page(mnist, np.random.default_rng(6), rows=5, columns=3)
    path = tmp_path / "page.png"
    page.save(path)
    done = run("table", str(path), "--csv", "--columns", r"a=\d+,b,c", "--xlsx",
               str(tmp_path / "t.xlsx"), "--review", str(tmp_path / "review.csv"),
               "--unsure", "1.0", "--show", str(tmp_path / "shown.png"))
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["a", "b", "c"] and len(rows) == 6
    right = sum(rows[i + 1][j] == truth[i][j] for i in range(5) for j in range(3))
    assert right >= 12
    import openpyxl

    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx").worksheets[0]
    assert [c.value for c in sheet[1]] == ["a", "b", "c"]
    assert sheet.cell(2, 1).value == _number(rows[1][0])
    review = list(csv.DictReader((tmp_path / "review.csv").open()))
    assert len(review) == 15  # every cell is unsure under 100%
    assert Image.open(tmp_path / "shown.png").size[0] > 0
    shown = json.loads(run("table", str(path), "--json").stdout)
    assert shown[0]["rows"] == 5 and len(shown[0]["cells"]) == 15


def _number(text: str):
    return int(text) if text.isdigit() else text or None


def test_the_cli_refuses_bad_input_in_one_line(tmp_path) -> None:
    assert_one_line_error(run("table", str(tmp_path / "missing.png")), "missing.png",
                          "no such file")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert_one_line_error(run("table", str(bad)), "bad.png")
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 200), 255).save(blank)
    assert_one_line_error(run("table", str(blank)), "blank.png", "no table")
    assert_one_line_error(run("table", str(blank), "--xlsx", str(tmp_path / "x.csv")), ".xlsx")


def test_the_api_reads_a_table(mnist) -> None:
    from fastapi.testclient import TestClient

    from digitrec.serve.app import create_app

    page, truth = table_page(mnist, np.random.default_rng(7), rows=4, columns=3)
    buf = io.BytesIO()
    page.save(buf, "PNG")
    with TestClient(create_app()) as client:
        got = client.post("/api/table", content=buf.getvalue(),
                          params={"columns": r"a=\d+,b,c"})
        assert got.status_code == 200, got.text
        body = got.json()
        assert (body["rows"], body["columns"], body["names"]) == (4, 3, ["a", "b", "c"])
        assert sum(body["table"][i][j] == truth[i][j] for i in range(4) for j in range(3)) >= 9
        headed, _ = table_page(mnist, np.random.default_rng(4), rows=4, columns=3, header=True)
        buf2 = io.BytesIO()
        headed.save(buf2, "PNG")
        named = client.post("/api/table", content=buf2.getvalue(), params={"header": "true"})
        assert [c["status"] for c in named.json()["cells"] if c["row"] == 0] == ["print"] * 3
        bad = client.post("/api/table", content=b"nope")
        assert 400 <= bad.status_code < 500 and bad.json()["code"] == "not_an_image"
        assert client.post("/api/table", content=buf.getvalue(),
                           params={"columns": "a=("}).status_code in (400, 422)


def test_the_examples_register_reads_as_its_csv() -> None:
    """The README's example: a register photographed at a slant, read into the CSV it holds
    (the names read from its print by Tesseract where installed, else named by place)."""
    from pathlib import Path

    folder = Path(__file__).parents[1] / "examples" / "tables"
    done = run("table", str(folder / "register-photo.jpg"), "--header", "--csv")
    assert done.returncode == 0, done.stderr
    got = list(csv.reader(io.StringIO(done.stdout)))
    want = list(csv.reader((folder / "register.csv").open()))
    assert len(got) == len(want)
    right = sum(a == b for g, w in zip(got[1:], want[1:], strict=True)
                for a, b in zip(g, w, strict=True))
    assert right >= 0.9 * 12 * 4, got
