"""`Reader`: the one object every reading goes through. It owns each model a reading needs, all
loaded up front from explicit paths (the digit model, the sequence reader, the calculator's
classifier and its reader of sums, the handwriting locator), and offers `predict`, `read` and
`calc`. The CLI, the server, the batch jobs and the Python API (`digitrec.load_model`) all
build one."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..contract import ModelCard
from ..inference import Model, Prediction, load_digit_model
from ..inference.calculator import Calculator, load_calculator
from ..inference.lines import LineModel, load_line_model
from ..inference.locator import Locator, load_locator
from ..settings import Settings
from ..vision import ImageSource, Ink
from .calc import Calculation, calc
from .form import FormResult, Template, read_form
from .lines import focused_ink, read
from .result import Reading
from .table import UNSURE, Column, Table, read_table

Source = str | os.PathLike[str] | None


class Reader:
    """Reads handwriting: a digit (`predict`), every number in an image (`read`), every sum
    (`calc`). ``lines`` is the sequence reader `read` combines with segmentation (None: by
    segmentation alone); ``calculator`` is what `calc` reads with; ``locator`` finds the
    handwriting `read` and `calc` read (None: thresholds and rules alone)."""

    def __init__(self, digits: Model, lines: LineModel | None, calculator: Calculator,
                 locator: Locator | None = None) -> None:
        self.digits, self.lines, self.calculator = digits, lines, calculator
        self.locator = locator

    @property
    def path(self) -> Path:
        """The digit model's file."""
        return self.digits.path

    @property
    def card(self) -> ModelCard:
        """What the digit model's file says about itself."""
        return self.digits.card

    def info(self) -> dict[str, Any]:
        """The digit model's card, decoded: numbers as numbers, structures as dicts and lists."""
        return self.digits.info()

    @property
    def files(self) -> dict[str, Path]:
        """Each model's file, by its role."""
        files = {"digits": self.digits.path, "reader": self.lines and self.lines.path,
                 "calculator": self.calculator.symbols.path,
                 "sum reader": self.calculator.lines and self.calculator.lines.path,
                 "locator": self.locator and self.locator.path}
        return {role: path for role, path in files.items() if path is not None}

    def segmentation_only(self) -> Reader:
        """The same models without the sequence readers: numbers and sums read by
        segmentation alone (what they add is measured against this)."""
        calculator = Calculator(self.calculator.digits, self.calculator.symbols, None)
        return Reader(self.digits, None, calculator, self.locator)

    def without_locator(self) -> Reader:
        """The same models finding ink by thresholds and rules alone, as before the locator
        (what it adds is measured against this)."""
        return Reader(self.digits, self.lines, self.calculator)

    def predict(self, image: ImageSource) -> Prediction:
        """Read the digit in one image: a path, encoded bytes, a PIL image or a numpy array.

        The image goes through `digitrec.preprocess` first, so a photo of paper, a scan or a
        canvas drawing is fine, as is an MNIST-style array; the locator (where there is one)
        keeps a cell's border or a form's print out of the digit.
        """
        return self.digits.predict(image, self.locator)

    def predict_batch(self, images: Iterable[ImageSource]) -> list[Prediction]:
        """`predict` for many images, with one model call for all of them."""
        return self.digits.predict_batch(images, locator=self.locator)

    def read(self, image: ImageSource, digits: int | tuple[int, int] | None = None,
             pattern: str | None = None) -> Reading:
        """Read every number in an image, one line of text per line of writing.

        ``digits`` (a count, or a (low, high) range) and ``pattern`` (a regular expression the
        whole line must match) constrain the answer when the field is known: the reading is the
        best one that fits them.
        """
        span = (digits, digits) if isinstance(digits, int) else digits
        return read(self.digits, image, span, pattern, self.lines,
                    calibration=self.digits.read_calibration, locator=self.locator)

    def read_batch(self, images: Iterable[ImageSource],
                   digits: int | tuple[int, int] | None = None,
                   pattern: str | None = None) -> list[Reading]:
        """`read` for many images."""
        return [self.read(image, digits, pattern) for image in images]

    def ink(self, image: ImageSource) -> Ink:
        """The ink `read` and `calc` read in an image: what was taken for handwriting (by the
        locator, where there is one), in a crop around it."""
        return focused_ink(image, self.locator)

    def table(self, image: ImageSource, columns: list[Column] | None = None,
              unsure: float = UNSURE, header: bool = False) -> Table:
        """Read the table on a page: its grid (ruled, or aligned columns of writing), and
        every cell read as `read` reads a number, each column's cells under its pattern
        where ``columns`` gives one. Cells under ``unsure`` confidence are marked for a
        person to check (``table.review``). With ``header``, the first row holds the
        columns' printed names (read by Tesseract where it is installed)."""
        return read_table(image, lambda cell, pattern: self.read(cell, pattern=pattern),
                          columns, unsure, self.locator is not None, header)

    def form(self, template: Template, image: ImageSource, unsure: float = UNSURE
             ) -> FormResult:
        """Read every field of a form ``template`` (`digitrec.reading.form.load_template`) on
        one scan, registered to the template's reference by the frame its rules draw."""
        return read_form(template, image,
                         lambda field, digits, pattern: self.read(field, digits, pattern), unsure)

    def calc(self, image: ImageSource) -> Calculation:
        """Read every handwritten sum in an image (digits, + - × ÷ = ( ) and decimal points,
        × also as x or a raised dot, ÷ also as / or :) and work each out exactly.

        ``calc(image).text`` is e.g. ``12×7 = 84``; each sum's ``worked.value`` is a Fraction.
        """
        return calc(self.calculator, image, self.locator)


def load_model(model: Source = None, *, reader: Source = None, sum_reader: Source = None,
               calculator: Source = None, locator: Source = None, threads: int | None = None,
               settings: Settings | None = None) -> Reader:
    """A `Reader` with every model loaded now (a missing or broken file is refused here, in
    one line). Each model is the path given, else the one ``settings`` name (by default the
    environment's: $DIGITREC_MODEL, $DIGITREC_READER, $DIGITREC_CALC_MODEL,
    $DIGITREC_CALC_READER, $DIGITREC_LOCATOR), else the one shipped with digitrec."""
    settings = Settings.from_environment() if settings is None else settings
    digits = load_digit_model(model or settings.model, threads)
    return Reader(digits, load_line_model(reader or settings.reader, threads),
                  load_calculator(digits, calculator or settings.calculator, threads,
                                  sum_reader or settings.sum_reader),
                  load_locator(locator or settings.locator, threads))
