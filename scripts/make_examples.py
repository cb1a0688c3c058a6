"""Regenerate the example images in examples/ from MNIST *test* digits.

    python scripts/make_examples.py        # needs MNIST (see the README)

examples/digits/ holds one digit per image, rendered by `digitrec.synthetic`, each chosen to
show one situation the preprocessing handles; examples/numbers/ holds whole numbers for
`digitrec read`, examples/sums/ sums for `digitrec calc` (their operators from
`digitrec.operators`; × is an x in the file names). The true label or text is the last part of
each file name. examples/tables/ holds a register photographed at a slant, for `digitrec
table`, and beside it the CSV it holds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from digitrec.data import load_mnist
from digitrec.glyphs import crossed_seven, european_one
from digitrec.synthetic import number_layer, render, render_number

HERE = Path(__file__).parents[1] / "examples"
# name: (index of an MNIST test digit, style, words the rendering's details must contain)
EXAMPLES = {
    "photo-shadow": (0, "photo", ("shadow", "normal")),
    "scan-ruled": (1, "scan", ("ruled",)),
    "chalk-board": (4, "board", ("normal",)),
    "canvas": (11, "canvas", ("normal",)),
    "photo-small": (18, "photo", ("small",)),
    "european-one": (2, "photo", ("normal",)),
    "crossed-seven": (17, "scan", ("normal",)),
}
# name: (text, style, spacing, words the rendering's details must contain); the digits are the
# first MNIST test digits of each label, in the order the text needs them
NUMBERS = {
    "photo": ("2026", "photo", "gap", ("shadow",)),
    "form-zip": ("90210", "form", "gap", ("normal",)),
    "canvas-price": ("-12.50", "canvas", "gap", ("normal",)),
    "scan-ruled-amount": ("1375,80", "scan", "gap", ("ruled",)),
}


# name: (sum, style, words the rendering's details must contain)
SUMS = {
    "photo": ("251-32×(5+2)=", "photo", ("normal",)),
    "canvas": ("12×7=", "canvas", ("normal",)),
    "scan-checked": ("3+4=7", "scan", ("normal",)),
}


def write(path: Path, data: bytes, details: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"{path.relative_to(HERE)}: {details}")


def main() -> None:
    mnist = load_mnist(progress=False)
    for name, (index, style, wanted) in EXAMPLES.items():
        digit, label = mnist.test_images[index : index + 1], int(mnist.test_labels[index])
        rng = np.random.default_rng(index)
        if name == "european-one":
            digit = european_one(digit, rng)
        elif name == "crossed-seven":
            digit = crossed_seven(digit, rng)
        for seed in range(1000):  # the first rendering that shows what the example is for
            rendered = render(digit[0], np.random.default_rng(seed), style)
            if all(word in rendered.details for word in wanted):
                break
        write(HERE / "digits" / f"{name}-{label}{rendered.suffix}", rendered.data,
              rendered.details)
    used: dict[int, int] = {}  # label -> how many of its digits the numbers took
    lines = [("numbers", name, text, style, spacing, wanted)
             for name, (text, style, spacing, wanted) in NUMBERS.items()]
    lines += [("sums", name, text, style, "gap", wanted)
              for name, (text, style, wanted) in SUMS.items()]
    for folder, name, text, style, spacing, wanted in lines:
        digits = []
        for ch in filter(str.isdigit, text):
            k = used[int(ch)] = used.get(int(ch), 0) + 1
            digits.append(mnist.test_images[np.flatnonzero(mnist.test_labels == int(ch))[k]])
        for seed in range(1000):
            rendered = render_number(text, digits, np.random.default_rng(seed), style, spacing)
            if all(word in rendered.details for word in wanted):
                break
        shown = text.replace("×", "x")
        write(HERE / folder / f"{name}-{shown}{rendered.suffix}", rendered.data,
              rendered.details)
    register(mnist, used)


# The register: its printed header, and each row's numbers (day, item, quantity, price).
HEADER = ["Day", "Item", "Qty", "Price"]
ROWS = 12


def register(mnist, used: dict[int, int]) -> None:
    """A page of a stock register: printed header and rules, MNIST test digits written in
    its cells (after those the numbers took), photographed turned by 1.5 degrees under uneven
    light; and the table it holds, as register.csv."""
    rng = np.random.default_rng(7)
    cw, ch, margin = 170, 62, 50
    w, h = len(HEADER) * cw + 2 * margin, (ROWS + 1) * ch + 2 * margin
    printed = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(printed)
    for i in range(ROWS + 2):
        draw.line((margin, margin + i * ch, w - margin, margin + i * ch), fill=150, width=2)
    for j in range(len(HEADER) + 1):
        draw.line((margin + j * cw, margin, margin + j * cw, h - margin), fill=150, width=2)
    font = ImageFont.truetype("DejaVuSans-Bold.ttf", 26)
    for j, name in enumerate(HEADER):
        draw.text((margin + j * cw + cw / 2, margin + ch / 2), name, fill=255, font=font,
                  anchor="mm")
    ink = np.zeros((h, w), np.float32)
    table = [HEADER]
    for i in range(1, ROWS + 1):
        row = [str(i), str(int(rng.integers(100, 999))), str(int(rng.integers(1, 40))),
               f"{int(rng.integers(1, 99))}.{int(rng.integers(0, 99)):02d}"]
        table.append(row)
        for j, text in enumerate(row):
            digits = []
            for c in filter(str.isdigit, text):
                k = used[int(c)] = used.get(int(c), 0) + 1
                digits.append(mnist.test_images[np.flatnonzero(mnist.test_labels == int(c))[k]])
            strip = number_layer(text, digits, int(ch * 0.62), rng, "gap", "normal")
            if strip.shape[1] > cw - 20:  # a long number is written smaller
                strip = np.asarray(Image.fromarray(strip).resize(
                    (cw - 20, max(1, round(strip.shape[0] * (cw - 20) / strip.shape[1])))))
            y = margin + i * ch + (ch - strip.shape[0]) // 2
            x = margin + j * cw + (cw - strip.shape[1]) // 2 + int(rng.integers(-8, 9))
            region = ink[y : y + strip.shape[0], x : x + strip.shape[1]]
            np.maximum(region, strip[: region.shape[0], : region.shape[1]], out=region)
    paper = np.minimum(np.asarray(printed, np.float32) / 255 * 0.9, 1) + ink * 0.85
    gray = Image.fromarray((255 * (1 - np.clip(paper, 0, 1))).astype(np.uint8))
    gray = gray.rotate(1.5, Image.BICUBIC, expand=True, fillcolor=255)
    a = np.asarray(gray, np.float32)
    yy, xx = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
    light = 0.8 + 0.2 * xx / a.shape[1] - 0.08 * yy / a.shape[0]  # a lamp to the right
    a = a * light + rng.normal(0, 4, a.shape)
    photo = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(0.6))
    out = HERE / "tables"
    out.mkdir(parents=True, exist_ok=True)
    photo.save(out / "register-photo.jpg", quality=80)
    with (out / "register.csv").open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(table)
    print(f"tables/register-photo.jpg: {ROWS} rows x {len(HEADER)} columns, header printed")


if __name__ == "__main__":
    main()
