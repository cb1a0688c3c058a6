"""Where the ink is: a lighting-free ink map, then a mask of the pixels that are ink.

Polarity (dark ink on paper, or chalk on a board), shadows, gradients, ruled lines and the
sheet's edge are all dealt with here, so later steps see bright strokes on black.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from .filters import extreme_filter, noise_floor, otsu, quantiles, sum3x3


def ink_map(gray: np.ndarray, dark_ink: bool | None = None) -> tuple[np.ndarray, bool, float]:
    """Ink bright on a flat black background: (ink in [0, 1], inverted?, contrast).

    Polarity: ink is a long tail on one side of the background (a small digit is under 1% of
    a photo, hence the extreme quantiles) once the light's large-scale changes are taken out:
    a shadow over half the sheet would otherwise make the longer tail. Those are the median
    over windows of about 40% of the frame, wider than a big digit's densest strokes. A longer
    dark tail means dark ink (``dark_ink`` says so where the caller knows: a form's heavy print
    and a dark table around it can outweigh thin pen strokes). Lighting: viewed as dark ink on
    bright paper, a closing (max, then min filter, wider than any stroke) erases the strokes
    but keeps shadows and the table beyond the sheet with their edges in place; light is
    multiplicative, so dividing cancels it.
    """
    h, w = gray.shape
    coarse = Image.fromarray(gray).resize((max(3, w // 16), max(3, h // 16)), Image.BOX)
    light = np.asarray(coarse.filter(ImageFilter.MedianFilter(7)).resize((w, h), Image.BILINEAR))
    lo, mid, hi = quantiles((gray - light + 1) / 2, (0.001, 0.5, 0.999))
    inverted = bool(mid - lo > hi - mid) if dark_ink is None else dark_ink
    dark_ink = gray if inverted else 1.0 - gray
    small = np.asarray(Image.fromarray(dark_ink).resize((max(3, w // 4), max(3, h // 4)),
                                                        Image.BOX))
    # 11 cells of 4 pixels: wider than a thick marker on a digit filling the frame.
    closed = extreme_filter(extreme_filter(small, 11, largest=True), 11, largest=False)
    paper = np.asarray(Image.fromarray(closed).resize((w, h), Image.BILINEAR), dtype=np.float32)
    flat = np.clip(1.0 - dark_ink / np.maximum(paper, 1e-3), 0, 1)
    contrast = quantiles(flat, (0.999,))[0]
    if contrast > 0:
        flat = np.clip(flat / contrast, 0, 1)
    return flat, inverted, contrast


def ink_mask(ink: np.ndarray, upright_width: float | None = None) -> np.ndarray:
    """Which pixels are ink: a noise-aware Otsu threshold, specks and ruled lines removed.

    Lines from top to bottom count as ruled when thinner than 2.5% of the frame's width, or
    than ``upright_width`` of its height where given: in a crop around a line of writing a 1
    is as tall as a printed box's edge, and only thinner strokes are print."""
    # A 3x3 mean first: sensor noise (amplified in shadows by the division) averages out,
    # strokes do not.
    ink = sum3x3(np.pad(ink, 1, mode="edge")) / 9
    sample = ink[::2, ::2]  # statistics of the background: every 4th pixel is plenty
    threshold = max(otsu(sample), noise_floor(sample, 4), 0.2)
    mask = ink > threshold
    # A 3x3 majority (the median of a binary image) drops isolated specks and paper grain but
    # keeps strokes 2+ pixels wide.
    mask = sum3x3(np.pad(mask, 1).astype(np.uint8)) >= 5
    mask[_lines(mask.mean(1)), :] = False
    width = None if upright_width is None else upright_width * mask.shape[0]
    mask[:, _lines(mask.mean(0), width)] = False
    return mask


def _lines(coverage: np.ndarray, thin: float | None = None) -> np.ndarray:
    """Rows (or columns) that are ruled lines or the sheet's edge, from each one's ink coverage.

    A ruled line is thin and crosses half the frame or more (noise breaks it up); the sheet's
    edge leaves a band across most of the frame, within a tenth of the frame from its border
    with nothing in between. A digit is neither: even a 7's bar in a tightly cropped image is
    thicker than a line and shorter than the frame. ``thin`` is a ruled line's widest, in
    pixels: by default 2.5% of the frame.
    """
    n = len(coverage)
    thin = max(1, int(0.025 * n)) if thin is None else max(1, int(thin))
    out = np.zeros(n, bool)
    empty = coverage < 0.01
    near = max(1, n // 10)

    def at_edge(s: int, e: int) -> bool:
        return bool((s <= near and empty[:s].all()) or (e >= n - near and empty[e:].all()))

    for threshold, keep in ((0.5, lambda s, e: e - s <= thin),
                            (0.75, at_edge)):
        flagged = np.concatenate(([0], (coverage > threshold).astype(np.int8), [0]))
        edges = np.flatnonzero(np.diff(flagged))
        for start, end in zip(edges[::2], edges[1::2], strict=False):
            if keep(start, end):
                out[max(0, start - 1) : end + 1] = True  # and the blurred row beside it
    return out
