"""The best reading of a line: a beam search over ways to join its pieces into characters.

A line's pieces are read left to right; each step takes the next one to three pieces as one
character (pieces of one group, or of groups close enough to be a broken stroke) and gives it
one of its likeliest digits, or takes a mark as it is. A path scores the sum of its characters'
log-probabilities, less a penalty for characters far from every digit the model learned (two
digits squeezed into one box look like no digit at all). Constraints (how many digits, a
regular expression) are checked on whole paths, so the answer is the best reading that fits,
not the best reading filtered afterwards.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import re2

from ..contract import DIGITS
from ..errors import DigitrecError
from .segment import Piece

MAX_SPAN = 4  # pieces one character may join
LABELS = 3  # likeliest digits tried for each candidate character
BEAM = 24  # paths kept at each position for each number of characters
# And at most this many in all (four counts' worth): on a line of 40 digits (up to 60 pieces)
# the constrained search then costs about 30 ms here.
KEPT = 96
NOVELTY_WEIGHT = 4.0  # log-probability lost per unit of novelty above the model's threshold
# Log-probability each digit costs: without it, cutting one digit into confident halves (a 0
# into "()" read as 1 and 7) would cost nothing, and the search would prefer it.
DIGIT_COST = 0.3
# Digits are rarely wider than this share of the line's height; two squeezed into one box are.
# 90% of MNIST's training digits are no wider than 1.05 times their height (a quarter are
# wider than 0.9, the limit this had first, which cut wide 4s and 0s in two).
WIDTH_LIMIT = 1.05
WIDTH_WEIGHT = 3.0  # log-probability lost per line height of width beyond the limit


@dataclass(frozen=True)
class Candidate:
    """Pieces [start, end) of a line read as one character."""

    start: int
    end: int
    probabilities: np.ndarray | None  # None for a mark
    penalty: float  # subtracted from every label's log-probability
    mark: str = ""
    unusual: bool = False  # farther from the digits learned than the model's threshold
    classes: str = DIGITS  # what the probabilities' columns stand for

    def labels(self, count: int) -> list[tuple[str, float, float]]:
        """The ``count`` likeliest readings: (character, probability, score)."""
        if self.probabilities is None:
            return [(self.mark, 1.0, 0.0)]
        order = np.argsort(-self.probabilities, kind="stable")[:count]
        cost = self.penalty + DIGIT_COST
        return [(self.classes[d], float(self.probabilities[d]),
                 math.log(max(float(self.probabilities[d]), 1e-9)) - cost) for d in order]


@dataclass(frozen=True)
class Segmentation:
    score: float
    chars: tuple[tuple[str, Candidate, float], ...]  # character, candidate, its probability

    @property
    def text(self) -> str:
        return "".join(c for c, _, _ in self.chars)


def spans(pieces: list[Piece], gap: float, joining: str = "") -> list[tuple[int, int]]:
    """Every run of 1 to MAX_SPAN consecutive non-mark pieces that may be one character: from
    one group, or from groups less than ``gap`` apart. Marks in ``joining`` may be part of a
    run too (a dot a thin pen broke off a digit), though never all of it."""
    def joins(piece: Piece) -> bool:
        return piece.mark is None or piece.mark in joining

    out = []
    for start, first in enumerate(pieces):
        if not joins(first):
            continue
        for end in range(start + 1, min(start + MAX_SPAN, len(pieces)) + 1):
            last = pieces[end - 1]
            if not joins(last):
                break
            if all(p.mark is not None for p in pieces[start:end]):
                continue
            if end > start + 1:
                before = pieces[end - 2]
                if last.group != before.group and last.left - before.right > gap:
                    break
            out.append((start, end))
    return out


def penalty(novelty: float | None, threshold: float | None, width: float) -> float:
    """What a candidate character loses for lying far from the digits learned, and for being
    wider (``width``, in line heights) than one digit is."""
    far = 0.0 if novelty is None or not threshold else max(0.0, novelty / threshold - 1.0)
    return NOVELTY_WEIGHT * far + WIDTH_WEIGHT * max(0.0, width - WIDTH_LIMIT)


def best_segmentation(pieces: list[Piece], candidates: list[Candidate],
              accept: Callable[[str], bool] | None = None) -> Segmentation | None:
    """The highest-scoring reading of all the pieces that ``accept`` allows, or None. Without
    a constraint only the best path into each position can matter, so one is kept; and where
    that best of all is allowed, it is the answer."""
    if accept is not None:
        best = best_segmentation(pieces, candidates)
        if best is None or accept(best.text):
            return best
    beam, labels = (BEAM, LABELS) if accept is not None else (1, 1)
    starting: dict[int, list[tuple[Candidate, list[tuple[str, float, float]]]]] = {}
    marks = [Candidate(i, i + 1, None, 0.0, p.mark) for i, p in enumerate(pieces)
             if p.mark is not None]
    for c in [*candidates, *marks]:
        starting.setdefault(c.start, []).append((c, c.labels(labels)))
    # A partial path is (score, text, its last step): a step is (character, candidate, its
    # probability, the step before), shared by every path that goes on from it, so extending
    # a path costs the same however long it is.
    beams: list[list[_Partial]] = [[] for _ in range(len(pieces) + 1)]
    beams[0] = [(0.0, "", None)]
    for i in range(len(pieces)):
        for score, text, step in _pruned(beams[i], beam):
            for cand, options in starting.get(i, []):
                grown = beams[cand.end]
                for char, p, gain in options:
                    grown.append((score + gain, text + char, (char, cand, p, step)))
    finished = sorted(beams[len(pieces)], key=_score, reverse=True)
    found = next((f for f in finished if accept is None or accept(f[1])), None)
    return None if found is None else Segmentation(found[0], _steps(found[2]))


_Step = tuple[str, Candidate, float, "_Step | None"]
_Partial = tuple[float, str, "_Step | None"]


def _steps(step: _Step | None) -> tuple[tuple[str, Candidate, float], ...]:
    out = []
    while step is not None:
        out.append(step[:3])
        step = step[3]
    return tuple(reversed(out))


def _pruned(paths: list[_Partial], beam: int) -> list[_Partial]:
    """The best ``beam`` paths for each number of characters, so that a constraint on the
    count (--digits, or a pattern's) still finds its readings among them; at most KEPT in
    all, taken a rank at a time across the counts (every count's best, then every count's
    second...), so the work a constraint costs stays bounded on a long line."""
    if beam == 1:
        return [max(paths, key=_score)] if paths else []
    buckets: dict[int, list[_Partial]] = {}
    for path in sorted(paths, key=_score, reverse=True):
        bucket = buckets.setdefault(len(path[1]), [])
        if len(bucket) < beam:
            bucket.append(path)
    if sum(len(bucket) for bucket in buckets.values()) <= KEPT:
        return [p for bucket in buckets.values() for p in bucket]
    ranked = [bucket[rank] for rank in range(beam) for bucket in buckets.values()
              if rank < len(bucket)]
    return ranked[:KEPT]


def _score(partial: _Partial) -> float:
    return partial[0]


def parse_digits(text: str) -> tuple[int, int]:
    """'5' or '4-6' (from a command line or a query string) -> an inclusive range."""
    match = re.fullmatch(r"(\d{1,3})(?:-(\d{1,3}))?", text.strip())
    if not match:
        raise DigitrecError(f"digits: {text!r} is not a count (5) or a range (4-6)",
                            "bad_parameter")
    low = int(match.group(1))
    return low, int(match.group(2) or low)


# A pattern is the shape of one field (`\d{5}`, `-?\d+[.,]\d{2}`): longer ones are not that.
MAX_PATTERN = 200


def compile_pattern(text: str) -> re2._Regexp:
    """A pattern a reading must match, compiled by RE2: its matching time grows linearly with
    the text whatever the pattern, where Python's `re` can backtrack for minutes on nested
    repeats (``((\\d*)*)*x``) while holding the interpreter. Refused in one line if too long or
    not a pattern RE2 runs (it has no backreferences or lookarounds)."""
    if len(text) > MAX_PATTERN:
        raise DigitrecError(f"pattern: {len(text)} characters is over the limit of "
                            f"{MAX_PATTERN}", "bad_parameter")
    try:
        return re2.compile(text, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(
            exc.args[0], bytes) else str(exc)
        if "escape" in reason or "perl operator" in reason:
            reason += "; RE2 has no backreferences or lookarounds"
        raise DigitrecError(f"pattern: {text!r} is not a regular expression ({reason})",
                            "bad_parameter") from None


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the user's one-line error, not a log
    options.never_capture = True  # only whether it matches: RE2's fastest engine (a DFA)
    options.max_mem = 2 << 20  # the program and its DFA's cache; a 200-character pattern fits
    return options


_RE2_OPTIONS = _re2_options()


def check_pattern(text: str) -> str:
    """``text`` if it is a pattern `compile_pattern` accepts (for option parsers)."""
    compile_pattern(text)
    return text


def constraint(digits: tuple[int, int] | None, pattern: str | None) -> Callable[[str], bool]:
    """A test of a whole line's text: its count of digits within ``digits`` (inclusive) and
    the text matching ``pattern`` in full."""
    compiled = compile_pattern(pattern) if pattern else None

    def accept(text: str) -> bool:
        count = sum(ch.isdigit() for ch in text)
        if digits is not None and not digits[0] <= count <= digits[1]:
            return False
        return compiled is None or compiled.fullmatch(text) is not None

    return accept
