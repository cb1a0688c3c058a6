"""What `calc` classifies characters with: the digit model and a calculator's model (digits and
operators) in one scorer. The calculator's model says how likely each operator is, and how
likely "a digit"; the digit model, the most accurate the package has, shares that out among
the digits. Reading a sum thus reads its digits as well as `read` does, whatever the
calculator's model makes of them. numpy only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..contract import DIGITS
from ..errors import DigitrecError
from .lines import LineModel, load_line_model
from .model import Model, among_digits, load_digit_model

DEFAULT_CALCULATOR = Path(__file__).parents[1] / "pretrained" / "calc.onnx"
DIGIT_SHARE = 0.01  # below this chance of being a digit, the digit model is not asked


class Calculator:
    """Probabilities of each digit and operator for characters in MNIST's form. Build it with
    `load_calculator`."""

    def __init__(self, digits: Model, symbols: Model, lines: LineModel | None = None) -> None:
        if not symbols.classes.startswith(DIGITS) or len(symbols.classes) == len(DIGITS):
            raise DigitrecError(f"{symbols.path}: not a calculator's model (it reads "
                                f"{symbols.classes!r}, no operators)")
        self.digits, self.symbols, self.lines = digits, symbols, lines
        self.classes = symbols.classes
        self.novelty_threshold = symbols.novelty_threshold

    read_calibration = None  # a sum's confidence is the network's own

    def scores(self, images: np.ndarray, tempered: bool = True
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (N, classes) and distances from the characters learned (N,)."""
        probs, novelty = self.symbols.scores(images, tempered)
        share = probs[:, : len(DIGITS)].sum(1, keepdims=True)
        digits = among_digits(probs)
        # Where a digit is all but ruled out (an operator, surely), its share is too small
        # for the digit model's opinion to matter: the calculator's own split stands.
        asked = share[:, 0] >= DIGIT_SHARE
        if asked.any():
            digits[asked] = among_digits(self.digits.probabilities(images[asked], tempered))
        return np.concatenate([share * digits, probs[:, len(DIGITS) :]], 1), novelty

    def unusual(self, distance: float | None) -> bool:
        return self.symbols.unusual(distance)


def load_calculator(digits: Model, path: str | os.PathLike[str] | None = None,
                    threads: int | None = None,
                    reader: str | os.PathLike[str] | None = None) -> Calculator:
    """``digits`` with the calculator's model named, else the shipped one; and the reader of
    sums named, else the shipped one, if any."""
    named = path or DEFAULT_CALCULATOR
    return Calculator(digits, load_digit_model(named, threads),
                      load_line_model(reader, threads, sums=True))
