"""Forms: a template's fields found on scans turned, rescaled and photographed at an angle
(registered by the frame the form's rules draw) and read under their constraints; templates
proposed from a reference; the CLI's rows, CSV output and resume; bad templates refused."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import assert_one_line_error, run
from PIL import Image, ImageDraw
from test_table import number_ink

from digitrec import load_model
from digitrec.reading.form import Field, Template, load_template, luhn, make_template
from digitrec.reading.table import page_ink
from digitrec.vision.grid import frame
from digitrec.vision.register import homography, mapped

W, H = 900, 600
BOXES = {"account": (100, 100, 500, 170), "amount": (100, 250, 400, 320),
         "day": (600, 250, 760, 320)}


@pytest.fixture(scope="module")
def model():
    return load_model(threads=1)


def reference() -> Image.Image:
    page = Image.new("L", (W, H), 255)
    draw = ImageDraw.Draw(page)
    draw.rectangle((40, 40, W - 40, H - 40), outline=0, width=3)
    for box in BOXES.values():
        draw.rectangle(box, outline=0, width=2)
    draw.text((100, 80), "Account", fill=0)
    return page


def filled(mnist, rng: np.random.Generator) -> tuple[Image.Image, dict[str, str]]:
    page, truth = reference(), {}
    for name, box in BOXES.items():
        indices = [int(k) for k in rng.choice(len(mnist.test_labels), 2 if name == "day" else 4,
                                              replace=False)]
        page.paste(number_ink(mnist, indices), (box[0] + 20, box[1] + 12))
        truth[name] = "".join(str(mnist.test_labels[k]) for k in indices)
    return page, truth


def scanned(page: Image.Image, corners: list[tuple[float, float]], size: tuple[int, int]
            ) -> tuple[Image.Image, np.ndarray]:
    """The page as scanned or photographed: its corners taken to ``corners``; and that map."""
    h = homography(np.array([[0, 0], [W, 0], [W, H], [0, H]], float), np.array(corners, float))
    inverse = np.linalg.inv(h)
    inverse /= inverse[2, 2]
    return page.transform(size, Image.PERSPECTIVE, tuple(inverse.ravel()[:8]), Image.BICUBIC,
                          fillcolor=255), h


def template() -> Template:
    proposed = make_template(reference())
    return Template([Field(name, box) for name, box in BOXES.items()], proposed.size,
                    proposed.frame)


def test_a_template_is_proposed_from_the_reference() -> None:
    proposed = make_template(reference())
    assert proposed.size == (W, H) and proposed.frame is not None
    assert np.abs(proposed.frame - [[41.5, 41.5], [W - 41.5, 41.5], [W - 41.5, H - 41.5],
                                    [41.5, H - 41.5]]).max() < 2
    found = sorted(f.box for f in proposed.fields)
    assert len(found) == 3
    for box, true in zip(found, sorted(BOXES.values()), strict=True):
        assert max(abs(a - b) for a, b in zip(box, true, strict=True)) <= 3


@pytest.mark.parametrize("corners,size", [
    ([(0, 0), (W, 0), (W, H), (0, H)], (W, H)),  # as drawn
    ([(60, 20), (W - 10, 70), (W - 70, H + 40), (10, H - 10)], (W, H + 60)),  # turned 3 degrees
    ([(30, 30), (30 + 0.7 * W, 30), (30 + 0.7 * W, 30 + 0.7 * H), (30, 30 + 0.7 * H)],
     (700, 500)),  # rescaled
    ([(30, 50), (800, 20), (830, 560), (10, 600)], (860, 640)),  # photographed at an angle
])
def test_scans_are_registered_within_two_pixels(corners, size) -> None:
    t = template()
    scan, truth = scanned(reference(), corners, size)
    _, scale, coverage = page_ink(scan)
    found = frame(coverage) / scale
    assert np.abs(found - mapped(truth, t.frame)).max() < 2


def test_fields_are_read_on_a_turned_scan(model, mnist) -> None:
    page, truth = filled(mnist, np.random.default_rng(0))
    scan, _ = scanned(page, [(30, 50), (800, 20), (830, 560), (10, 600)], (860, 640))
    result = model.form(template(), scan)
    assert result.registered == "frame"
    read = {f.name: f.text for f in result.fields}
    assert sum(read[n] == truth[n] for n in BOXES) >= 2, (read, truth)


def test_a_check_digit_is_checked() -> None:
    assert luhn("79927398713") and not luhn("79927398710")


def test_the_cli_writes_a_row_per_scan_and_resumes(mnist, tmp_path) -> None:
    t = template()
    path = tmp_path / "form.json"
    path.write_text(json.dumps({**t.to_dict(), "fields": [
        {"name": n, "box": list(b), **({"digits": "4"} if n == "account" else {})}
        for n, b in BOXES.items()]}))
    truths = []
    for k in range(3):
        page, truth = filled(mnist, np.random.default_rng(10 + k))
        scan, _ = scanned(page, [(20 + k * 10, 30), (W - 20, 20), (W - 30, H), (10, H - 5)],
                          (W, H + 20))
        scan.save(tmp_path / f"scan{k}.png")
        truths.append(truth)
    out = tmp_path / "forms.csv"
    scans = [str(tmp_path / f"scan{k}.png") for k in range(2)]
    done = run("form", str(path), *scans, "--output", str(out))
    assert done.returncode == 0, done.stderr
    again = run("form", str(path), *scans, str(tmp_path / "scan2.png"), "--output", str(out),
                "--resume")
    assert again.returncode == 0, again.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["file"] for r in rows] == [*scans, str(tmp_path / "scan2.png")]
    assert all(r["registered"] == "frame" and len(r["account"]) == 4 for r in rows)
    right = sum(r[n] == truth[n] for r, truth in zip(rows, truths, strict=True) for n in BOXES)
    assert right >= 6
    shown = json.loads(run("form", str(path), scans[0], "--json").stdout)
    assert set(shown[0]["fields"]) == set(BOXES)
    made = run("form", "--make-template", str(tmp_path / "scan0.png"))
    assert made.returncode == 0 and len(json.loads(made.stdout)["fields"]) == 3


@pytest.mark.parametrize("text,fragment", [
    ("not json", "not a template"),
    ('{"fields": []}', "size"),
    ('{"size": [10, 10], "fields": [{"name": "a", "box": [5, 5, 1, 1]}]}', "box"),
    ('{"size": [10, 10], "fields": [{"name": "a", "box": [0, 0, 5, 5], "check": "md5"}]}',
     "unknown check"),
    ('{"size": [10, 10], "fields": [{"name": "a", "box": [0, 0, 5, 5], "pattern": "("}]}',
     "pattern"),
])
def test_a_bad_template_is_refused_in_one_line(tmp_path, text, fragment) -> None:
    path = tmp_path / "t.json"
    path.write_text(text)
    assert_one_line_error(run("form", str(path), str(path)), "t.json", fragment)
    with pytest.raises(Exception, match=fragment):
        load_template(path)


def test_a_yaml_template_is_the_same_as_its_json(tmp_path) -> None:
    import yaml

    t = template()
    data = {**t.to_dict(), "fields": [{"name": "account", "box": list(BOXES["account"]),
                                       "digits": "4-6", "check": "luhn"}]}
    (tmp_path / "t.json").write_text(json.dumps(data))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(data))
    a, b = load_template(tmp_path / "t.json"), load_template(tmp_path / "t.yaml")
    assert a.fields == b.fields == [Field("account", BOXES["account"], (4, 6), None, "luhn")]
    assert np.allclose(a.frame, b.frame)
