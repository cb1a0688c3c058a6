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


def beam_search(probs: np.ndarray, width: int = 16,
                accept: Accept | None = None,
                prune: float = 1e-4) -> tuple[str, float] | None:
    """The likeliest text that ``accept`` allows, with its probability summed over
    alignments, from a prefix beam search; None if no text in the beam is accepted.

    Probabilities are kept as plain numbers, rescaled after every column so the best prefix
    has 1 (the scale's logarithm is kept aside): sums of probabilities are then additions,
    where log-probabilities would need a log-sum-exp for each, five times slower."""
    chars = alphabet(probs)
    columns = np.maximum(probs, 1e-12).astype(np.float64)
    # prefix -> [P(columns so far, ending in blank), P(ending in its last char)], rescaled
    beams: dict[str, list[float]] = {"": [1.0, 0.0]}
    log_scale = 0.0
    for t in range(len(columns)):
        column = columns[t].tolist()
        blank = column[0]
        options = [(chars[k], column[k + 1]) for k in np.flatnonzero(probs[t, 1:] > prune)]
        if not options:  # a blank column: every prefix stays, now ending in a blank
            beams = {p: [(b + c) * blank, 0.0] for p, (b, c) in beams.items()}
        else:
            grown: dict[str, list[float]] = {}
            for prefix, (b, c) in beams.items():
                here = grown.setdefault(prefix, [0.0, 0.0])
                here[0] += (b + c) * blank
                last = prefix[-1:]
                for ch, p in options:
                    if ch == last:
                        here[1] += c * p  # the same one goes on
                        grown.setdefault(prefix + ch, [0.0, 0.0])[1] += b * p  # a repeat
                    else:
                        grown.setdefault(prefix + ch, [0.0, 0.0])[1] += (b + c) * p
            beams = dict(sorted(grown.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:width])
        top = max(b + c for b, c in beams.values())
        if top > 0:
            for pair in beams.values():
                pair[0] /= top
                pair[1] /= top
            log_scale += math.log(top)
    for text, (b, c) in beams.items():  # best first: each step keeps them ranked
        if accept is None or accept(text):
            return text, math.exp(math.log(b + c) + log_scale) if b + c > 0 else 0.0
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
