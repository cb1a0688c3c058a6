"""Registering a scan to a reference: the perspective map (a homography) that takes the
corners of the reference's frame (`grid.frame`) to the scan's, through which every box drawn
on the reference is found on the scan, however the scan was turned, scaled or photographed at
an angle. numpy only."""

from __future__ import annotations

import numpy as np


def homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3x3 map taking four points ``source`` (4, 2) to ``target``: the direct linear
    solution with the last entry fixed at 1."""
    rows, values = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    solution = np.linalg.solve(np.array(rows, np.float64), np.array(values, np.float64))
    return np.append(solution, 1.0).reshape(3, 3)


def mapped(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` (N, 2) through the map ``h``."""
    p = np.c_[points, np.ones(len(points))] @ h.T
    return p[:, :2] / p[:, 2:]
