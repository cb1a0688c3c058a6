"""The located digit -> MNIST's form: cropped with its soft edges, strokes moved towards MNIST's
width, fitted into 20x20 keeping its aspect ratio, centred by mass in 28x28. And a line of
writing -> the sequence reader's form: cut to its ink, LINE_HEIGHT rows high."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..contract import LINE_HEIGHT, SIDE
from .filters import extreme_filter, noise_floor
from .locate import Box

# Stroke width / digit box, as `normalise_stroke` measures it on MNIST's own test digits after
# this pipeline: median 0.100, 10th-90th percentile 0.081-0.138.
MNIST_STROKE = 0.10


def crop_settings(ink: np.ndarray) -> tuple[int, float]:
    """How far past the strict mask a digit's soft edges reach, and how faint ink may be to
    count, for an ink map: measured once per image, shared by every digit in it."""
    return max(1, max(ink.shape) // 48), max(0.05, noise_floor(ink[::2, ::2], 3))


def crop_digit(ink: np.ndarray, mask: np.ndarray, box: Box,
               settings: tuple[int, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The digit's soft ink, antialiased edges included, cropped to where that ink is, and
    the strict ink mask over the same crop.

    The strict mask finds the digit; the pixels kept are the faint ink around it too (MNIST's
    digits have soft edges), within a margin that reaches past the strict mask's edge.
    """
    margin, faint = settings or crop_settings(ink)
    top, bottom, left, right = box
    # Only a window reaching twice the margin past the box can matter: growing the mask by
    # the margin there sees everything growing the whole mask would.
    r0, c0 = max(0, top - 2 * margin), max(0, left - 2 * margin)
    ink = ink[r0 : bottom + 2 * margin, c0 : right + 2 * margin]
    mask = mask[r0 : bottom + 2 * margin, c0 : right + 2 * margin]
    grown = extreme_filter(mask, 2 * margin + 1, largest=True)
    top, left = max(0, top - r0 - margin), max(0, left - c0 - margin)
    bottom, right = bottom - r0 + margin, right - c0 + margin
    soft = np.where(grown & (ink > faint), ink, 0)[top:bottom, left:right]
    if not soft.any():
        # A few specks can be ink to the mask yet fainter than the floor everywhere: then the
        # mask is all the digit there is.
        soft = mask[top:bottom, left:right].astype(np.float32)
    rows, cols = np.flatnonzero(soft.any(1)), np.flatnonzero(soft.any(0))
    soft = soft[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    core = mask[top:bottom, left:right][rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return soft, core


def normalise_stroke(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Thicken hairlines and thin marker strokes towards MNIST's stroke width.

    The width estimate reads thick, curved strokes low, so the correction goes only halfway,
    which overshoots neither way (a filter of size k changes the width by k - 1)."""
    area = mask.sum()
    edge = (mask & ~extreme_filter(mask, 3, largest=False)).sum()
    if edge == 0:
        return ink
    box = max(mask.shape)
    width = 2 * area / edge  # for a long stroke: area = length * width, edge = 2 * length
    target = MNIST_STROKE * box
    size = round(abs(target - width) / 2) // 2 * 2 + 1  # odd filter size
    if size < 3 or 0.8 * target < width < 1.6 * target:  # close enough to MNIST: leave it
        return ink
    out = extreme_filter(ink, size, largest=width < target)
    # Thinning can erase a few specks altogether (their "strokes" are narrower than the
    # filter): then there was nothing to thin.
    return out if out.any() else ink


def fit_mnist(crop: np.ndarray) -> np.ndarray:
    """Fit the cropped digit into 20x20 keeping its aspect ratio, centre its mass in 28x28."""
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, Image.LANCZOS),
                       dtype=np.float32)
    small = np.clip(small, 0, None)
    peak = small.max()
    if peak > 0:
        small = np.clip(small / peak, 0, 1)
    ys, xs = np.indices(small.shape)
    mass = small.sum()
    if mass > 0:
        cy, cx = (ys * small).sum() / mass, (xs * small).sum() / mass
    else:  # nothing survived the resize: centre the box instead
        cy, cx = (small.shape[0] - 1) / 2, (small.shape[1] - 1) / 2
    top = round(14.0 - cy)
    left = round(14.0 - cx)
    top, left = (min(max(top, 0), SIDE - small.shape[0]),
                 min(max(left, 0), SIDE - small.shape[1]))
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return out


def fit_line(coverage: np.ndarray, height: int = LINE_HEIGHT) -> np.ndarray:
    """A line's ink coverage (white on black, in [0, 1]) cut to its rows and columns, scaled
    to ``height`` rows keeping its aspect ratio, with a quarter of that in paper either side:
    the form both training and reading give the sequence reader."""
    rows = np.flatnonzero(coverage.max(1) > 0.05)
    cols = np.flatnonzero(coverage.max(0) > 0.05)
    if not len(rows):
        return np.zeros((height, height), np.float32)
    ink = coverage[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)
    width = max(1, round(ink.shape[1] * height / ink.shape[0]))
    scaled = np.asarray(Image.fromarray(ink).resize((width, height), Image.BILINEAR,
                                                    reducing_gap=2.0), np.float32)
    margin = height // 4
    return np.pad(np.clip(scaled, 0, 1), ((0, 0), (margin, margin)))
