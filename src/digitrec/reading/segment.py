"""A line of handwriting -> the pieces a reading is made of.

The ink of an image is split into lines (bands of rows with ink). In each line, connected
groups of ink that share most of their columns are one character (a 5 whose hat is detached,
a 4 drawn in two strokes, a stroke broken by a faint pen). Small groups are marks, read by
their shape and place in the line: a dot on the baseline is a decimal point, a short tail
below it a comma, a short level dash at mid-height a minus sign; specks are dropped. A group
too wide for one digit is cut into pieces at the thinnest columns of its ink, so that the
search can try reading it as one, two or more digits; it is the classifier that decides.

A sum (``math``) is read with the same rules and a few more, where a calculator's classifier
alone could not tell: two short level dashes one above the other are "=", a dot at mid-height
multiplies (on the baseline it is a decimal point), and a minus sign may stand anywhere.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..vision.components import Component, components, label_map

# Relative to the height of the line's digits.
SPECK = 0.1  # marks smaller than this on both sides are dirt, not writing
# ...in a sum, where a dot written with a fine pen multiplies: only the well-formed readings
# count there, which leaves dirt little room to pass as a point.
MATH_SPECK = 0.06
MARK = 0.55  # groups lower than this (and narrow) are marks, not digits
# A round dot no larger than this standing at mid-height is a decimal point in a number (in a
# sum it multiplies); small enough that a 0 written tiny is not taken for one.
RAISED_DOT = 0.3
WIDE = 0.8  # groups wider than this may hold several digits
MIN_PIECE = 0.3  # cuts are at least this far apart, and from a group's edges
EDGE_THIN = 0.08  # a form's box edge is no wider than this share of its height
EDGE_TALL = 1.1  # ...and taller than the line's other groups (their median) by this
MERGE_OVERLAP = 0.5  # groups sharing this much of the narrower one's columns are one character


@dataclass(frozen=True)
class Piece:
    """Columns [left, right) of one character group, or a whole mark.

    ``parts`` are the ink components it draws from; a piece cut from a wide group shares the
    group's parts and keeps only its own columns of them."""

    left: int
    right: int
    top: int
    bottom: int
    group: int  # pieces of the same group can join into one digit
    parts: tuple[int, ...]  # labels of its ink components in the line's label map
    mark: str | None = None  # ".", ",", "-" (and in a sum "=", "×"); None for a character


@dataclass(frozen=True)
class InkLine:
    top: int
    bottom: int
    pieces: list[Piece]
    height: float  # of the line's digits, in working pixels
    labels: np.ndarray  # the image's shape: each ink pixel of the line has its component's label


def _bands(mask: np.ndarray) -> list[tuple[int, int]]:
    """Bands of rows holding ink, one per line of writing. A band much lower than the tallest
    (a detached dot, hat or dash) joins its nearest neighbour; bands whose ink shares columns
    across a gap shorter than a third of the smaller one (a stroke broken by a faint pen) are
    one band."""
    rows = np.flatnonzero(mask.any(1))
    if not len(rows):
        return []
    breaks = np.flatnonzero(np.diff(rows) > 1)
    bands = [[int(s), int(e) + 1] for s, e in zip(rows[np.r_[0, breaks + 1]],
                                                   rows[np.r_[breaks, len(rows) - 1]],
                                                   strict=True)]
    k = 0
    while k < len(bands) - 1:
        (s0, e0), (s1, e1) = bands[k], bands[k + 1]
        shared = (mask[s0:e0].any(0) & mask[s1:e1].any(0)).any()
        if shared and s1 - e0 < min(e0 - s0, e1 - s1) / 3:
            bands[k : k + 2] = [[s0, e1]]
        else:
            k += 1
    tallest = max(e - s for s, e in bands)
    while len(bands) > 1:
        small = [i for i, (s, e) in enumerate(bands) if e - s < 0.5 * tallest]
        if not small:
            break
        i = small[0]
        gaps = [(bands[i][0] - bands[i - 1][1], i - 1) if i > 0 else (np.inf, -1),
                (bands[i + 1][0] - bands[i][1], i + 1) if i + 1 < len(bands) else (np.inf, -1)]
        j = min(gaps)[1]
        a, b = sorted((i, j))
        bands[a] = [bands[a][0], bands[b][1]]
        del bands[b]
    return [(s, e) for s, e in bands]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Shared columns of two spans, as a share of the narrower."""
    shared = min(a[1], b[1]) - max(a[0], b[0])
    return max(0, shared) / max(1, min(a[1] - a[0], b[1] - b[0]))


def _groups(parts: list[Component]) -> list[list[Component]]:
    """Components sharing most of their columns, joined; left to right."""
    groups: list[list[Component]] = []
    for part in sorted(parts, key=lambda c: c.left):
        span = (part.left, part.right)
        for group in groups:
            if _overlap(span, (min(c.left for c in group), max(c.right for c in group))) \
                    >= MERGE_OVERLAP:
                group.append(part)
                break
        else:
            groups.append([part])
    return sorted(groups, key=lambda g: min(c.left for c in g))


def _box(group: list[Component]) -> tuple[int, int, int, int]:
    return (min(c.top for c in group), max(c.bottom for c in group),
            min(c.left for c in group), max(c.right for c in group))


def _box_edges(boxes: list[tuple[int, int, int, int]]) -> set[int]:
    """Which groups are the printed edges of a form's boxes: hairline uprights standing on the
    same rules, two or more, taller than the line's other ink. (A pen's 1 is thicker for its
    height, and no taller than its neighbours.)"""
    thin = [k for k, (t, b, x0, x1) in enumerate(boxes) if x1 - x0 <= EDGE_THIN * (b - t)]
    others = [b - t for k, (t, b, _, _) in enumerate(boxes) if k not in thin]
    if len(thin) < 2 or not others:
        return set()
    tops = np.median([boxes[k][0] for k in thin])
    bottoms = np.median([boxes[k][1] for k in thin])
    level = 0.1 * (bottoms - tops)
    edges = {k for k in thin if abs(boxes[k][0] - tops) <= level
             and abs(boxes[k][1] - bottoms) <= level}
    if len(edges) < 2 or bottoms - tops < EDGE_TALL * float(np.median(others)):
        return set()
    return edges


def _mark(box: tuple[int, int, int, int], height: float, band: tuple[float, float]) -> str | None:
    """What a small group is: ".", ",", "-", or None if it is no mark."""
    top, bottom, left, right = box
    h, w = bottom - top, right - left
    if h >= MARK * height or w >= 0.7 * height:
        return None
    middle = (top + bottom) / 2
    base_top, baseline = band
    relative = (middle - base_top) / max(1.0, baseline - base_top)  # 0 at the top, 1 at base
    if w >= 1.8 * h and w >= 0.2 * height and 0.25 < relative < 0.8:
        return "-"
    if relative > 0.6 and h > 1.3 * w and bottom > baseline + 0.1 * height:
        return ","  # a short tail hanging below the line (a dot sits on it)
    round_dot = 0.6 <= w / max(h, 1) <= 1.7
    if relative > 0.6 and max(h, w) <= 0.4 * height and round_dot:
        return "."  # round: a dot, however thick the pen
    if relative > 0.3 and max(h, w) <= RAISED_DOT * height and round_dot:
        return "."  # a raised point, as Britain, India and the old registers write it
    return None


def _math_mark(group: list[Component], box: tuple[int, int, int, int], height: float,
               band: tuple[float, float]) -> str | None:
    """What a small group in a sum is: "=" (two level dashes, one above the other), "×" (a
    dot at mid-height), else what it is in a number, less the comma (sums have none)."""
    parts = [c for c in group
             if max(c.bottom - c.top, c.right - c.left) >= MATH_SPECK * height]
    top, bottom = box[:2]
    if len(parts) == 2 and bottom - top < MARK * height:
        upper, lower = sorted(parts, key=lambda c: c.top)
        if upper.bottom <= lower.top and all(
                c.right - c.left >= 1.8 * (c.bottom - c.top)
                and c.right - c.left >= 0.2 * height for c in parts):
            return "="
    mark = _mark(box, height, band)
    if mark != ".":
        return None if mark == "," else mark
    relative = ((top + bottom) / 2 - band[0]) / max(1.0, band[1] - band[0])
    if len(parts) == 1 and relative <= 0.6:
        return "×"  # the raised dot a number would take for its point
    return mark


def _cuts(mask: np.ndarray, left: int, right: int, height: float) -> list[int]:
    """Where a wide group may be cut: the columns of least ink, a piece's width apart."""
    profile = mask[:, left:right].sum(0).astype(float)
    margin = max(1, int(MIN_PIECE * height))
    candidates = [c for c in range(margin, len(profile) - margin)
                  if profile[c] <= profile[c - 1] and profile[c] <= profile[c + 1]]
    chosen: list[int] = []
    for c in sorted(candidates, key=lambda c: (profile[c], c)):
        if all(abs(c - d) >= margin for d in chosen):
            chosen.append(c)
    expected = max(1, round((right - left) / (0.6 * height)))
    return sorted(left + c for c in chosen[: 2 * expected])


def _trim_marks(pieces: list[Piece], math: bool = False) -> list[Piece]:
    """A number neither ends in a point or comma nor starts with one, and a minus sign is
    only its first character; a sum may end in "=": a mark elsewhere at the ends is a speck
    of dirt."""
    while pieces and pieces[-1].mark is not None and not (math and pieces[-1].mark == "="):
        pieces = pieces[:-1]
    while pieces and pieces[0].mark in (".", ",", "×", "="):
        pieces = pieces[1:]
    return pieces


def segment(mask: np.ndarray, math: bool = False) -> list[InkLine]:
    """The lines of ``mask``, top to bottom, each as pieces left to right; with ``math``, the
    lines of a sum."""
    lines = []
    speck = MATH_SPECK if math else SPECK
    for top, bottom in _bands(mask):
        band = np.zeros_like(mask)
        band[top:bottom] = mask[top:bottom]
        parts = components(band)
        labels = label_map(mask.shape, parts)
        ids = {id(part): label for label, part in enumerate(parts, 1)}
        groups = _groups(parts)
        printed = _box_edges([_box(g) for g in groups])
        groups = [g for k, g in enumerate(groups) if k not in printed]
        boxes = [_box(g) for g in groups]
        tall = [b for b in boxes if b[1] - b[0] >= 0.5 * (bottom - top)] or boxes
        height = float(np.median([b[1] - b[0] for b in tall]))
        digit_band = (float(np.median([b[0] for b in tall])),
                      float(np.median([b[1] for b in tall])))
        pieces: list[Piece] = []
        for k, (group, box) in enumerate(zip(groups, boxes, strict=True)):
            if all(max(c.bottom - c.top, c.right - c.left) < speck * height for c in group):
                continue  # specks, however far apart (where a form's box edge met its rules)
            mark = (_math_mark(group, box, height, digit_band) if math
                    else _mark(box, height, digit_band))
            g_top, g_bottom, left, right = box
            edges = [left, right]
            if mark is None and right - left > WIDE * height:
                edges = [left, *_cuts(band, left, right, height), right]
            for a, b in itertools.pairwise(edges):
                pieces.append(Piece(a, b, g_top, g_bottom, k,
                                    tuple(ids[id(c)] for c in group), mark))
        pieces = _trim_marks(pieces, math)
        if pieces:
            lines.append(InkLine(top, bottom, pieces, height, labels))
    return lines
