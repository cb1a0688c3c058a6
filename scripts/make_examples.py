"""Regenerate the example images in examples/ from MNIST *test* digits.

    python scripts/make_examples.py        # needs MNIST (see the README)

examples/digits/ holds one digit per image, rendered by `digitrec.synthetic`, each chosen to
show one situation the preprocessing handles; examples/numbers/ holds whole numbers for
`digitrec read`, examples/sums/ sums for `digitrec calc` (their operators from
`digitrec.operators`; × is an x in the file names). The true label or text is the last part of
each file name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitrec.data import load_mnist
from digitrec.glyphs import crossed_seven, european_one
from digitrec.synthetic import render, render_number

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


if __name__ == "__main__":
    main()
