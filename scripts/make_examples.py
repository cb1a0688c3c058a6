"""Regenerate the example images in examples/ from MNIST *test* digits.

    python scripts/make_examples.py        # needs MNIST (see the README)

Each example is one digit rendered by `digitrec.synthetic`, chosen to show one situation the
preprocessing handles; the digit's true label is the last part of the file name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitrec.data import load_mnist
from digitrec.synthetic import render
from digitrec.training.glyphs import crossed_seven, european_one

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
        path = HERE / f"{name}-{label}{rendered.suffix}"
        path.write_bytes(rendered.data)
        print(f"{path.name}: {rendered.details}")


if __name__ == "__main__":
    main()
