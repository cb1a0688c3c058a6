"""Tables: pages of handwritten numbers in grids, read by `digitrec table` and by the peers
(PP-OCRv5 and Tesseract 5 on the whole page, their words put in the cells they fall in).

    python bench/table.py                 # composed pages and the real corpus's table pages
    python bench/table.py --pages 10      # a quick look

Composed pages: real dev-split cells of bench/real (their labels known) pasted into rendered
grids: a printed header row, sometimes a printed first column and a header cell merged across
two columns; rules 1-4 px, black to light grey; slanted up to 3 degrees, bent by the page,
and half of them with a photo's look (uneven light, noise, blur, JPEG). Measured: the grid
found exactly (its rows and columns, each true cell at its place), the written cells read
exactly, the same cells read cut out one by one from the flat page, and the time per page.

Real pages: the table pages of bench/real whose cells the corpus labels (a box each, in the
page's pixels), per split: each labelled cell is the grid cell its box's middle falls in.

Writes bench/results/table.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _common import results_path, write_json
from peers import ppocr_words, tesseract_words
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).parent / "real"))
from build import mirror_of, parse_path, source_bytes

import digitrec

CORPUS = Path(__file__).parent / "real"
RESULTS = results_path("table.json")
FONT = "DejaVuSans.ttf"
NAMES = ["Day", "Qty", "Price", "Score", "Total", "No.", "Mark", "Year", "Count", "Lot"]
DIGITS = set("0123456789.,-")


def dev_cells() -> list[tuple[Image.Image, str]]:
    """The dev split's real cells (numbers cut from registers and sheets) and their labels."""
    out = []
    with (CORPUS / "labels.csv").open() as f:
        for row in csv.DictReader(f):
            if row["split"] == "dev" and row["kind"] == "cell" and row["set"] == "numbers":
                path = CORPUS / row["file"]
                if path.exists():
                    out.append((Image.open(path).convert("L"), row["label"]))
    if not out:
        raise SystemExit("no dev cells in bench/real/images: run python bench/real/build.py")
    return out


def _ink_only(img: Image.Image) -> Image.Image:
    """A real cell cut to its writing: the darkest part's box, less any rule at its edge."""
    a = np.asarray(img, np.float32)
    dark = a < min(200.0, float(np.median(a)) - 40)
    rows, cols = np.flatnonzero(dark.mean(1) > 0.02), np.flatnonzero(dark.mean(0) > 0.02)
    if len(rows) < 2 or len(cols) < 2:
        return img
    return img.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))


def compose(rng: random.Random, cells: list[tuple[Image.Image, str]],
            shape: tuple[int, int] | None = None) -> dict:
    """One page (of ``shape`` rows and columns of writing, else a random size): the flat
    page, the page as photographed or scanned, its truth (rows, columns, each cell's place,
    box on the flat page and text) and the map from flat to final pixels."""
    n_rows, n_cols = shape or (rng.randint(8, 30), rng.randint(3, 6))
    cw, ch = rng.randint(90, 140), rng.randint(42, 60)
    margin = 60
    width, height = n_cols * cw + 2 * margin, (n_rows + 1) * ch + 2 * margin
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, int(ch * 0.45))
    weight, shade = rng.randint(1, 4), rng.choice([0, 60, 120, 160])
    xs = [margin + k * cw for k in range(n_cols + 1)]
    ys = [margin + k * ch for k in range(n_rows + 2)]
    merged = rng.random() < 0.3 and n_cols >= 3
    printed_first = rng.random() < 0.4
    truth = []
    for i in range(n_rows + 2):
        draw.line((xs[0], ys[i], xs[-1], ys[i]), fill=shade, width=weight)
    for j in range(n_cols + 1):
        top = ys[1] if merged and j == 1 else ys[0]  # the header's first two cells are one
        draw.line((xs[j], top, xs[j], ys[-1]), fill=shade, width=weight)
    names = rng.sample(NAMES, n_cols)
    for j in range(n_cols):
        if merged and j == 1:
            continue
        span = 2 if merged and j == 0 else 1
        box = (xs[j], ys[0], xs[j + span], ys[1])
        draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), names[j], fill=0,
                  font=font, anchor="mm")
        truth.append({"row": 0, "column": j, "columns": span, "box": box, "text": None})
    for i in range(1, n_rows + 1):
        for j in range(n_cols):
            box = (xs[j], ys[i], xs[j + 1], ys[i + 1])
            if j == 0 and printed_first:
                draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), str(i), fill=0,
                          font=font, anchor="mm")
                truth.append({"row": i, "column": j, "columns": 1, "box": box, "text": None})
                continue
            text = ""
            if rng.random() < 0.85:
                img, text = rng.choice(cells)
                ink = _ink_only(img)
                scale = min((ch - 10) / ink.height, (cw - 14) / ink.width) * rng.uniform(0.7, 1)
                ink = ink.resize((max(1, round(ink.width * scale)),
                                  max(1, round(ink.height * scale))), Image.LANCZOS)
                x = box[0] + (cw - ink.width) // 2 + rng.randint(-4, 4)
                y = box[1] + (ch - ink.height) // 2 + rng.randint(-3, 3)
                region = page.crop((x, y, x + ink.width, y + ink.height))
                page.paste(Image.fromarray(np.minimum(np.asarray(region), np.asarray(ink))),
                           (x, y))
            truth.append({"row": i, "column": j, "columns": 1, "box": box, "text": text})
    angle = rng.uniform(-3, 3)
    bend = rng.uniform(-0.02, 0.02) * height
    photo = rng.random() < 0.5
    final, where = _distort(page, angle, bend, photo, rng)
    return {"flat": page, "page": final, "shape": (n_rows + 1, n_cols), "cells": truth,
            "where": where}


def _distort(page: Image.Image, angle: float, bend: float, photo: bool,
             rng: random.Random) -> tuple[Image.Image, object]:
    """The page rotated by ``angle`` degrees about its middle and bent (rows sag by up to
    ``bend`` pixels at the sides), optionally photographed; and the map of flat points to
    final ones."""
    w, h = page.size
    cx, cy = w / 2, h / 2
    t = np.radians(angle)

    def forward(x: float, y: float) -> tuple[float, float]:
        rx = cx + (x - cx) * np.cos(t) - (y - cy) * np.sin(t)
        ry = cy + (x - cx) * np.sin(t) + (y - cy) * np.cos(t)
        return rx, ry + bend * ((rx - cx) / cx) ** 2

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sy = yy - bend * ((xx - cx) / cx) ** 2  # undo the bend, then the rotation
    fx = cx + (xx - cx) * np.cos(t) + (sy - cy) * np.sin(t)
    fy = cy - (xx - cx) * np.sin(t) + (sy - cy) * np.cos(t)
    a = np.asarray(page, np.float32)
    inside = (fx >= 0) & (fx <= w - 1) & (fy >= 0) & (fy <= h - 1)
    x0, y0 = np.clip(fx.astype(int), 0, w - 2), np.clip(fy.astype(int), 0, h - 2)
    dx, dy = np.clip(fx - x0, 0, 1), np.clip(fy - y0, 0, 1)
    out = (a[y0, x0] * (1 - dx) * (1 - dy) + a[y0, x0 + 1] * dx * (1 - dy)
           + a[y0 + 1, x0] * (1 - dx) * dy + a[y0 + 1, x0 + 1] * dx * dy)
    out = np.where(inside, out, 255.0)
    if photo:
        light = 0.75 + 0.25 * (xx / w) * rng.choice([1, -1]) + 0.1 * (yy / h)
        out = out * np.clip(light, 0.5, 1.1) + rng.uniform(3, 8) * np.random.default_rng(
            rng.randint(0, 2**31)).standard_normal(out.shape)
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    if photo:
        img = img.filter(ImageFilter.GaussianBlur(0.7))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=70)
        img = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    return img, forward


def _cell_at(table: digitrec.reading.table.Table, x: float, y: float):
    """The read cell whose box holds (x, y), smallest first (None outside every cell)."""
    holding = [c for c in table.cells
               if c.box[0] <= x <= c.box[2] and c.box[1] <= y <= c.box[3]]
    return min(holding, key=lambda c: (c.box[2] - c.box[0]) * (c.box[3] - c.box[1]),
               default=None)


def in_box(words: list[tuple[float, float, str]], box) -> str:
    """The words whose middle lies in ``box``, left to right, digits and marks only."""
    inside = sorted((x, t) for x, y, t in words
                    if box[0] <= x <= box[2] and box[1] <= y <= box[3])
    return "".join(ch for _, t in inside for ch in t if ch in DIGITS)


def composed(reader, pages: int, seed: int, peers: dict) -> dict:
    cells = dev_cells()
    rng = random.Random(seed)
    grids, right, alone, written, seconds = 0, 0, 0, 0, []
    peer_right = dict.fromkeys(peers, 0)
    for _ in range(pages):
        page = compose(rng, cells)
        start = time.perf_counter()
        table = reader.table(page["page"])
        seconds.append(time.perf_counter() - start)
        placed = []
        exact = table.shape == page["shape"]
        for cell in page["cells"]:
            box = cell["box"]
            middle = page["where"]((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            found = _cell_at(table, *middle)
            exact &= found is not None and (found.row, found.column) == (cell["row"],
                                                                         cell["column"])
            placed.append((cell, found))
        grids += exact
        words = {name: read(page["page"]) for name, read in peers.items()}
        for cell, found in placed:
            if not cell["text"]:
                continue
            written += 1
            right += found is not None and found.text.replace(" ", "") == cell["text"]
            flat = page["flat"].crop(cell["box"])
            alone += reader.read(flat).text.replace("\n", "") == cell["text"]
            corners = [page["where"](x, y) for x in (cell["box"][0], cell["box"][2])
                       for y in (cell["box"][1], cell["box"][3])]
            box = (min(p[0] for p in corners), min(p[1] for p in corners),
                   max(p[0] for p in corners), max(p[1] for p in corners))
            for name in peers:
                peer_right[name] += in_box(words[name], box) == cell["text"]
    return {"pages": pages, "grid exact": grids / pages, "cells": written,
            "cells exact": right / max(1, written), "cut out one by one": alone / max(1, written),
            "median s per page": statistics.median(seconds),
            "peers": {name: n / max(1, written) for name, n in peer_right.items()}}


def speed(reader, seed: int) -> float:
    """Seconds to read a page of 30 rows by 5 columns (a printed header above them), one
    thread, the models loaded: the median of three."""
    page = compose(random.Random(seed), dev_cells(), (30, 5))["page"]
    reader.table(page)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        reader.table(page)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


FORM = (1000, 700)  # a form's reference, in pixels
FIELDS = {"account": (120, 120, 560, 190), "amount": (120, 300, 460, 370),
          "day": (640, 300, 800, 370), "code": (120, 480, 420, 550)}


def form_reference() -> Image.Image:
    w, h = FORM
    page = Image.new("L", FORM, 255)
    draw = ImageDraw.Draw(page)
    draw.rectangle((50, 50, w - 50, h - 50), outline=0, width=3)
    font = ImageFont.truetype(FONT, 22)
    for name, box in FIELDS.items():
        draw.rectangle(box, outline=0, width=2)
        draw.text((box[0], box[1] - 30), name.title(), fill=0, font=font)
    return page


def forms(reader, scans: int, seed: int) -> dict:
    """Composed scans of one form (real dev cells written in its fields), turned up to 5
    degrees, rescaled 0.6-1.4 times, shifted and photographed at an angle (each corner moved
    up to 3% of the side); registered by the frame its rules draw. Measured: the largest
    distance between where a field's corner was mapped and where it is, in scan pixels; the
    fields read exactly (on the first 20 scans)."""
    from digitrec.reading.form import Field, Template, make_template
    from digitrec.reading.table import page_ink
    from digitrec.vision.grid import frame
    from digitrec.vision.register import homography, mapped

    rng = random.Random(seed)
    cells = dev_cells()
    blank = form_reference()
    proposed = make_template(blank)
    template = Template([Field(n, b) for n, b in FIELDS.items()], proposed.size, proposed.frame)
    w, h = FORM
    errors, right, read = [], 0, 0
    for k in range(scans):
        page = blank.copy()
        truth = {}
        for name, box in FIELDS.items():
            img, text = rng.choice(cells)
            ink = _ink_only(img)
            scale = min((box[3] - box[1] - 16) / ink.height, (box[2] - box[0] - 20) / ink.width)
            ink = ink.resize((max(1, round(ink.width * scale)), max(1, round(ink.height * scale))),
                             Image.LANCZOS)
            x, y = box[0] + 10, box[1] + (box[3] - box[1] - ink.height) // 2
            region = page.crop((x, y, x + ink.width, y + ink.height))
            page.paste(Image.fromarray(np.minimum(np.asarray(region), np.asarray(ink))), (x, y))
            truth[name] = text
        angle, zoom = np.radians(rng.uniform(-5, 5)), rng.uniform(0.6, 1.4)
        flat = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
        corners = flat - np.array([w / 2, h / 2])
        turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        moved = corners @ turn.T * zoom + [w * zoom / 2 + 60, h * zoom / 2 + 60]
        moved += [[rng.uniform(-0.03, 0.03) * w * zoom, rng.uniform(-0.03, 0.03) * h * zoom]
                  for _ in range(4)]
        true = homography(flat, moved)
        inverse = np.linalg.inv(true)
        inverse /= inverse[2, 2]
        size = (int(moved[:, 0].max()) + 60, int(moved[:, 1].max()) + 60)
        scan = page.transform(size, Image.PERSPECTIVE, tuple(inverse.ravel()[:8]),
                              Image.BICUBIC, fillcolor=255)
        _, scale, coverage = page_ink(scan)
        found = frame(coverage)
        if found is None:
            errors.append(float("inf"))
            continue
        estimated = homography(template.frame, found / scale)
        points = np.array([[x, y] for b in FIELDS.values() for x in (b[0], b[2])
                           for y in (b[1], b[3])], float)
        errors.append(float(np.abs(mapped(estimated, points) - mapped(true, points)).max()))
        if k < 20:
            result = reader.form(template, scan)
            read += len(FIELDS)
            right += sum(f.text == truth[f.name] for f in result.fields)
    return {"scans": scans, "within 2 px": sum(e <= 2 for e in errors) / scans,
            "median error px": statistics.median(errors), "worst error px": max(errors),
            "fields read": read, "fields exact": right / max(1, read)}


def real_pages(reader, mirrors: Path, peers: dict) -> dict:
    """The corpus's table pages: each labelled cell read from the page's table."""
    pages: dict[tuple, list[dict]] = {}
    with (CORPUS / "labels.csv").open() as f:
        for row in csv.DictReader(f):
            name, _page, box = parse_path(row["path"])
            if row["kind"] == "cell" and box is not None:
                pages.setdefault((row["source"], row["commit"], name, row["split"]),
                                 []).append({**row, "box": box})
    out: dict[str, dict] = {}
    for (source, commit, name, split), rows in sorted(pages.items()):
        data = source_bytes(mirror_of(mirrors, source), commit, name)
        img = Image.open(io.BytesIO(data))
        table = reader.table(img)
        words = {p: read(img) for p, read in peers.items()}
        tally = out.setdefault(split, {"pages": 0, "cells": 0, "digitrec": 0,
                                       **dict.fromkeys(peers, 0)})
        tally["pages"] += 1
        for row in rows:
            box = row["box"]
            found = _cell_at(table, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            tally["cells"] += 1
            tally["digitrec"] += found is not None and found.text.replace(" ", "") == row["label"]
            where = found.box if found is not None else box
            for p in peers:
                tally[p] += in_box(words[p], where) == row["label"]
        print(f"{split} {source} {name}: table {table.shape}", file=sys.stderr)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=40, help="composed pages (default 40)")
    parser.add_argument("--scans", type=int, default=200, help="composed form scans")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"),
                        help="bare clones of the corpus's sources (OWNER+NAME), for its pages")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    reader = digitrec.load_model(threads=1)
    peers = {} if args.no_peers else {
        name: made for name, made in (("PP-OCRv5", ppocr_words()),
                                      ("Tesseract 5", tesseract_words())) if made}
    report = {"composed": composed(reader, args.pages, args.seed, peers),
              "30 x 5 page s": speed(reader, args.seed),
              "forms": forms(reader, args.scans, args.seed)}
    if args.mirrors.exists():
        report["real"] = real_pages(reader, args.mirrors, peers)
    c = report["composed"]
    print(f"composed pages: {c['pages']}, grid exact {c['grid exact']:.1%}, written cells "
          f"{c['cells']}: digitrec table {c['cells exact']:.1%} (cut out one by one "
          f"{c['cut out one by one']:.1%}), "
          + ", ".join(f"{p} {v:.1%}" for p, v in c["peers"].items())
          + f"; {c['median s per page']:.2f} s per page (median, one thread)")
    f = report["forms"]
    print(f"a 30 x 5 page: {report['30 x 5 page s']:.2f} s (one thread); forms: {f['scans']} "
          f"scans, registered within 2 px {f['within 2 px']:.1%} (median {f['median error px']:.2f}"
          f" px, worst {f['worst error px']:.2f}), fields exact {f['fields exact']:.1%} of "
          f"{f['fields read']}")
    print("| real pages | split | labelled cells | digitrec | "
          + " | ".join(peers) + " |")
    for split, t in report.get("real", {}).items():
        print(f"| {t['pages']} | {split} | {t['cells']} | {t['digitrec'] / t['cells']:.1%} | "
              + " | ".join(f"{t[p] / t['cells']:.1%}" for p in peers) + " |")
    write_json(RESULTS, report)
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
