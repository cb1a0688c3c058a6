"""Connected groups of ink pixels (8-connected), in numpy alone.

Each row's mask is cut into runs of ink; runs that touch a run of the row above (diagonals
included) join its component through a union-find over runs. A 256x256 mask has at most a few
thousand runs, so the Python loop over runs costs about a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .locate import Box


@dataclass(frozen=True)
class Component:
    """One connected group of ink pixels: its box, and its pixels as runs (row, start, end),
    from which `label_map` tells its pixels from its neighbours'."""

    top: int
    bottom: int
    left: int
    right: int
    runs: tuple[tuple[int, int, int], ...]

    @property
    def box(self) -> Box:
        return self.top, self.bottom, self.left, self.right

    @property
    def height(self) -> int:
        return self.bottom - self.top


def _row_runs(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """(row, start, end) of every run of True, row by row, left to right."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    rows, cols = np.nonzero(np.diff(padded, axis=1))
    # Within each row the changes alternate start, end.
    return [(int(r), int(s), int(e)) for r, s, e in zip(rows[::2], cols[::2], cols[1::2],
                                                         strict=True)]


def components(mask: np.ndarray) -> list[Component]:
    """Every 8-connected group of True pixels in ``mask``, left to right by their left edge."""
    runs = _row_runs(mask)
    parent = list(range(len(runs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    previous: list[int] = []  # indices of the runs in the row above
    current: list[int] = []
    row = -1
    for i, (r, start, end) in enumerate(runs):
        if r != row:
            previous = current if r == row + 1 else []
            current, row = [], r
        for j in previous:
            _, s, e = runs[j]
            if s <= end and start <= e:  # overlapping or diagonal neighbours (ends exclusive)
                parent[find(i)] = find(j)
        current.append(i)
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for i, run in enumerate(runs):
        groups.setdefault(find(i), []).append(run)
    out = []
    for group in groups.values():
        rows = [r for r, _, _ in group]
        out.append(Component(min(rows), max(rows) + 1, min(s for _, s, _ in group),
                             max(e for _, _, e in group), tuple(group)))
    return sorted(out, key=lambda c: (c.left, c.top))


def label_map(shape: tuple[int, int], parts: list[Component]) -> np.ndarray:
    """An int32 image of ``shape``: 0 where there is no ink, k + 1 on the pixels of parts[k]."""
    labels = np.zeros(shape, np.int32)
    for label, part in enumerate(parts, 1):
        for r, s, e in part.runs:
            labels[r, s:e] = label
    return labels
