"""Read every number in an image: find the ink (shared with single digits), segment it into
lines and pieces, classify every way of joining pieces into a character in one model call, and
let the search pick each line's best reading."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..contract import DIGITS, LINE_HEIGHT, SUM_LINE_CHARS
from ..inference.calibration import calibrate_line
from ..inference.lines import POOLING, LineModel
from ..inference.model import among_digits
from ..vision import ImageSource, locate
from ..vision.components import components
from ..vision.decode import gray_image
from ..vision.filters import extreme_filter
from ..vision.locate import NEAR
from ..vision.normalise import crop_digit, crop_settings, fit_line, fit_mnist, normalise_stroke
from ..vision.pipeline import Ink, Writing, ink_of
from .combine import BALANCE, Balance, Choice, aligned_columns, choose, class_probabilities
from .result import Character, Reading, TextLine
from .search import Candidate, Segmentation, best_segmentation, constraint, penalty, spans
from .segment import InkLine, segment

# Numbers are read at up to this many pixels on the longest side of the writing itself: a
# digit in a 10-digit number across a photo is a few pixels wide in an overview of the frame.
READ_SIDE = 512
# A stroke from top to bottom thinner than this share of the frame's height is print (a form's
# box, a margin), not a pen's 1; in a wide frame, the default (a share of its width) is not.
UPRIGHT_PRINT = 0.03
EDGE_BAND = 0.05  # a band along the frame's border thinner than this share of it is no writing


def _without_sheet_edges(mask: np.ndarray) -> np.ndarray:
    """The mask less thin bands of ink along its border: what is left of the sheet's edge or
    the table beyond it, which would widen the crop around the writing to the frame's edge."""
    height, width = mask.shape
    out = mask.copy()
    for c in components(mask):
        tall, wide = c.bottom - c.top, c.right - c.left
        flat = (c.top == 0 or c.bottom == height) and tall < min(EDGE_BAND * height, wide / 4)
        upright = (c.left == 0 or c.right == width) and wide < min(EDGE_BAND * width, tall / 4)
        if flat or upright:
            for row, start, end in c.runs:
                out[row, start:end] = False
    return out


def focused_ink(source: ImageSource, locator: Writing | None = None) -> Ink:
    """The ink of the writing: found in an overview of the whole image, then again in a crop
    around it at up to READ_SIDE pixels, where digits and marks are large enough to read; with
    ``locator``, only the ink it takes for handwriting, in both."""
    decoded = gray_image(source, READ_SIDE)
    overview = ink_of(decoded, upright_width=UPRIGHT_PRINT, writing=locator)
    groups = locate(_without_sheet_edges(overview.mask))  # empty where no ink stands out
    heaviest = max((g.mass for g in groups), default=0)
    groups = [g for g in groups if g.mass >= 0.02 * heaviest]  # not specks far away
    if not groups:
        return overview
    margin = max(g.bottom - g.top for g in groups) / 2
    top = overview.decoded(min(g.top for g in groups) - margin, 0)
    bottom = overview.decoded(max(g.bottom for g in groups) + margin, 0)
    left = overview.decoded(min(g.left for g in groups) - margin, 1)
    right = overview.decoded(max(g.right for g in groups) + margin, 1)
    box = (max(0, int(left)), max(0, int(top)), min(decoded.width, int(right) + 1),
           min(decoded.height, int(bottom) + 1))
    return ink_of(decoded.crop(box), READ_SIDE, (box[1], box[0]), overview.drafted,
                  upright_width=UPRIGHT_PRINT, writing=locator)


class Scorer(Protocol):
    novelty_threshold: float | None
    classes: str  # what the probabilities' columns stand for: digits first

    def scores(self, images: np.ndarray, tempered: bool = True
               ) -> tuple[np.ndarray, np.ndarray | None]: ...

    def unusual(self, distance: float | None) -> bool: ...


def _character_image(ink: Ink, line: InkLine, start: int, end: int,
                     settings: tuple[int, float]) -> np.ndarray | None:
    """The 28x28 input for pieces [start, end) of a line read as one character: their ink
    only, cut at a piece's edge where a wide group was cut, soft edges kept elsewhere. Works
    in a window around the pieces, which is all that cropping can see."""
    pieces = line.pieces
    chosen = pieces[start:end]
    left, right = chosen[0].left, chosen[-1].right
    reach = 2 * settings[0] + 1
    r0, c0 = max(0, line.top - reach), max(0, left - reach)
    r1, c1 = min(ink.mask.shape[0], line.bottom + reach), min(ink.mask.shape[1], right + reach)
    labels = line.labels[r0:r1, c0:c1]
    mask = np.isin(labels, [p for piece in chosen for p in piece.parts])
    mask[:, : left - c0] = False
    mask[:, right - c0 :] = False
    if not mask.any():
        return None
    others = (labels > 0) & ~mask
    coverage = np.where(others, 0, ink.coverage[r0:r1, c0:c1])  # not the neighbours' ink
    if start > 0 and pieces[start - 1].group == chosen[0].group:
        coverage[:, : left - c0] = 0
    if end < len(pieces) and pieces[end].group == chosen[-1].group:
        coverage[:, right - c0 :] = 0
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    crop, core = crop_digit(coverage, mask, box, settings)
    return fit_mnist(normalise_stroke(crop, core))


def _characters(ink: Ink, line: InkLine, path: Segmentation,
                images: dict[tuple[int, int], np.ndarray]) -> list[Character]:
    out = []
    for char, cand, p in path.chars:
        chosen = line.pieces[cand.start:cand.end]
        top, bottom, left, right = ink.source_box((min(c.top for c in chosen),
                                                   max(c.bottom for c in chosen),
                                                   chosen[0].left, chosen[-1].right))
        out.append(Character(char, (left, top, right, bottom), p, cand.probabilities,
                             images.get((cand.start, cand.end)), cand.unusual))
    return out


def _line_ink(ink: Ink, line: InkLine, reach: int) -> np.ndarray:
    """The soft ink of a line's pieces (grown by ``reach`` for their antialiased edges), without
    other lines' ink, print or specks: what the sequence reader reads, before `fit_line`."""
    left, right = line.pieces[0].left, line.pieces[-1].right
    labels = line.labels[line.top : line.bottom, left:right]
    ours = np.isin(labels, sorted({p for piece in line.pieces for p in piece.parts}))
    near = extreme_filter(ours, 2 * reach + 1, largest=True) & ~((labels > 0) & ~ours)
    return np.where(near, ink.coverage[line.top : line.bottom, left:right], 0)


def line_images(source: ImageSource, math: bool = False,
                locator: Writing | None = None) -> list[np.ndarray]:
    """Each line of writing in ``source`` (of sums, with ``math``), top to bottom, in the
    sequence reader's form (found with ``locator``, where given)."""
    ink = focused_ink(source, locator)
    if ink.refusal():
        return []
    reach = crop_settings(ink.coverage)[0]
    return [fit_line(_line_ink(ink, line, reach)) for line in segment(ink.mask, math)]


def _sequence_characters(ink: Ink, line: InkLine, probs: np.ndarray, text: str,
                         line_width: int, segmented: Segmentation | None,
                         classes: str) -> list[Character]:
    """Characters of a reading no segmentation spells, placed where the sequence reader
    emitted them (columns of the line image mapped back to the ink), with the probabilities
    of ``classes`` where the character is one of them. One standing where the segmentation
    found ink unlike any digit (a letter?) is flagged unusual too."""
    odd = [(line.pieces[c.start].left, line.pieces[c.end - 1].right)
           for _, c, _ in (segmented.chars if segmented else ()) if c.unusual]
    left, right = line.pieces[0].left, line.pieces[-1].right
    margin = LINE_HEIGHT // 4
    scale = (right - left) / max(1, line_width - 2 * margin)  # ink pixels per image pixel
    out = []
    for ch, (first, last) in zip(text, aligned_columns(probs, text), strict=True):
        x0_ink = int(left + max(0.0, (first * POOLING - margin) * scale))
        x1_ink = int(left + min(right - left, ((last + 1) * POOLING - margin) * scale)) + 1
        top, bottom, x0, x1 = ink.source_box((line.top, line.bottom, x0_ink, x1_ink))
        column = probs[(first + last) // 2]
        classified = ch in classes  # a digit or an operator; a mark is read by its shape
        unusual = any(a < x1_ink and x0_ink < b for a, b in odd)
        out.append(Character(ch, (x0, top, x1, bottom),
                             float(column[SUM_LINE_CHARS.index(ch) + 1]) if classified else 1.0,
                             class_probabilities(column, classes) if classified else None,
                             unusual=unusual))
    return out


class _Classify:
    """Candidate characters of each line, classified in one model call per request and
    kept: ``candidates[k]`` of line k, and the 28x28 input of each of its spans."""

    def __init__(self, model: Scorer, ink: Ink, lines: list[InkLine],
                 settings: tuple[int, float], math: bool) -> None:
        self.model, self.ink, self.lines, self.settings = model, ink, lines, settings
        self.classes = model.classes if math else DIGITS
        self.candidates: list[list[Candidate]] = [[] for _ in lines]
        self.images: list[dict[tuple[int, int], np.ndarray]] = [{} for _ in lines]

    def __call__(self, wanted: list[tuple[int, int, int]]) -> None:
        """Classify pieces [start, end) of line k, for each (k, start, end)."""
        jobs, images = [], []
        for k, start, end in wanted:
            image = _character_image(self.ink, self.lines[k], start, end, self.settings)
            if image is not None:
                jobs.append((k, start, end))
                images.append(image)
        if not images:
            return
        model = self.model
        # The search weighs the readers by the network's own probabilities, as it was tuned;
        # the line's confidence is calibrated as a whole, below.
        probs, novelty = model.scores(np.stack(images), tempered=False)
        if self.classes == DIGITS:
            probs = among_digits(probs)
        for n, (k, start, end) in enumerate(jobs):
            pieces, height = self.lines[k].pieces, self.lines[k].height
            width = (pieces[end - 1].right - pieces[start].left) / height
            distance = None if novelty is None else float(novelty[n])
            self.candidates[k].append(Candidate(
                start, end, probs[n], penalty(distance, model.novelty_threshold, width),
                unusual=model.unusual(distance), classes=self.classes))
            self.images[k][(start, end)] = images[n]


def _both(first: Callable[[str], bool] | None,
          second: Callable[[str], bool]) -> Callable[[str], bool]:
    return second if first is None else (lambda text: first(text) and second(text))


def read(model: Scorer, source: ImageSource, digits: tuple[int, int] | None = None,
         pattern: str | None = None, lines_model: LineModel | None = None,
         math: Callable[[str], bool] | None = None, balance: Balance = BALANCE,
         calibration: dict[str, float] | None = None,
         locator: Writing | None = None) -> Reading:
    """Every line of digits in ``source``, each the best reading that has ``digits`` digits
    (a (low, high) range) and matches ``pattern`` in full, where given; with ``lines_model``
    (a sequence reader), the segmentation's and the sequence reader's readings combined.

    With ``math`` (a test of a line's text: is it a well-formed sum?) the lines are sums,
    read with every class the model has (and ``lines_model`` must be a reader of sums): the
    best reading that passes the test, else the best reading. ``balance`` weighs the two
    readers where they disagree. A line's confidence goes through ``calibration`` (the Platt
    scaling in the digit model's card, `calibrate_line`), where given and not ``math``. With
    ``locator``, only what it takes for handwriting is read."""
    ink = focused_ink(source, locator)
    refusal = ink.refusal()
    if refusal:
        return Reading([], refusal)
    lines = segment(ink.mask, math=math is not None)
    if not lines:
        return Reading([], "faint")
    settings = crop_settings(ink.coverage)
    classify = _Classify(model, ink, lines, settings, math is not None)
    classify([(k, start, end) for k, line in enumerate(lines)
              for start, end in spans(line.pieces, NEAR * line.height)])
    fits = constraint(digits, pattern) if digits or pattern else None
    accept = fits if math is None else _both(fits, math)
    out = []
    per_line, seen = classify.candidates, classify.images
    for k, line in enumerate(lines):
        path = best_segmentation(line.pieces, per_line[k], accept)
        if path is None and math is not None:
            # No well-formed sum: perhaps a thin pen broke a dot off a digit. Try the dots as
            # parts of their neighbours too, else say what is written.
            classify([(k, start, end) for start, end in
                      spans(line.pieces, NEAR * line.height, joining=".")
                      if (start, end) not in seen[k]])
            path = (best_segmentation(line.pieces, per_line[k], accept)
                    or best_segmentation(line.pieces, per_line[k], fits))
        if lines_model is None:
            choice = None if path is None else Choice(path.text, path, None, None)
        else:
            image = fit_line(_line_ink(ink, line, settings[0]))
            columns = lines_model.probabilities(image)
            choice = choose(path, columns, line.pieces, per_line[k], accept, balance)
        if choice is None:
            return Reading([], "no_match")
        if not choice.text:
            continue
        chars = (_characters(ink, line, choice.path, seen[k]) if choice.path is not None
                 else _sequence_characters(ink, line, columns, choice.text, image.shape[1],
                                           path, classify.classes))
        confidence = (choice.probability if choice.probability is not None
                      else float(np.prod([c.confidence for c in chars])))
        if math is None:
            confidence = calibrate_line(confidence, calibration)
        out.append(TextLine(choice.text, confidence, chars, choice.agreed))
    return Reading(out, None if out else "faint")
