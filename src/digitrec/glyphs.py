"""The European 1 (with a flag) and the crossed 7, drawn onto MNIST digits.

MNIST was written mostly by Americans: its 1s are bare strokes and its 7s uncrossed, so a model
trained on it alone calls a European 1 a 7 and a crossed 7 something else. These functions add
the missing stroke to existing 1s and 7s, vectorised over a batch of (N, 28, 28) uint8 images.
"""

from __future__ import annotations

import numpy as np

from .contract import SIDE

_ROWS, _COLS = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)


def _ink_rows(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last row holding ink, per image."""
    rows = (images > 96).any(2)
    first = rows.argmax(1)
    last = 27 - rows[:, ::-1].argmax(1)
    return first, last


def _mean_col(images: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Centre of the ink in the given row of each image (within +/-1 row, for robustness)."""
    band = np.stack([images[np.arange(len(images)), np.clip(row + d, 0, 27)] for d in (-1, 0, 1)])
    weights = band.sum(0).astype(np.float32) + 1e-6
    return (weights * np.arange(SIDE, dtype=np.float32)).sum(1) / weights.sum(1)


def _draw_segments(images: np.ndarray, start: np.ndarray, end: np.ndarray,
                   width: np.ndarray) -> np.ndarray:
    """Antialiased line segments, one per image; start/end are (N, 2) as (row, col)."""
    d = end - start
    length2 = np.maximum((d**2).sum(1), 1e-6)[:, None, None]
    rel_r = _ROWS[None] - start[:, 0, None, None]
    rel_c = _COLS[None] - start[:, 1, None, None]
    t = np.clip((rel_r * d[:, 0, None, None] + rel_c * d[:, 1, None, None]) / length2, 0, 1)
    dist = np.hypot(rel_r - t * d[:, 0, None, None], rel_c - t * d[:, 1, None, None])
    stroke = np.clip(width[:, None, None] / 2 + 0.5 - dist, 0, 1) * 255
    return np.maximum(images, stroke.astype(np.uint8))


def european_one(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add the flag: a short stroke from the top of the 1 down to the left."""
    n = len(images)
    top, bottom = _ink_rows(images)
    height = (bottom - top).astype(np.float32)
    start = np.stack([top.astype(np.float32), _mean_col(images, top)], 1)
    angle = np.radians(rng.uniform(25, 55, n))  # below the horizontal, to the left
    length = height * rng.uniform(0.25, 0.45, n)
    end = start + np.stack([np.sin(angle) * length, -np.cos(angle) * length], 1)
    return _draw_segments(images, start, end, rng.uniform(1.8, 2.8, n))


def crossed_seven(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add the crossbar: a short horizontal stroke through the middle of the 7's stem."""
    n = len(images)
    top, bottom = _ink_rows(images)
    row = (top + (bottom - top) * rng.uniform(0.45, 0.6, n)).astype(int)
    centre = _mean_col(images, row)
    half = (bottom - top) * rng.uniform(0.2, 0.3, n)
    tilt = rng.uniform(-1.5, 1.5, n)
    start = np.stack([row + tilt, centre - half], 1).astype(np.float32)
    end = np.stack([row - tilt, centre + half], 1).astype(np.float32)
    return _draw_segments(images, start, end, rng.uniform(1.8, 2.8, n))


def with_variants(images: np.ndarray, labels: np.ndarray, fraction: float,
                  rng: np.random.Generator) -> np.ndarray:
    """A copy of ``images`` where ``fraction`` of the 1s are European and of the 7s crossed."""
    out = images.copy()
    for digit, draw in ((1, european_one), (7, crossed_seven)):
        idx = np.flatnonzero(labels == digit)
        chosen = idx[rng.random(len(idx)) < fraction]
        if len(chosen):
            out[chosen] = draw(images[chosen], rng)
    return out
