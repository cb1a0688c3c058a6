"""What reading an image gives: one line of text per line of writing, each character with where
it stands and how sure the model is, in one JSON form for the CLI and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..inference.result import rounded
from ..vision import REASONS

# Reasons a reading can be empty besides the single-digit pipeline's.
READ_REASONS = {**REASONS,
                "no_match": "no reading fits the requested --digits or --pattern"}


@dataclass(frozen=True)
class Character:
    char: str  # a digit, or ".", ",", "-"
    box: tuple[int, int, int, int]  # left, top, right, bottom in the source image's pixels
    confidence: float  # the model's probability for a digit; 1 for a mark read by its shape
    probabilities: np.ndarray | None = None  # (10,) for a digit
    processed: np.ndarray | None = None  # the 28x28 the model saw, for a digit
    unusual: bool = False  # unlike any digit the model learned (a letter, a scribble?)

    def to_dict(self, decimals: int | None = None) -> dict[str, Any]:
        return {"char": self.char, "box": list(self.box),
                "confidence": rounded(self.confidence, decimals), "unusual": self.unusual,
                "probabilities": None if self.probabilities is None
                else [rounded(float(p), decimals) for p in self.probabilities]}


@dataclass(frozen=True)
class TextLine:
    text: str
    # The sequence reader's probability of the text; without one, the product of the
    # characters' confidences.
    confidence: float
    characters: list[Character] = field(default_factory=list)
    agreed: bool | None = None  # whether both readers read this; None with one reader

    def to_dict(self, decimals: int | None = None) -> dict[str, Any]:
        return {"text": self.text, "confidence": rounded(self.confidence, decimals),
                "agreed": self.agreed,
                "characters": [c.to_dict(decimals) for c in self.characters]}


@dataclass(frozen=True)
class Reading:
    """Every line of writing in an image, top to bottom; empty with a reason when none."""

    lines: list[TextLine]
    reason_code: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float:
        return min((line.confidence for line in self.lines), default=0.0)

    @property
    def reason(self) -> str | None:
        return None if self.reason_code is None else READ_REASONS[self.reason_code]

    @property
    def characters(self) -> list[Character]:
        return [c for line in self.lines for c in line.characters]

    def to_dict(self, decimals: int | None = None) -> dict[str, Any]:
        return {"text": self.text, "confidence": rounded(self.confidence, decimals),
                "status": "ok" if self.lines else "no number",
                "lines": [line.to_dict(decimals) for line in self.lines],
                "reason": self.reason, "reason_code": self.reason_code}


def read_failure(message: str, code: str) -> dict[str, Any]:
    """The JSON form of an input that could not be read at all."""
    return {"text": "", "confidence": 0.0, "status": "error", "lines": [], "reason": None,
            "reason_code": code, "error": message}


# The columns of `read --csv`: one row per image; boxes as left top right bottom, per character.
CSV_FIELDS = ["file", "text", "confidence", "status", "characters", "reason_code", "error"]


def csv_row(record: dict[str, Any]) -> list[Any]:
    chars = " ".join(f"{c['char']}@{','.join(map(str, c['box']))}"
                     for line in record["lines"] for c in line["characters"])
    return [record["file"], record["text"], record["confidence"], record["status"], chars,
            record["reason_code"] or "", record.get("error") or record["reason"] or ""]

