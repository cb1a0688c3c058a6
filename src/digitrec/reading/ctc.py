"""Decoding a sequence reader's output (Graves et al., 2006): per column of the line, the
probabilities of a blank and of each character. numpy only, on the inference path.

Best path takes the likeliest class in every column, merges repeats and drops blanks. The beam
search keeps, for every prefix, the probability of the columns so far ending in a blank and not,
so that a constraint (how many digits, a pattern) can be applied to whole readings. `score`
sums over every alignment of a given text: how much the reader supports a reading another
reader made.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..contract import SUM_LINE_CHARS

Accept = Callable[[str], bool]  # a test of a whole reading: --digits, --pattern


def alphabet(probs: np.ndarray) -> str:
    """The characters of a reader's columns (after the blank): every reader's alphabet is a
    prefix of SUM_LINE_CHARS, so the columns' count says which."""
    return SUM_LINE_CHARS[: probs.shape[-1] - 1]


def best_path(probs: np.ndarray) -> tuple[str, float]:
    """The likeliest class per column, repeats merged and blanks dropped, and the product of
    those columns' probabilities. ``probs`` is (columns, 1 + characters)."""
    chars = alphabet(probs)
    classes = probs.argmax(1)
    text, previous = [], 0
    for c in classes:
        if c != previous and c != 0:
            text.append(chars[c - 1])
        previous = c
    confidence = float(np.exp(np.log(np.maximum(probs.max(1), 1e-12)).sum()))
    return "".join(text), confidence


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))


def _add(beams: dict[str, tuple[float, float]], prefix: str, blank: float, char: float) -> None:
    b, c = beams.get(prefix, (-math.inf, -math.inf))
    beams[prefix] = (_logsumexp(b, blank), _logsumexp(c, char))


def beam_search(probs: np.ndarray, width: int = 16,
                accept: Accept | None = None,
                prune: float = 1e-4) -> tuple[str, float] | None:
    """The likeliest text that ``accept`` allows, with its probability summed over
    alignments, from a prefix beam search; None if no text in the beam is accepted."""
    chars = alphabet(probs)
    logp = np.log(np.maximum(probs, 1e-12))
    # prefix -> (log P(columns so far, ending in blank), log P(ending in its last char))
    beams: dict[str, tuple[float, float]] = {"": (0.0, -math.inf)}
    for t in range(len(probs)):
        column = logp[t]
        options = (np.flatnonzero(probs[t, 1:] > prune) + 1).tolist()  # characters only
        if not options:  # a blank column: every prefix stays, now ending in a blank
            beams = {p: (_logsumexp(b, c) + column[0], -math.inf) for p, (b, c) in beams.items()}
            continue
        grown: dict[str, tuple[float, float]] = {}
        for prefix, (blank, char) in beams.items():
            total = _logsumexp(blank, char)
            _add(grown, prefix, total + column[0], -math.inf)
            for k in options:
                ch = chars[k - 1]
                if prefix.endswith(ch):
                    _add(grown, prefix, -math.inf, char + column[k])  # the same one goes on
                    _add(grown, prefix + ch, -math.inf, blank + column[k])  # a repeat: blank
                else:
                    _add(grown, prefix + ch, -math.inf, total + column[k])
        ranked = sorted(grown.items(), key=lambda kv: -_logsumexp(*kv[1]))
        beams = dict(ranked[:width])
    for text, (blank, char) in beams.items():  # best first: each step keeps them ranked
        if accept is None or accept(text):
            return text, math.exp(_logsumexp(blank, char))
    return None


def score(probs: np.ndarray, text: str) -> float:
    """log P(text | columns), summed over every alignment (the CTC forward pass); -inf when
    the line has too few columns for the text."""
    chars = alphabet(probs)
    labels = [0]
    for ch in text:
        if ch not in chars:  # a character this reader never learned: it cannot say it
            return -math.inf
        labels += [chars.index(ch) + 1, 0]
    logp = np.log(np.maximum(probs, 1e-12))[:, labels]  # (columns, states)
    n = len(labels)
    # A state may be entered from itself, the one before, and (a character differing from
    # the previous character) the one two before, skipping the blank between them.
    skip = np.zeros(n, bool)
    skip[2:] = [labels[s] != 0 and labels[s] != labels[s - 2] for s in range(2, n)]
    alpha = np.full(n, -np.inf)
    alpha[0] = logp[0, 0]
    if n > 1:
        alpha[1] = logp[0, 1]
    for t in range(1, len(logp)):
        before = np.concatenate(([-np.inf], alpha[:-1]))
        two_before = np.where(skip, np.concatenate(([-np.inf, -np.inf], alpha[:-2])), -np.inf)
        alpha = np.logaddexp(np.logaddexp(alpha, before), two_before) + logp[t]
    return float(np.logaddexp(alpha[-1], alpha[-2])) if n > 1 else float(alpha[-1])
