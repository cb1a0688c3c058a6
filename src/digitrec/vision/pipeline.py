"""Any image of a digit -> the 28x28 image the model was trained on.

MNIST digits are white on black, cropped to their ink, fitted into 20x20 keeping their aspect
ratio and placed in 28x28 with their centre of mass in the middle. Real images (photos of paper,
scans, web-canvas drawings) are none of that; each step brings them closer, one module each:

    decode: decode -> grayscale -> working size
    ink: ink map (polarity, lighting) -> ink mask
    locate: ink groups -> the digit's box
    normalise: crop -> stroke width -> fit 20x20 -> centre of mass in 28x28

Only numpy and Pillow: this runs on the inference path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .components import components, label_map
from .decode import DRAFTED, WORK_SIDE, ImageSource, gray_image, working_size
from .ink import ink_map, ink_mask
from .locate import Box, digit_box
from .normalise import crop_digit, fit_mnist, normalise_stroke

MIN_CONTRAST = 0.12  # ink must differ from the paper by this much of the full range
# Beyond these, what was found is not one digit. MNIST's training digits in this pipeline: soft
# ink fills at most 67% of the digit's box (99.9%: 62%; a solid disc, 75-79%), and the box is
# never over 2.5 times wider than tall.
MAX_SOLIDITY = 0.72
MAX_ASPECT = 2.5
# A box less than half as wide as tall holds one upright stroke, however solid: a 1 drawn as a
# straight line fills its box, yet is no blob.
MAX_STROKE_ASPECT = 0.5
MAX_INK_SHARE = 0.4  # more of the frame than this "ink" is texture or noise

# Why no digit was found: a stable code for machines, and the sentence for people.
REASONS = {
    "no_ink": "no digit found: the image has no ink",
    "faint": "no digit found: nothing stands out from the background",
    "texture": "no digit found: the image is all texture or noise",
    "too_wide": "no digit found: the ink is much wider than a digit (a line, or several digits?)",
    "solid_blob": "no digit found: a solid blob of ink, not pen strokes",
}


@dataclass(frozen=True)
class Processed:
    """The pipeline's result: the 28x28 float image in [0, 1], or why there is none."""

    image: np.ndarray | None
    reason_code: str | None = None  # set when image is None: a key of REASONS
    inverted: bool = False  # dark ink on light paper was inverted

    @property
    def reason(self) -> str | None:
        return None if self.reason_code is None else REASONS[self.reason_code]


@dataclass(frozen=True)
class Ink:
    """An image's ink at the working size: soft coverage in [0, 1], the strict mask of ink
    pixels, whether the image was inverted, how strongly the ink stands out, and how working
    pixels map back to the source's."""

    coverage: np.ndarray
    mask: np.ndarray
    inverted: bool
    contrast: float
    scale: float = 1.0  # working pixels per decoded pixel
    pad: int = 0  # margin added around a tiny image, in decoded pixels
    origin: tuple[int, int] = (0, 0)  # where the working area starts, in decoded pixels
    drafted: float = 1.0  # source pixels per decoded pixel (large JPEGs decode smaller)

    def refusal(self) -> str | None:
        """Why no writing can be read in this ink at all: "no_ink" when nothing stands out
        enough to be ink, "texture" when too much of it does; else None."""
        if self.contrast < MIN_CONTRAST:
            return "no_ink"
        return "texture" if self.mask.mean() > MAX_INK_SHARE else None

    def decoded(self, value: float, axis: int) -> float:
        """A working coordinate along ``axis`` (0 rows, 1 columns) in decoded pixels."""
        return value / self.scale - self.pad + self.origin[axis]

    def source_box(self, box: Box) -> Box:
        """A (top, bottom, left, right) box at the working size, in the source's pixels."""
        return tuple(max(0, round(self.decoded(v, k // 2) * self.drafted))  # type: ignore
                     for k, v in enumerate(box))


# A locator's map (`inference.locator`): an ink map in, the probability of handwriting out.
Writing = Callable[[np.ndarray], np.ndarray]
# Chosen on the real dev rows and on composed cells (bench/NOTES.md): the locator is less sure
# of real writing (a thin 1, a minus sign: 0.2-0.4) than of composed writing, so a group is
# judged by how much of it is at all likely, not by its surest pixel.
LIKELY = 0.1
WRITTEN = 0.4
NO_WRITING = 0.05


def only_writing(mask: np.ndarray, writing: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` (groups of touching ink) that ``writing`` (each pixel's
    probability of handwriting) takes for handwriting. A group most of whose pixels are at
    least LIKELY is writing, less the pixels the locator is sure are none (under NO_WRITING: a
    rule running through a digit); of any other group (print, a rule, a border, a margin, a
    pattern, or writing fused with one) only the pixels at WRITTEN or above stay."""
    parts = components(mask)
    labels = label_map(mask.shape, parts)
    inked, groups = labels[mask], len(parts) + 1
    likely = (np.bincount(inked, writing[mask] >= LIKELY, groups)
              / np.maximum(1, np.bincount(inked, minlength=groups)))
    writing_group = (likely >= 0.5)[labels]
    return mask & np.where(writing_group, writing >= NO_WRITING, writing >= WRITTEN)


def ink_of(gray: Image.Image, work_side: int = WORK_SIDE, origin: tuple[int, int] = (0, 0),
           drafted: float | None = None, upright_width: float | None = None,
           writing: Writing | None = None) -> Ink:
    """The ink of a decoded grayscale image, worked at ``work_side`` pixels at most (see
    `ink_mask` for ``upright_width``); with ``writing`` (a locator), only the ink it takes for
    handwriting."""
    array, scale, pad = working_size(gray, work_side)
    coverage, inverted, contrast = ink_map(array)
    mask = (ink_mask(coverage, upright_width) if contrast >= MIN_CONTRAST
            else np.zeros(array.shape, bool))
    if writing is not None and mask.any():
        mask = only_writing(mask, writing(coverage))
    return Ink(coverage, mask, inverted, contrast, scale, pad, origin,
               drafted or gray.info.get(DRAFTED, 1.0))


def find_ink(source: ImageSource, writing: Writing | None = None) -> Ink:
    """Decode any image and find its ink (with ``writing``, a locator, only the ink it takes
    for handwriting): the part of the pipeline every reader shares."""
    return ink_of(gray_image(source), writing=writing)


def preprocess(source: ImageSource, writing: Writing | None = None) -> Processed:
    """The whole pipeline: any image in, the model's 28x28 (or the reason there is none) out;
    with ``writing`` (a locator), the digit is looked for only in what it takes for
    handwriting (not a cell's border, print or a page's rules)."""
    ink = find_ink(source, writing)
    refusal = ink.refusal()
    if refusal:
        return Processed(None, refusal, ink.inverted)
    box = digit_box(ink.mask)
    if box is None:  # an empty mask: "texture" needs ink, so the order of checks is moot
        return Processed(None, "faint", ink.inverted)
    crop, core = crop_digit(ink.coverage, ink.mask, box)
    if crop.shape[1] > MAX_ASPECT * crop.shape[0]:
        return Processed(None, "too_wide", ink.inverted)
    if crop.mean() > MAX_SOLIDITY and crop.shape[1] > MAX_STROKE_ASPECT * crop.shape[0]:
        return Processed(None, "solid_blob", ink.inverted)
    return Processed(fit_mnist(normalise_stroke(crop, core)), None, ink.inverted)
