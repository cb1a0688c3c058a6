"""Two readers of one line, and which reading stands.

The segmentation reader cuts a line into characters and classifies each; the sequence reader
reads the whole line at once (CTC). Where their readings agree (the sequence reader's best path
or its beam search spelling the segmentation's text), that is the reading. Where they
differ, each reading is scored by both: the sequence reader's probability of the text summed
over alignments, plus the best segmentation that spells it (or, when no cut of the ink spells
it, the segmentation's own best less a concession: touching digits are where no cut is right).
The better-supported reading wins, and the line is marked as a disagreement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..contract import SUM_LINE_CHARS
from . import ctc
from .search import Candidate, Segmentation, best_segmentation
from .segment import Piece


@dataclass(frozen=True)
class Balance:
    """How the two readers' scores are weighed where they disagree: a reading's support is
    ``sequence`` x the sequence reader's log-probability of it, plus the segmentation's best
    path that spells it, or (no cut of the ink spells it) the segmentation's best less
    ``floor``. A low floor lets the sequence reader's confident mistakes on writing unlike its
    training strings override right cuts; a high one keeps wrong cuts of touching digits."""

    sequence: float = 1.0
    floor: float = 8.0


# Fitted by bench/combine.py on numbers of MNIST's validation digits (never the benchmark's):
# the best mean over its conditions of the balances nowhere below the better reader alone.
BALANCE = Balance(sequence=1.0, floor=0.0)
# The same for sums (`calc`), fitted by `bench/combine.py --sums` on sums of validation digits.
SUM_BALANCE = Balance(sequence=0.75, floor=2.0)
# Without --pattern, what a number looks like: a minus sign first if any, points, commas and
# dashes (a date, 16-12-22) only between digits (the segmentation's marks obey the same rule).
NUMBER = re.compile(r"-?\d+(?:[.,-]\d+)*")


def number_shaped(text: str) -> bool:
    return NUMBER.fullmatch(text) is not None


@dataclass(frozen=True)
class Choice:
    text: str
    path: Segmentation | None  # the segmentation spelling it, if any
    agreed: bool | None  # both readers read this; None where segmentation read alone
    probability: float | None  # the sequence reader's, summed over alignments


@dataclass(frozen=True)
class Option:
    text: str
    heard: float  # the sequence reader's log-probability of it, summed over alignments
    spelled: Segmentation | None  # the segmentation's best path spelling it, if any cut does


@dataclass(frozen=True)
class Evidence:
    """What both readers say of a line: one option where they agree (or only one has a
    reading), the segmentation's and the sequence reader's where they differ."""

    options: tuple[Option, ...]
    agreed: bool
    segmented: Segmentation | None


def weigh(segmented: Segmentation | None, probs: np.ndarray, pieces: list[Piece],
          candidates: list[Candidate], accept: ctc.Accept | None) -> Evidence | None:
    """Both readers' readings of a line within ``accept``, each scored by both: from the
    segmentation's best path and the sequence reader's per-column probabilities. None if
    neither has a reading."""
    if segmented is not None and ctc.best_path(probs)[0] == segmented.text:
        # The sequence reader's likeliest columns already spell the segmentation's text: two
        # readers agree, and the beam (most of the time `read` spends on this reader) could
        # only put a text of more summed alignments first.
        heard: str | None = segmented.text
    else:
        found = ctc.beam_search(probs, accept=accept or number_shaped)
        heard = None if found is None else found[0]
    texts = [] if segmented is None else [segmented.text]
    if heard is not None and heard not in texts:
        texts.append(heard)
    if not texts:
        return None

    def spelled(text: str) -> Segmentation | None:
        if segmented is None or text == segmented.text:
            return segmented
        return best_segmentation(pieces, candidates, lambda t: t == text)

    options = tuple(Option(text, ctc.score(probs, text), spelled(text)) for text in texts)
    agreed = len(options) == 1 and segmented is not None and heard is not None
    return Evidence(options, agreed, segmented)


def decide(evidence: Evidence, balance: Balance = BALANCE) -> Choice:
    """The better-supported of a line's options (see Balance)."""
    def support(option: Option) -> float:
        cut = option.spelled.score if option.spelled is not None else (
            evidence.segmented.score - balance.floor if evidence.segmented is not None else 0.0)
        return balance.sequence * option.heard + cut

    best = max(evidence.options, key=support)
    return Choice(best.text, best.spelled, evidence.agreed, float(np.exp(best.heard)))


def choose(segmented: Segmentation | None, probs: np.ndarray, pieces: list[Piece],
           candidates: list[Candidate], accept: ctc.Accept | None,
           balance: Balance = BALANCE) -> Choice | None:
    """The reading of a line from the segmentation's best path and the sequence reader's
    per-column probabilities, both within ``accept``; None if neither has one."""
    evidence = weigh(segmented, probs, pieces, candidates, accept)
    return None if evidence is None else decide(evidence, balance)


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


def class_probabilities(column: np.ndarray, classes: str) -> np.ndarray:
    """The share of one column's probability that each of ``classes`` has (for a character's
    `probabilities`, in the classifier's order)."""
    chosen = column[[SUM_LINE_CHARS.index(ch) + 1 for ch in classes]]
    return chosen / max(float(chosen.sum()), 1e-12)
