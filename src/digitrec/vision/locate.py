"""Where the writing is in an ink mask: every group of ink, and the one block that is the digit.

An ink group is a run of columns holding ink with empty columns on both sides: separate digits
of a number written with gaps are separate groups, a 5's hat and its body are one or two
depending on the hand. `locate` returns them all, left to right, for callers that read several
digits; `digit_box` finds the single digit a one-digit image holds, joining the groups near
the heaviest one and leaving stray marks further away out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # top, bottom, left, right; bottom and right exclusive
# Ink this close to a digit (a share of its size) may be part of it: a detached hat or upright,
# a stroke broken by a faint pen. Reading numbers joins groups by the same rule.
NEAR = 1 / 3


@dataclass(frozen=True)
class InkGroup:
    """One run of ink-holding columns: its bounding box and how many ink pixels it holds."""

    top: int
    bottom: int
    left: int
    right: int
    mass: int

    @property
    def box(self) -> Box:
        return self.top, self.bottom, self.left, self.right


def runs(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of non-zero entries of a profile."""
    filled = np.flatnonzero(profile > 0)
    breaks = np.flatnonzero(np.diff(filled) > 1)
    starts = filled[np.concatenate(([0], breaks + 1))]
    ends = filled[np.concatenate((breaks, [len(filled) - 1]))] + 1
    return starts, ends


def locate(mask: np.ndarray) -> list[InkGroup]:
    """Every group of ink in ``mask``, left to right, each with its box and mass."""
    if not mask.any():
        return []
    columns = mask.sum(0)
    groups = []
    for start, end in zip(*runs(columns), strict=True):
        rows = np.flatnonzero(mask[:, start:end].any(1))
        groups.append(InkGroup(int(rows[0]), int(rows[-1]) + 1, int(start), int(end),
                               int(columns[start:end].sum())))
    return groups


def _extent(flags: np.ndarray) -> int:
    """From the first set entry to the last."""
    found = np.flatnonzero(flags)
    return int(found[-1] - found[0] + 1) if len(found) else 0


def _main_run(mask: np.ndarray, axis: int) -> tuple[int, int]:
    """The stretch of ``mask`` along ``axis`` (1: columns, 0: rows) holding the digit: the
    heaviest run of ink, joined by the runs lying within NEAR of the digit's size (a 5's hat,
    a 4's open top, the upright of a 4 drawn apart), while marks further away are left out.
    The size is the larger of the run's length and its ink's extent across: a 5's hat is long
    but thin, and a 4's upright is narrow but tall."""
    starts, ends = runs(mask.sum(1 - axis))
    cumulative = np.concatenate(([0], np.cumsum(mask.sum(1 - axis))))
    best = int(np.argmax(cumulative[ends] - cumulative[starts]))
    lo, hi = starts[best], ends[best]
    for _ in range(len(starts)):
        run = mask[:, lo:hi] if axis == 1 else mask[lo:hi]
        reach = max(hi - lo, _extent(run.any(axis))) * NEAR
        near = (ends >= lo - reach) & (starts <= hi + reach)
        new_lo, new_hi = starts[near].min(), ends[near].max()
        if (new_lo, new_hi) == (lo, hi):
            break
        lo, hi = new_lo, new_hi
    return int(lo), int(hi)


def digit_box(mask: np.ndarray) -> Box | None:
    """(top, bottom, left, right) of the digit: the heaviest block of ink, ignoring stray marks."""
    if not mask.any():
        return None
    top, bottom, left, right = 0, mask.shape[0], 0, mask.shape[1]
    for _ in range(2):  # rows and columns refine each other
        sub = mask[top:bottom, left:right]
        c0, c1 = _main_run(sub, axis=1)
        r0, r1 = _main_run(sub[:, c0:c1], axis=0)
        top, bottom, left, right = top + r0, top + r1, left + c0, left + c1
    return top, bottom, left, right
