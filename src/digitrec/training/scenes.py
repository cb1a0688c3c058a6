"""Training scenes for the handwriting locator: handwritten strings (MNIST digits, drawn
operators and marks) put where people write them, among everything else on a page that is ink
but no handwriting, with the exact mask of the handwriting as the target.

A scene is one of KINDS:
    cell    a cell cut from a ruled table or register: borders of any weight on some sides,
            neighbouring cells' writing and print, a black scanner margin or the page's edge
    form    a form field: a comb of boxes or a dotted or ruled baseline, a printed label
    cheque  an amount field on a security background (guilloche: dense fine wavy lines)
    page    lined or squared paper, a margin rule, shadows; the writing anywhere, often small
    plain   writing alone, from small to filling the frame (a canvas, a tight crop)
    print   print, rules and stamps alone: nothing is handwriting
Any of them may get a stamp over the writing, a pen's underline below it (a stroke, but no
character: not a target) and a photo's or scan's light, blur, noise and JPEG.

The scene is drawn as dark ink on paper and handed to the network as the reader sees it: the
ink map `vision.ink.ink_map` makes of it (polarity and light taken out).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from ..synthetic import SPACINGS, number_layer
from ..vision.ink import ink_map
from .texts import number_text, sum_text

KINDS = ("cell", "form", "cheque", "page", "plain", "print")
SHARES = (0.3, 0.15, 0.1, 0.15, 0.2, 0.1)
HAIRLINE = 0.2  # share of writing with a pen far thinner than MNIST's (a stylus, a fine liner)
REAL = 0.25  # share of the scenes cut from real images, where the run has them
ZOOMED = 0.35  # share of scenes drawn smaller and enlarged: a small cell or photo, blown up
SIDE = 128  # scenes are square crops of this side: the network is fully convolutional
WRITING = 0.3  # coverage above which a pixel of a handwriting layer is a target
# Fonts of print, where installed (Debian's fonts-dejavu and fonts-liberation); Pillow's own
# scalable font otherwise.
FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf",
         "LiberationSans-Regular.ttf", "LiberationSerif-Regular.ttf",
         "LiberationMono-Regular.ttf", "LiberationSansNarrow-Regular.ttf")
WORDS = ("Total", "Name", "Date", "No.", "Amount", "Rs.", "$", "Score", "Roll No", "Marks", "Qty",
         "Sl.", "Subject", "Page", "Sum", "Pay", "EUR", "Signature", "Class", "Item", "Price",
         "2024", "1st", "Q3", "100", "Rupees", "Only", "Account", "Total:", "%", "No", "12",
         "Week 7", "Nr.", "Betrag", "Datum", "Punkte", "Anzahl", "Summe")


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (SIDE, SIDE) float32 in [0, 1]: the ink map, what the network sees
    target: np.ndarray  # (SIDE, SIDE) float32 in {0, 1}: handwriting
    kind: str
    lines: tuple[tuple[int, int, int, int], ...] = ()  # each string's (top, bottom, left, right)


@functools.lru_cache(maxsize=256)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(name, size)
    except OSError:
        return ImageFont.load_default(size)


class _Page:
    """A scene being drawn: paper and the layers of ink on it, handwriting kept apart."""

    def __init__(self, rng: np.random.Generator, side: int) -> None:
        self.rng, self.side = rng, side
        self.print = Image.new("L", (side, side), 0)  # darkness of everything but writing
        self.draw = ImageDraw.Draw(self.print)
        self.writing = np.zeros((side, side), np.float32)  # coverage of handwriting
        self.strokes = np.zeros((side, side), np.float32)  # pen marks that are no characters

    def text(self, x: float, y: float, size: int, darkness: float) -> None:
        """One to three printed words in one of FONTS, ``size`` pixels high."""
        rng = self.rng
        words = " ".join(rng.choice(WORDS, int(rng.integers(1, 4))))
        font = _font(str(rng.choice(FONTS)), max(6, size))
        self.draw.text((x, y), words, fill=int(255 * darkness), font=font)

    def rule(self, xy: tuple[float, float, float, float], width: int, darkness: float) -> None:
        self.draw.line(xy, fill=int(255 * darkness), width=max(1, width))

    def handwriting(self, left: float, baseline: float, height: int, pools: list[np.ndarray],
                    sums: bool = False, angle: float = 0.0) -> tuple[int, int, int, int]:
        """A string written with its digits ``height`` pixels tall, its left end at ``left``,
        standing on ``baseline``; the box it covers (top, bottom, left, right)."""
        rng = self.rng
        text = sum_text(rng) if sums else number_text(rng)
        if rng.random() < 0.5:
            text = text[: int(rng.integers(1, 5))].strip(".,-") or "7"
        chosen = [pools[int(c)][int(rng.integers(len(pools[int(c)])))]
                  for c in text if c.isdigit()]
        height = max(6, height)
        strip = number_layer(text, chosen, height, rng, str(rng.choice(list(SPACINGS))),
                             str(rng.choice(["normal", "thin", "thick"], p=[0.5, 0.3, 0.2])))
        if height > 24 and rng.random() < HAIRLINE:
            strip = np.asarray(Image.fromarray(strip).filter(
                ImageFilter.MinFilter(2 * round(0.03 * height) + 1)))
        if angle:
            strip = np.asarray(Image.fromarray(strip).rotate(angle, Image.BILINEAR, expand=True))
        top = int(baseline - 0.72 * strip.shape[0])
        return self._put(self.writing, strip, top, int(left))

    def underline(self, box: tuple[int, int, int, int], pen: int) -> None:
        """A pen's line under written ink, a little longer than it and wavering."""
        top, bottom, left, right = box
        rng = self.rng
        layer = Image.new("L", (self.side, self.side), 0)
        y = bottom + rng.uniform(1, 0.5 * (bottom - top) + 2)
        xs = np.linspace(left - rng.uniform(0, 10), right + rng.uniform(0, 10), 8)
        ys = y + np.cumsum(rng.normal(0, 0.6, 8))
        ImageDraw.Draw(layer).line(list(zip(xs, ys, strict=True)), fill=255, width=max(1, pen))
        np.maximum(self.strokes, np.asarray(layer, np.float32) / 255, out=self.strokes)

    def _put(self, layer: np.ndarray, strip: np.ndarray, top: int, left: int
             ) -> tuple[int, int, int, int]:
        h, w = strip.shape
        t0, l0 = max(0, top), max(0, left)
        t1, l1 = min(self.side, top + h), min(self.side, left + w)
        if t1 > t0 and l1 > l0:
            region = layer[t0:t1, l0:l1]
            np.maximum(region, strip[t0 - top : t1 - top, l0 - left : l1 - left], out=region)
        return t0, t1, l0, l1

    def stamp(self) -> None:
        """An ink stamp: a ring or a frame with print inside, pressed unevenly."""
        rng, side = self.rng, self.side
        layer = Image.new("L", (side, side), 0)
        draw = ImageDraw.Draw(layer)
        cx, cy = rng.uniform(0, side, 2)
        r = rng.uniform(0.15, 0.5) * side
        width = int(rng.integers(1, 4))
        darkness = int(255 * rng.uniform(0.25, 0.6))
        if rng.random() < 0.5:
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=darkness, width=width)
            draw.ellipse((cx - 0.8 * r, cy - 0.8 * r, cx + 0.8 * r, cy + 0.8 * r),
                         outline=darkness, width=max(1, width - 1))
        else:
            draw.rectangle((cx - r, cy - r / 2, cx + r, cy + r / 2), outline=darkness, width=width)
        draw.text((cx - r / 2, cy - r / 6), str(rng.choice(WORDS)).upper(), fill=darkness,
                  font=_font(str(rng.choice(FONTS)), max(6, int(r / 3))))
        self.overlay(np.asarray(layer, np.float32) * rng.uniform(0.5, 1.0, (side, side)))

    def darkness(self) -> np.ndarray:
        """Everything on the page as darkness in [0, 1]: the print a little faded, the
        handwriting and other pen strokes at the pen's own level."""
        printed = np.asarray(self.print, np.float32) / 255 * self.rng.uniform(0.6, 1.0)
        pen = self.rng.uniform(0.6, 1.0)
        return np.maximum(printed, np.maximum(self.writing, self.strokes) * pen)

    def overlay(self, darkness: np.ndarray) -> None:
        """Lay ``darkness`` (0-255, the page's size) over the print: the darker of both."""
        self.print = Image.fromarray(np.maximum(np.asarray(self.print, np.float32),
                                                darkness).astype(np.uint8))
        self.draw = ImageDraw.Draw(self.print)


def _grid(page: _Page, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Ruled cells around the middle of the scene: the middle cell's (top, bottom, left,
    right). Rules may be missing on some sides, as a cell cut loosely or tightly shows them."""
    side = page.side
    ch = rng.uniform(0.25, 0.9) * side
    cw = ch * rng.uniform(0.8, 3.0)
    top, left = rng.uniform(0.05, 0.5) * side - ch / 3, rng.uniform(-0.3, 0.4) * side
    width = int(rng.choice([1, 1, 2, 2, 3, 4]))
    darkness = rng.uniform(0.35, 1.0)
    rows = np.arange(top - 2 * ch, side + ch, ch)
    cols = np.arange(left - 2 * cw, side + cw, cw)
    for y in rows:
        if rng.random() < 0.9:
            page.rule((0, y, side, y + rng.uniform(-2, 2)), width, darkness)
    for x in cols:
        if rng.random() < 0.9:
            page.rule((x, 0, x + rng.uniform(-2, 2), side), width, darkness)
    for y in rows:  # print in some neighbouring cells: headers, row numbers
        for x in cols:
            if rng.random() < 0.15:
                page.text(x + 3, y + 3, int(rng.uniform(0.2, 0.45) * ch), rng.uniform(0.5, 1))
    return top, top + ch, left, left + cw


def _margin(page: _Page, rng: np.random.Generator) -> None:
    """A scanner's black margin or the page's edge with the table beyond it, on one side."""
    side = page.side
    depth = int(rng.uniform(0.03, 0.3) * side)
    edge = depth + np.cumsum(rng.normal(0, 0.4, side)).astype(int)
    dark = np.arange(side)[None, :] < np.clip(edge, 0, side)[:, None]
    band = np.rot90(dark, int(rng.integers(4))) * 255 * rng.uniform(0.5, 1.0)
    page.overlay(band)


def _guilloche(page: _Page, rng: np.random.Generator) -> None:
    """A cheque's security background: families of fine wavy lines, densely spaced."""
    side = page.side
    y, x = np.mgrid[0:side, 0:side].astype(np.float32)
    pattern = np.zeros((side, side), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        period = rng.uniform(3, 9)
        wave = rng.uniform(2, 12) * np.sin(x / rng.uniform(6, 30) + rng.uniform(0, 6))
        phase = (y + wave + rng.uniform(-0.5, 0.5) * x) / period
        pattern = np.maximum(pattern, np.clip(1 - np.abs(phase - np.round(phase)) * 6, 0, 1))
    level = rng.uniform(0.1, 0.5)
    page.overlay(pattern * 255 * level)


def _paper(page: _Page, rng: np.random.Generator) -> None:
    """Lined, squared or dotted paper, and perhaps a margin rule."""
    side = page.side
    spacing = rng.uniform(8, 40)
    darkness = rng.uniform(0.1, 0.45)
    offset = rng.uniform(0, spacing)
    squared = rng.random() < 0.3
    for k in np.arange(offset, side, spacing):
        page.rule((0, k, side, k), 1, darkness)
        if squared:
            page.rule((k, 0, k, side), 1, darkness)
    if rng.random() < 0.3:
        x = rng.uniform(0, side)
        page.rule((x, 0, x, side), int(rng.integers(1, 3)), rng.uniform(0.2, 0.6))


def _write_in(page: _Page, box: tuple[float, float, float, float], pools: list[np.ndarray],
              rng: np.random.Generator, sums: bool) -> tuple[int, int, int, int]:
    """Handwriting in a box (top, bottom, left, right), sized to its height, perhaps spilling
    over its edges as real writing does."""
    top, bottom, left, right = box
    height = max(6, int((bottom - top) * rng.uniform(0.35, 0.8)))
    baseline = top + (bottom - top) * rng.uniform(0.6, 0.95)
    x = left + rng.uniform(0.02, 0.3) * (right - left)
    return page.handwriting(x, baseline, height, pools, sums, float(rng.uniform(-6, 6)))


def _compose(pools: list[np.ndarray], rng: np.random.Generator, kind: str, side: int
             ) -> tuple[_Page, list[tuple[int, int, int, int]]]:
    page = _Page(rng, side)
    sums = rng.random() < 0.3
    written: list[tuple[int, int, int, int]] = []
    if kind == "cell":
        box = _grid(page, rng)
        if rng.random() < 0.35:
            _margin(page, rng)
        written.append(_write_in(page, box, pools, rng, sums))
        if rng.random() < 0.3:  # a neighbour's writing, in part
            dy = (box[1] - box[0]) * float(rng.choice([-1, 1]))
            written.append(_write_in(page, (box[0] + dy, box[1] + dy, box[2], box[3]), pools,
                                     rng, sums))
    elif kind == "form":
        height = rng.uniform(14, 60)
        top = rng.uniform(0.1, 0.6) * side
        darkness = rng.uniform(0.3, 0.9)
        label = rng.random() < 0.6
        left = rng.uniform(0.25, 0.5) * side if label else rng.uniform(0, 0.2) * side
        if label:
            page.text(rng.uniform(0, 0.1) * side, top + height / 3, int(height / 2.5), darkness)
        style = rng.choice(["comb", "dots", "line", "box"])
        right = side * rng.uniform(0.8, 1.2)
        if style == "comb":
            cell = height * rng.uniform(0.7, 1.1)
            for x in np.arange(left, right, cell):
                page.rule((x, top, x, top + height), 1, darkness)
            page.rule((left, top + height, right, top + height), 1, darkness)
            page.rule((left, top, right, top), 1, darkness)
        elif style == "dots":
            for x in np.arange(left, right, rng.uniform(2.5, 6)):
                page.rule((x, top + height, x + 1, top + height), int(rng.integers(1, 3)),
                          darkness)
        elif style == "line":
            page.rule((left, top + height, right, top + height), int(rng.integers(1, 3)),
                      darkness)
        else:
            page.draw.rectangle((left, top, right, top + height), outline=int(255 * darkness),
                                width=int(rng.integers(1, 3)))
        written.append(_write_in(page, (top - 0.1 * height, top + 1.1 * height, left, right),
                                 pools, rng, sums))
    elif kind == "cheque":
        _guilloche(page, rng)
        for _ in range(int(rng.integers(1, 4))):
            page.text(rng.uniform(-0.2, 0.8) * side, rng.uniform(0, 0.9) * side,
                      int(rng.uniform(7, 18)), rng.uniform(0.5, 1))
        height = rng.uniform(16, 60)
        top, left = rng.uniform(0, 0.7) * side, rng.uniform(0, 0.4) * side
        if rng.random() < 0.6:
            page.draw.rectangle((left, top, left + rng.uniform(2, 5) * height, top + height),
                                outline=int(255 * rng.uniform(0.4, 1)), width=1)
        written.append(_write_in(page, (top, top + height, left, left + 4 * height), pools,
                                 rng, sums))
    elif kind == "page":
        _paper(page, rng)
        for _ in range(int(rng.integers(1, 4))):
            height = rng.uniform(8, 50)
            top, left = rng.uniform(-0.1, 0.9) * side, rng.uniform(-0.1, 0.8) * side
            written.append(_write_in(page, (top, top + height, left, left + 5 * height), pools,
                                     rng, sums))
        if rng.random() < 0.2:
            _margin(page, rng)
    elif kind == "plain":
        lines = int(rng.integers(1, 3))
        height = rng.uniform(0.1, 0.9 / lines) * side
        for k in range(lines):
            top = rng.uniform(0, 0.2) * side + k * 1.3 * height
            written.append(_write_in(page, (top, top + height / 0.8, rng.uniform(-0.1, 0.3) * side,
                                            side), pools, rng, sums))
    else:  # print: nothing handwritten
        for _ in range(int(rng.integers(2, 7))):
            page.text(rng.uniform(-0.2, 0.9) * side, rng.uniform(-0.05, 0.95) * side,
                      int(rng.uniform(7, 40)), rng.uniform(0.4, 1))
        if rng.random() < 0.5:
            _grid(page, rng)
        if rng.random() < 0.3:
            _margin(page, rng)
    if rng.random() < 0.15:
        page.stamp()
    seen = [box for box in written if box[1] > box[0] and box[3] > box[2]]
    if seen and rng.random() < 0.15:
        top, bottom = seen[0][:2]
        page.underline(seen[0], max(1, round(0.08 * (bottom - top))))
    return page, seen


def _photographed(dark: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paper (or a board) with ``dark`` ink on it, as a scanner or a phone hands it over:
    light, blur, grain, JPEG. Gray in [0, 1]."""
    side = dark.shape[0]
    board = rng.random() < 0.05
    paper, ink = (rng.uniform(0.1, 0.3), rng.uniform(0.7, 0.95)) if board else (
        rng.uniform(0.7, 1.0), rng.uniform(0.0, 0.3))
    gray = paper + (ink - paper) * dark
    gy, gx = np.mgrid[-1:1:side * 1j, -1:1:side * 1j]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * gx + np.sin(angle) * gy + 1) / 2
    gray = gray * (1 - rng.uniform(0, 0.35) * ramp)
    if rng.random() < 0.3:  # a shadow's edge across the scene
        edge = np.cos(angle + 1.3) * gx + np.sin(angle + 1.3) * gy + rng.uniform(-0.5, 0.5)
        gray = gray * (1 - rng.uniform(0.2, 0.45) / (1 + np.exp(-edge * rng.uniform(5, 25))))
    image = Image.fromarray(np.uint8(np.clip(gray, 0, 1) * 255))
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.0)))
    noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(0.5, 6), (side, side))
    image = Image.fromarray(np.uint8(np.clip(noisy, 0, 255)))
    if rng.random() < 0.4:
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=int(rng.integers(30, 95)))
        image = Image.open(buf)
    return np.asarray(image, np.float32) / 255


def _cell_rules(page: _Page, box: tuple[float, float, float, float],
                rng: np.random.Generator) -> None:
    """A table's rules around writing in ``box`` (top, bottom, left, right), some sides cut
    away as a loose or tight crop leaves them, close to the ink or with room, print in a
    neighbouring cell now and then."""
    top, bottom, left, right = box
    height = bottom - top
    width = int(rng.choice([1, 1, 2, 2, 3, 4]))
    darkness = rng.uniform(0.35, 1.0)
    y0, y1 = top - rng.uniform(0.05, 0.5) * height, bottom + rng.uniform(0.05, 0.5) * height
    x0 = left - rng.uniform(0.05, 1.0) * height
    x1 = right + rng.uniform(0.05, 1.0) * height
    for xy in ((0, y0, page.side, y0), (0, y1, page.side, y1), (x0, 0, x0, page.side),
               (x1, 0, x1, page.side)):
        if rng.random() < 0.85:
            page.rule(tuple(v + rng.uniform(-1.5, 1.5) for v in xy), width, darkness)
    if rng.random() < 0.3:
        page.text(x1 + 4, y0 + 3, int(rng.uniform(0.3, 0.6) * height), rng.uniform(0.5, 1))


def around(strip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A line of handwriting (ink coverage) where people write one, photographed or scanned:
    in a table's cell with its rules (perhaps a scanner's black margin beyond), on a form's
    dotted or ruled line with a printed label, on a cheque's guilloche or on lined paper.
    Gray in [0, 1], a square around the line."""
    h, w = strip.shape
    side = int(max(w, h) * rng.uniform(1.15, 1.5)) + 8
    page = _Page(rng, side)
    top, left = int((side - h) * rng.uniform(0.3, 0.7)), int((side - w) * rng.uniform(0.2, 0.8))
    rows = np.flatnonzero(strip.max(1) > WRITING)
    ink = (top + int(rows[0]), top + int(rows[-1]) + 1) if len(rows) else (top, top + h)
    box = (*ink, left, left + w)
    kind = str(rng.choice(["cell", "form", "cheque", "page"], p=[0.45, 0.2, 0.15, 0.2]))
    if kind == "cell":
        _cell_rules(page, box, rng)
        if rng.random() < 0.35:
            _margin(page, rng)
    elif kind == "form":
        darkness, y = rng.uniform(0.3, 0.9), ink[1] + rng.uniform(0.02, 0.2) * (ink[1] - ink[0])
        if rng.random() < 0.5:
            for x in np.arange(0, side, rng.uniform(2.5, 6)):
                page.rule((x, y, x + 1, y), int(rng.integers(1, 3)), darkness)
        else:
            page.rule((0, y, side, y), int(rng.integers(1, 3)), darkness)
        if left > 0.2 * side:
            page.text(rng.uniform(0, 0.05) * side, ink[0], int((ink[1] - ink[0]) / 2), darkness)
    elif kind == "cheque":
        _guilloche(page, rng)
        page.text(rng.uniform(0, 0.5) * side, rng.uniform(0, 0.2) * side,
                  int(rng.uniform(0.2, 0.4) * (ink[1] - ink[0])) + 6, rng.uniform(0.5, 1))
    else:
        _paper(page, rng)
    page._put(page.writing, strip, top, left)
    return _photographed(page.darkness(), rng)


def scene(pools: list[np.ndarray], rng: np.random.Generator, kind: str | None = None,
          side: int = SIDE) -> Scene:
    """One scene of ``kind`` (a key of KINDS; random by SHARES when None) written with digits
    from ``pools[d]`` (MNIST images of d)."""
    kind = kind or str(rng.choice(KINDS, p=SHARES))
    zoom = rng.uniform(0.35, 0.8) if rng.random() < ZOOMED else 1.0
    drawn = max(32, round(side * zoom))
    page, lines = _compose(pools, rng, kind, drawn)
    dark, writing = page.darkness(), page.writing
    if drawn != side:
        dark, writing = (np.asarray(Image.fromarray(a).resize((side, side), Image.BICUBIC))
                         for a in (dark, writing))
    flat = ink_map(_photographed(np.clip(dark, 0, 1), rng))[0]
    zoomed = tuple(tuple(round(v * side / drawn) for v in box) for box in lines)
    return Scene(flat.astype(np.float32), (writing > WRITING).astype(np.float32), kind,
                 zoomed)  # type: ignore[arg-type]


def real_scene(ink: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
               side: int = SIDE) -> Scene:
    """A scene cut from a real image's ink map and its handwriting's mask: rescaled by
    70-130%, a square of ``side`` around a random pixel of the writing (paper beyond the
    image's edges)."""
    scale = rng.uniform(0.7, 1.3)
    h, w = (max(8, round(n * scale)) for n in ink.shape)
    ink = np.asarray(Image.fromarray(ink).resize((w, h), Image.BILINEAR))
    mask = np.asarray(Image.fromarray(mask).resize((w, h), Image.NEAREST))
    rows, cols = np.nonzero(mask)
    k = int(rng.integers(len(rows))) if len(rows) else 0
    centre = (rows[k], cols[k]) if len(rows) else (h // 2, w // 2)
    top, left = (int(c - side // 2 + rng.integers(-side // 4, side // 4 + 1)) for c in centre)
    image, target = (np.zeros((side, side), np.float32) for _ in range(2))
    t0, l0, t1, l1 = max(0, top), max(0, left), min(h, top + side), min(w, left + side)
    image[t0 - top : t1 - top, l0 - left : l1 - left] = ink[t0:t1, l0:l1]
    target[t0 - top : t1 - top, l0 - left : l1 - left] = mask[t0:t1, l0:l1] > 0.5
    return Scene(image, target, "real")


class Scenes:
    """An endless supply of scenes from a set of digits, a share REAL of them cut from
    ``real`` images (ink maps, handwriting masks) where given: scene ``index`` of ``epoch`` is
    the same every time it is asked for."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int = 0,
                 kind: str | None = None,
                 real: tuple[list[np.ndarray], list[np.ndarray]] | None = None) -> None:
        self.pools = [images[labels == d] for d in range(10)]
        self.seed, self.kind, self.real = seed, kind, real

    def get(self, epoch: int, index: int) -> Scene:
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.real is not None and rng.random() < REAL:
            k = int(rng.integers(len(self.real[0])))
            return real_scene(self.real[0][k], self.real[1][k], rng)
        return scene(self.pools, rng, self.kind)

    def batch(self, epoch: int, start: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Scenes [start, start + size) of ``epoch``: images and targets, (N, 1, SIDE, SIDE)."""
        scenes = [self.get(epoch, start + k) for k in range(size)]
        return (np.stack([s.image for s in scenes])[:, None],
                np.stack([s.target for s in scenes])[:, None])
