"""Reading many images: what to do with each one (a `Job`), and each image's result as the JSON
row `--json` prints. The command line's worker processes and the Dask integration
(`digitrec.cluster`) both hand a Job to their workers, so every way of reading an archive gives
the same row for the same file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import DigitrecError
from .settings import Settings

if TYPE_CHECKING:
    from .inference import Prediction
    from .reading import Reader
    from .reading.calc import Calculation
    from .reading.form import FormResult, Template
    from .reading.result import Reading
    from .vision.decode import ImageSource

TASKS = ("predict", "read", "calc", "form")
Row = dict[str, Any]


@dataclass(frozen=True)
class Job:
    """``task`` each image with ``model`` (a path; None for $DIGITREC_MODEL in the process that
    loads it, else the shipped model): "predict" its digit, "read" its number, "calc" its
    sums, or "form" the fields of ``template``. Small and picklable: it travels to worker
    processes, which load the models from it once."""

    task: str = "predict"
    model: str | None = None
    calc_model: str | None = None  # the calculator's model, for "calc"
    min_confidence: float = 0.5  # "predict": answers below it are marked uncertain
    digits: tuple[int, int] | None = None  # "read": how many digits a number has
    pattern: str | None = None  # "read": a pattern the text must match
    locator: str | None = None  # the handwriting locator
    locate: bool = True  # False finds ink without a locator
    settings: Settings | None = None  # the other models' (None: the loading process's)
    template: Template | None = None  # "form": the fields to read on each scan

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise DigitrecError(f"unknown task {self.task!r} (known: {', '.join(TASKS)})",
                                "bad_parameter")

    def load(self, threads: int | None = None) -> Reader:
        from .reading import load_model

        reader = load_model(self.model, calculator=self.calc_model, locator=self.locator,
                            threads=threads, settings=self.settings)
        return reader if self.locate else reader.without_locator()

    def result(self, model: Reader, image: ImageSource
               ) -> Prediction | Reading | Calculation | FormResult:
        if self.task == "form":
            assert self.template is not None
            return model.form(self.template, image)
        if self.task == "predict":
            return model.predict(image)
        if self.task == "calc":
            return model.calc(image)
        return model.read(image, self.digits, self.pattern)

    def failure(self, error: DigitrecError) -> Row:
        """The row of an image that could not be read at all, in the task's shape."""
        from .inference.result import failure
        from .reading.calc import calc_failure
        from .reading.form import form_failure
        from .reading.result import read_failure

        make = {"predict": failure, "read": read_failure, "calc": calc_failure,
                "form": form_failure}[self.task]
        return make(str(error), error.code)

    def row(self, model: Reader, path: str) -> Row:
        """One file's row, as `--json` prints it."""
        try:
            found = self.result(model, path)
        except DigitrecError as exc:
            return {"file": path, **self.failure(exc)}
        if self.task == "predict":
            return {"file": path, **found.to_dict(self.min_confidence, decimals=4)}
        return {"file": path, **found.to_dict(decimals=4)}
