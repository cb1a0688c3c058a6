"""Reading a handwritten sum and working it out: each line of writing read as digits and
operators (the best reading that is a well-formed sum, where one is), then worked out exactly.
A line that is no sum keeps what was read and says what is wrong with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..arithmetic import ExpressionError, Worked, decimal_text, work_out
from ..inference.calculator import Calculator
from ..inference.result import rounded
from ..vision import ImageSource
from ..vision.pipeline import Writing
from .combine import SUM_BALANCE
from .lines import read
from .result import Reading, TextLine


def well_formed(text: str) -> bool:
    """Whether ``text`` is a sum that can be worked out, or fails only for its numbers (a
    division by zero, a number too long): the reading is right, the sum is not."""
    try:
        work_out(text)
    except ExpressionError as exc:
        return exc.code != "bad_expression"
    return True


@dataclass(frozen=True)
class Sum:
    """One line of writing read as a sum, and its value or what stops it from having one."""

    line: TextLine
    worked: Worked | None
    error: ExpressionError | None

    @property
    def text(self) -> str:
        """What a person reads: ``12×7 = 84``, a written answer checked (``3+4 = 7, written
        8: wrong``), or the line and its problem."""
        if self.worked is None:
            return f"{self.line.text}  ({self.error})"
        shown = f"{self.worked.expression} = {self.worked.text}"
        if self.worked.written is not None:
            verdict = "right" if self.worked.agrees else "wrong"
            shown += f", written {decimal_text(self.worked.written)}: {verdict}"
        return shown

    def to_dict(self, decimals: int | None = None) -> dict[str, Any]:
        worked = self.worked
        return {
            "read": self.line.text,
            "expression": None if worked is None else worked.expression,
            "value": None if worked is None else worked.text,
            "fraction": None if worked is None else str(worked.value),
            "written": None if worked is None or worked.written is None
            else decimal_text(worked.written),
            "agrees": None if worked is None else worked.agrees,
            "error": None if self.error is None else str(self.error),
            "error_code": None if self.error is None else self.error.code,
            "confidence": rounded(self.line.confidence, decimals),
            "characters": [c.to_dict(decimals) for c in self.line.characters],
        }


@dataclass(frozen=True)
class Calculation:
    """Every sum in an image, top to bottom; empty with a reason when nothing was read."""

    sums: list[Sum]
    classes: str  # what each character's probabilities stand for
    reason_code: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.sums)

    @property
    def reading(self) -> Reading:
        """The lines as read, before working them out."""
        return Reading([s.line for s in self.sums], self.reason_code)

    @property
    def confidence(self) -> float:
        return self.reading.confidence

    @property
    def reason(self) -> str | None:
        return self.reading.reason

    def to_dict(self, decimals: int | None = None) -> dict[str, Any]:
        return {"text": self.text, "confidence": rounded(self.confidence, decimals),
                "status": "ok" if self.sums else "no sum", "classes": self.classes,
                "sums": [s.to_dict(decimals) for s in self.sums],
                "reason": self.reason, "reason_code": self.reason_code}


def _worked(line: TextLine) -> Sum:
    try:
        return Sum(line, work_out(line.text), None)
    except ExpressionError as exc:
        return Sum(line, None, exc)


def calc(calculator: Calculator, source: ImageSource, locator: Writing | None = None
         ) -> Calculation:
    """Every line of ``source`` read as a sum (digits, + - × ÷ = ( ) .) and worked out: by
    segmentation with the calculator's classifier, combined with its reader of sums if any;
    in the ink ``locator`` takes for handwriting, where given."""
    reading = read(calculator, source, lines_model=calculator.lines, math=well_formed,
                   balance=SUM_BALANCE, locator=locator)
    return Calculation([_worked(line) for line in reading.lines], calculator.classes,
                       reading.reason_code)


def calc_failure(message: str, code: str) -> dict[str, Any]:
    """The JSON form of an input that could not be read at all."""
    return {"text": "", "confidence": 0.0, "status": "error", "sums": [], "reason": None,
            "reason_code": code, "error": message}


# The columns of `calc --csv`: one row per image, its sums joined by "; ".
CSV_FIELDS = ["file", "read", "value", "confidence", "status", "reason_code", "error"]


def csv_row(record: dict[str, Any]) -> list[Any]:
    sums = record["sums"]
    problems = [s["error"] for s in sums if s["error"]]
    return [record["file"], "; ".join(s["read"] for s in sums),
            "; ".join(s["value"] or "" for s in sums), record["confidence"], record["status"],
            record["reason_code"] or "",
            record.get("error") or "; ".join(problems) or record["reason"] or ""]
