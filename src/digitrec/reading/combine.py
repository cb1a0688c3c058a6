"""Two readers of one line, and which reading stands.

The segmentation reader cuts a line into characters and classifies each; the sequence reader
reads the whole line at once (CTC). Where their readings agree, that is the reading. Where they
differ, each reading is scored by both: the sequence reader's probability of the text summed
over alignments, plus the best segmentation that spells it (or, when no cut of the ink spells
it, the segmentation's own best less FLOOR: touching digits are exactly where no cut is right).
The better-supported reading wins, and the line is marked as a disagreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..contract import LINE_CHARS
from . import ctc
from .search import Candidate, Path, best_path
from .segment import Piece

# Log-probability the segmentation concedes for a text none of its cuts spell. Low, the
# sequence reader's confident mistakes on writing unlike its training strings (UCI's blocky 8x8
# digits) override right segmentations; high, the segmentation's wrong cuts of touching digits
# stand. On the benchmark (bench/NOTES.md) 4 read UCI strings 48% against 64% by cuts alone, and
# 12 gave up 5 and 8 points on touching and overlapping digits; 8 is between.
FLOOR = 8.0
# Without --pattern, what a number looks like: a minus sign first if any, points and commas
# only between digits (the segmentation's marks obey the same rule).
NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")


def number_shaped(text: str) -> bool:
    return NUMBER.fullmatch(text) is not None


@dataclass(frozen=True)
class Choice:
    text: str
    path: Path | None  # the segmentation spelling it, if any
    agreed: bool | None  # both readers read this; None where segmentation read alone
    probability: float | None  # the sequence reader's, summed over alignments


def choose(segmented: Path | None, probs: np.ndarray, pieces: list[Piece],
           candidates: list[Candidate], accept: ctc.Accept | None) -> Choice | None:
    """The reading of a line from the segmentation's best path and the sequence reader's
    per-column probabilities, both within ``accept``; None if neither has one."""
    sequence = ctc.beam_search(probs, accept=accept or number_shaped)
    if sequence is None and segmented is None:
        return None
    if segmented is None or sequence is None or segmented.text == sequence[0]:
        text = segmented.text if segmented is not None else sequence[0]  # type: ignore[index]
        return Choice(text, segmented, segmented is not None and sequence is not None,
                      float(np.exp(ctc.score(probs, text))))
    floor = segmented.score - FLOOR
    options = []
    for text in (segmented.text, sequence[0]):
        spelled = segmented if text == segmented.text else best_path(
            pieces, candidates, lambda t, want=text: t == want)
        heard = ctc.score(probs, text)
        options.append((heard + (spelled.score if spelled else floor), heard, text, spelled))
    _, heard, text, spelled = max(options, key=lambda o: o[0])
    return Choice(text, spelled, False, float(np.exp(heard)))


def aligned_columns(probs: np.ndarray, text: str) -> list[tuple[int, int]]:
    """For each character of ``text``, the columns [first, last] where the best path emits
    it: where a character read by the sequence reader alone stands in the line."""
    classes = probs.argmax(1)
    spans: list[tuple[int, int]] = []
    previous = 0
    for t, c in enumerate(classes):
        if c != 0 and c != previous:
            spans.append((t, t))
        elif c != 0 and spans:
            spans[-1] = (spans[-1][0], t)
        previous = c
    if len(spans) != len(text):  # the beam's text is not the best path's: spread evenly
        step = len(probs) / max(1, len(text))
        spans = [(int(k * step), int((k + 1) * step) - 1) for k in range(len(text))]
    return spans


def digit_probabilities(column: np.ndarray) -> np.ndarray:
    """The ten digits' share of one column's probability (for a character's `probabilities`)."""
    digits = column[1 : 1 + LINE_CHARS.index(".")]
    return digits / max(float(digits.sum()), 1e-12)
