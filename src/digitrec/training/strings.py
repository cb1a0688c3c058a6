"""Handwritten numbers composed on the fly from isolated MNIST digits, for the sequence reader.

As Hochuli et al. (2018) did with NIST's digits: each sample is a random string of 1-12
characters (digits, and in a share a decimal point, a comma or a minus sign) written on one line
with its neighbours anywhere from 30% overlapped to wide apart, some pairs joined by a
connecting stroke, some strokes broken, the baseline drifting and each digit its own size, slant
and pen. The line is then cut to its ink's rows and scaled to LINE_HEIGHT, as the reader does
with a line it found; a share of them (LOOKS) is first saved as a photo, scan, form or canvas
file and found again by the reader's own line finding. A sample depends only on (seed, epoch,
index), so a resumed run sees what an unbroken one would.

Where who wrote each digit is known (`digitrec.writers`: QMNIST's ids for MNIST's digits, each
other source's own), a share (ONE_WRITER) of the strings take all their digits from one writer,
as a real number is written: one hand's 4s and 7s beside each other, one pen pressure and size.

Given real lines (`digitrec.corpus`, `train --real`), a share (REAL) of the samples are those,
each a little rescaled, dimmed and noised so that a few hundred lines are not learned by heart.

A reader of sums (`digitrec calc`) learns from the same strings, of which a share (SUMS) are
sums: numbers joined by + - × ÷, some in brackets, often ending in "=" and sometimes an answer,
the operators drawn by `digitrec.operators` in every form people write them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ..contract import LINE_HEIGHT, SUM_LINE_CHARS
from ..errors import DigitrecError
from ..inference.locator import Locator, load_locator
from ..reading.lines import line_images
from ..synthetic import SPACINGS, form_layer, number_layer, on_file
from ..vision.normalise import fit_line
from .scenes import around
from .texts import number_text, sum_text

JOINED = 0.15  # chance that a neighbouring pair is joined by a connecting stroke
BROKEN = 0.1  # chance that a string has a stroke broken by a faint pen
PENS = ("normal", "thin", "thick")
# Share of strings handed over as a file (a photo, a scan, a comb form or a web canvas, as the
# benchmark renders them, or a table's cell, a form's line, a cheque or lined paper around
# them: `scenes.around`) and found again as `read` finds a line, through the shipped
# handwriting locator: the reader then learns the ink it is given at inference (what the
# locator kept of the print and rules, thresholded, re-scaled), not only clean ink.
LOOKS = 0.4
LOOK_STYLES = {"photo": 0.3, "scan": 0.15, "form": 0.15, "canvas": 0.15, "context": 0.25}
RAISED = 0.3  # share of decimal points written at mid-height (20·5), as in British writing
COARSE = 0.15  # of those, written so small that the pixels show when enlarged (a zoomed crop)
SPACING_SHARE = {"gap": 0.4, "touch": 0.35, "overlap": 0.25}
SUMS = 0.6  # share of a reader of sums' strings that are sums; the rest are numbers
# Share of the samples that are real lines, when some are given: enough that each of a few
# hundred lines comes back a few dozen times an epoch, little enough that the generated
# variety (every length, spacing and look) still makes most of what the reader sees.
REAL = 0.2
ONE_WRITER = 0.5  # share of strings written by one writer, where the digits' writers are known


@dataclass(frozen=True)
class Sample:
    image: np.ndarray  # (LINE_HEIGHT, width) float32 in [0, 1], ink white on black
    text: str


def _join_and_break(strip: np.ndarray, rng: np.random.Generator, height: int) -> None:
    """Connecting strokes between some neighbours along the baseline, and a gap rubbed out
    of a stroke: what separates real strings from isolated digits set side by side."""
    cols = strip.max(0) > 0.3
    runs = np.flatnonzero(np.diff(np.concatenate(([0], cols.astype(np.int8), [0]))))
    starts, ends = runs[::2], runs[1::2]
    draw_on = Image.fromarray(strip)
    draw = ImageDraw.Draw(draw_on)
    pen = max(1, round(0.08 * height))
    for end, start in zip(ends[:-1], starts[1:], strict=True):
        if rng.random() < JOINED:
            left_rows = np.flatnonzero(strip[:, end - 1] > 0.3)
            right_rows = np.flatnonzero(strip[:, start] > 0.3)
            if len(left_rows) and len(right_rows):
                draw.line((end - 1, int(left_rows[-1]), start, int(right_rows[-1])),
                          fill=1.0, width=pen)
    strip[:] = np.asarray(draw_on)
    if rng.random() < BROKEN:
        inked = np.flatnonzero(cols)
        if len(inked):
            x = int(rng.choice(inked))
            strip[:, x : x + max(1, pen // 2 + 1)] *= 0.1


def _coarse(strip: np.ndarray, rng: np.random.Generator, height: int) -> np.ndarray:
    """The strip as a digit height of 8-14 pixels would give it, enlarged without smoothing."""
    scale = rng.uniform(8, 14) / height
    h, w = strip.shape
    small = Image.fromarray(strip).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                          Image.BILINEAR)
    return np.asarray(small.resize((w, h), Image.NEAREST))


def _as_read(text: str, chosen: list[np.ndarray], height: int, rng: np.random.Generator,
             spacing: str, pen: str, math: bool = False) -> np.ndarray | None:
    """The string drawn in one of LOOK_STYLES, saved as that style's file and found again by
    the reader's own line finding (as a sum's, with ``math``); None where it does not find
    exactly one line."""
    styles = list(LOOK_STYLES)
    style = str(rng.choice(styles, p=[LOOK_STYLES[k] for k in styles]))
    if style == "form":
        strip = form_layer(text, chosen, height, rng, pen, RAISED)
    else:
        strip = number_layer(text, chosen, height, rng, spacing, pen, RAISED)
        _join_and_break(strip, rng, height)
    if rng.random() < COARSE:
        strip = _coarse(strip, rng, height)
    h, w = strip.shape
    frame = (int(max(w, h) * rng.uniform(1.15, 1.6)), int(h * rng.uniform(1.5, 3)))
    image = (np.uint8(around(strip, rng) * 255) if style == "context"
             else on_file(strip, style, rng, [style], frame).data)
    try:
        lines = line_images(image, math, _locator())
    except DigitrecError:  # a file `read` refuses: it is never read, so never trained on
        return None
    return lines[0] if len(lines) == 1 else None


@functools.cache
def _locator() -> Locator | None:
    """The shipped locator, one thread (each process composing strings loads its own)."""
    return load_locator(threads=1)


def _digit(d: int, pools: list[np.ndarray], hand: list[np.ndarray] | None,
           rng: np.random.Generator) -> np.ndarray:
    """An image of ``d``: the writer's (``hand``) where they wrote one, else anyone's."""
    pool = hand[d] if hand is not None and len(hand[d]) else pools[d]
    return pool[int(rng.integers(0, len(pool)))]


def sample(pools: list[np.ndarray], rng: np.random.Generator,
           spacings: tuple[str, ...] = tuple(SPACINGS), looks: float = LOOKS,
           sums: float = 0.0, hand: list[np.ndarray] | None = None) -> Sample:
    """One random string, each digit drawn from ``pools[d]`` (MNIST images of d), or from one
    writer's ``hand`` (their images of each digit) where given; its neighbours one of
    ``spacings`` apart (keys of SPACINGS); a share ``looks`` of them rendered as files and
    found again, a share ``sums`` of them sums."""
    math = bool(sums) and rng.random() < sums
    text = sum_text(rng) if math else number_text(rng)
    chosen = [_digit(int(ch), pools, hand, rng) for ch in text if ch.isdigit()]
    height = int(rng.integers(34, 56))  # drawn larger than the line, then scaled down
    weights = np.array([SPACING_SHARE[k] for k in spacings])
    spacing = str(rng.choice(list(spacings), p=weights / weights.sum()))
    pen = str(rng.choice(PENS))
    if rng.random() < looks:
        found = _as_read(text, chosen, height, rng, spacing, pen, math)
        if found is not None:
            return Sample(found, text)
    strip = number_layer(text, chosen, height, rng, spacing, pen, RAISED)
    _join_and_break(strip, rng, height)
    image = fit_line(strip)
    if rng.random() < 0.5:  # the reader's ink is soft and a little noisy, not a clean render
        image = np.clip(image + rng.normal(0, 0.05, image.shape).astype(np.float32), 0, 1)
    return Sample(image, text)


def varied(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A real line as another pen and zoom might have given it: 85-115% as wide, its ink
    70-100% as bright, a little noise."""
    width = max(1, round(image.shape[1] * rng.uniform(0.85, 1.15)))
    resized = np.asarray(Image.fromarray(image).resize((width, LINE_HEIGHT), Image.BILINEAR))
    noisy = resized * rng.uniform(0.7, 1.0) + rng.normal(0, 0.03, resized.shape)
    return np.clip(noisy, 0, 1).astype(np.float32)


def hands(images: np.ndarray, labels: np.ndarray, writers: np.ndarray
          ) -> list[list[np.ndarray]]:
    """Each writer's images of each digit (writers in sorted order; other characters left
    out)."""
    digit = labels < 10
    images, labels, writers = images[digit], labels[digit], writers[digit]
    names, which = np.unique(writers, return_inverse=True)
    order = np.lexsort((labels, which))  # grouped by writer, then by digit
    bounds = np.searchsorted(which[order] * 10 + labels[order].astype(np.int64),
                             np.arange(len(names) * 10 + 1))
    return [[images[order[bounds[w * 10 + d]: bounds[w * 10 + d + 1]]] for d in range(10)]
            for w in range(len(names))]


class Strings:
    """An endless supply of strings from a set of digits (MNIST's form, white on black), a
    share ONE_WRITER of them by one writer where ``writers`` (each digit's writer) is given,
    a share REAL of them ``real`` lines (images, texts) where given: sample ``index`` of
    ``epoch`` is the same every time it is asked for."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int = 0,
                 sums: float = 0.0,
                 real: tuple[list[np.ndarray], list[str]] | None = None,
                 writers: np.ndarray | None = None) -> None:
        self.pools = [images[labels == d] for d in range(10)]
        self.hands = hands(images, labels, writers) if writers is not None else []
        self.seed, self.sums, self.real = seed, sums, real

    def get(self, epoch: int, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.real is not None and rng.random() < REAL:
            k = int(rng.integers(len(self.real[1])))
            return Sample(varied(self.real[0][k], rng), self.real[1][k])
        hand = None
        if self.hands and rng.random() < ONE_WRITER:  # no draw without writers: same strings
            hand = self.hands[int(rng.integers(len(self.hands)))]
        return sample(self.pools, rng, sums=self.sums, hand=hand)

    def batch(self, epoch: int, start: int, size: int) -> tuple[np.ndarray, list[str],
                                                                 np.ndarray]:
        """Samples [start, start + size) of ``epoch`` as one zero-padded array (N, 1, H, W),
        their texts, and each one's width before padding."""
        samples = [self.get(epoch, start + k) for k in range(size)]
        widths = np.array([s.image.shape[1] for s in samples])
        out = np.zeros((size, 1, LINE_HEIGHT, int(widths.max())), np.float32)
        for k, s in enumerate(samples):
            out[k, 0, :, : s.image.shape[1]] = s.image
        return out, [s.text for s in samples], widths


def encode(text: str) -> list[int]:
    """A text as CTC class indices (blank is 0), in the alphabet every reader's is a prefix of."""
    return [SUM_LINE_CHARS.index(ch) + 1 for ch in text]
