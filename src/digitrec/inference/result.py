"""What the model makes of one image, and the one JSON form every output uses.

`predict --json`, `predict --csv` and the API all serialise through `Prediction.to_dict` (and
`failure` for a file that could not be read), so a client meets the same fields, and the same
machine-readable `reason_code`, wherever it reads a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_CONFIDENCE = 0.5  # below it an answer is "uncertain": shown, not hidden
# The columns of `predict --csv`, in order: a result's fields with the probabilities spread out.
CSV_FIELDS = ["file", "digit", "confidence", "status", "unusual",
              *(f"p{d}" for d in range(10)), "reason_code", "error"]


@dataclass(frozen=True)
class Prediction:
    """What the model makes of one image."""

    digit: int | None  # None when no digit was found
    probabilities: np.ndarray | None  # (10,), one per digit
    processed: np.ndarray | None  # the 28x28 image the model saw, float in [0, 1]
    reason: str | None = None  # why there is no digit
    novelty: float | None = None  # distance from the digits the model learned
    unusual: bool = False  # that distance is larger than 99.5% of real digits': a letter?
    reason_code: str | None = None  # `reason` for machines: no_ink, faint, too_wide, ...

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max()) if self.probabilities is not None else 0.0

    def top(self, k: int = 3) -> list[tuple[int, float]]:
        """The k likeliest digits with their probabilities, likeliest first."""
        if self.probabilities is None:
            return []
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(d), float(self.probabilities[d])) for d in order]

    def status(self, min_confidence: float = MIN_CONFIDENCE) -> str:
        """"ok", "uncertain" (below ``min_confidence``) or "no digit"."""
        if self.digit is None:
            return "no digit"
        return "ok" if self.confidence >= min_confidence else "uncertain"

    def to_dict(self, min_confidence: float = MIN_CONFIDENCE,
                decimals: int | None = None) -> dict[str, Any]:
        """The JSON form of a result; ``decimals`` rounds the probabilities for display."""
        def num(value: float) -> float:
            return rounded(value, decimals)

        probabilities = (None if self.probabilities is None
                         else [num(float(p)) for p in self.probabilities])
        return {
            "digit": self.digit,
            "confidence": num(self.confidence),
            "status": self.status(min_confidence),
            "unusual": self.unusual,
            "novelty": None if self.novelty is None else num(self.novelty),
            "top3": [[d, num(p)] for d, p in self.top(3)],
            "probabilities": probabilities,
            "reason": self.reason,
            "reason_code": self.reason_code,
        }


def rounded(value: float, decimals: int | None) -> float:
    """``value`` to ``decimals`` places for display, or as it is."""
    return round(value, decimals) if decimals is not None else value


def failure(message: str, code: str) -> dict[str, Any]:
    """The JSON form of an input that could not be read at all."""
    return {"digit": None, "confidence": 0.0, "status": "error", "unusual": False,
            "novelty": None, "top3": [], "probabilities": None, "reason": None,
            "reason_code": code, "error": message}


def csv_row(record: dict[str, Any]) -> list[Any]:
    """A result's JSON form (with its "file") as a row of `CSV_FIELDS`."""
    probabilities = record["probabilities"] or [""] * 10
    digit = "" if record["digit"] is None else record["digit"]
    return [record["file"], digit, record["confidence"], record["status"], record["unusual"],
            *probabilities, record["reason_code"] or "", record.get("error") or record["reason"]
            or ""]
