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


def _runs(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    for start, end in zip(*_runs(columns), strict=True):
        rows = np.flatnonzero(mask[:, start:end].any(1))
        groups.append(InkGroup(int(rows[0]), int(rows[-1]) + 1, int(start), int(end),
                               int(columns[start:end].sum())))
    return groups


def _main_run(profile: np.ndarray, across: int) -> tuple[int, int]:
    """The stretch of the profile holding the digit: the heaviest run of non-empty entries,
    joined by the runs lying within a third of the digit's size (a 5's hat, a 4's open top),
    while marks further away are left out. The size is the larger of the run's length and
    ``across``, the digit's extent on the other axis: a 5's hat is long but thin."""
    starts, ends = _runs(profile)
    cumulative = np.concatenate(([0], np.cumsum(profile)))
    best = int(np.argmax(cumulative[ends] - cumulative[starts]))
    lo, hi = starts[best], ends[best]
    for _ in range(len(starts)):
        reach = max(hi - lo, across) / 3
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
    height = 0  # the digit's height is unknown before the first pass
    for _ in range(2):  # rows and columns refine each other
        sub = mask[top:bottom, left:right]
        c0, c1 = _main_run(sub.sum(0), across=height)
        r0, r1 = _main_run(sub[:, c0:c1].sum(1), across=c1 - c0)
        top, bottom, left, right = top + r0, top + r1, left + c0, left + c1
        height = bottom - top
    return top, bottom, left, right
