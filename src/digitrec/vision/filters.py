"""Small numeric tools of the image pipeline, in numpy alone: window filters, histogram
quantiles, thresholds. Written for the sizes the pipeline works at, where they cost a fraction
of the general-purpose versions."""

from __future__ import annotations

import numpy as np


def sum3x3(padded: np.ndarray) -> np.ndarray:
    """Sum over each 3x3 neighbourhood of an array padded by one pixel on every side."""
    h, w = padded.shape[0] - 2, padded.shape[1] - 2
    return sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))



def extreme_filter(a: np.ndarray, size: int, largest: bool) -> np.ndarray:
    """Max (or min) over a size x size window: two 1-D passes, far cheaper than Pillow's
    sorting rank filter at the sizes used here. Edges repeat the border value."""
    if size < 2:
        return a
    pick = np.maximum if largest else np.minimum
    r = size // 2
    for _ in range(2):  # along rows, then (transposed) along columns
        n = len(a)
        padded = np.concatenate([a[:1]] * r + [a] + [a[-1:]] * (size - 1 - r))
        out = padded[:n].copy()
        for k in range(1, size):
            pick(out, padded[k : k + n], out=out)
        a = out.T
    return np.ascontiguousarray(a)


def _histogram(values: np.ndarray) -> np.ndarray:
    """Counts of values in [0, 1] over 256 bins: np.histogram's work at a fraction of its cost."""
    return np.bincount((np.clip(values, 0, 1) * 255).astype(np.uint8).ravel(), minlength=256)


def quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Quantiles of values in [0, 1], to 1/255: plenty for thresholds, and cheap."""
    cumulative = np.cumsum(_histogram(values))
    return [float(np.searchsorted(cumulative, q * cumulative[-1])) / 255 for q in qs]


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold: the level that best splits values in [0, 1] into two classes."""
    p = _histogram(values) / values.size
    levels = np.arange(256) / 255
    omega = np.cumsum(p)
    mu = np.cumsum(p * levels)
    between = (mu[-1] * omega - mu) ** 2 / np.maximum(omega * (1 - omega), 1e-12)
    return float(levels[int(np.argmax(between[:-1])) + 1])


def noise_floor(values: np.ndarray, k: float) -> float:
    """Median plus k robust standard deviations (from the median absolute deviation): where
    the mostly-background values end and ink begins."""
    med = quantiles(values, (0.5,))[0]
    return med + k * 1.4826 * quantiles(np.abs(values - med), (0.5,))[0]


