"""Realistic images of handwritten digits, made from MNIST digits: for benchmarks, tests, examples.

A digit is enlarged and drawn as ink on paper (or chalk on a board, or strokes on a transparent
web canvas), then put through what a phone camera or scanner does to it: paper texture, uneven
light and shadow, ruled lines, the sheet's edge, blur, sensor noise and JPEG compression, at a
random place, size and slant. Only numpy and Pillow.

Build these from MNIST's *test* digits only: a model must never have seen them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .contract import SYMBOLS
from .operators import symbol_layer

STYLES = ("photo", "scan", "board", "canvas")
# Drawn by `operators`; "-" stays the minus sign numbers are written with.
OPERATORS = SYMBOLS.replace("-", "")
PEN_SCALE = {"normal": 1.0, "thin": 0.7, "thick": 1.5}  # an operator's pen against a digit's


@dataclass(frozen=True)
class Rendered:
    data: bytes  # the encoded file, as a user would hand it over
    suffix: str  # ".jpg" or ".png"
    style: str
    details: str  # what was done, for file names and failure reports


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: random values on a coarse grid, upsampled smoothly."""
    coarse = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), dtype=np.float32)


def _ink_layer(digit: np.ndarray, height: int, pen: str, angle: float) -> np.ndarray:
    """The digit enlarged to ``height`` pixels as ink coverage in [0, 1], with the pen's width."""
    big = Image.fromarray(digit).resize((height, height), Image.BICUBIC)
    # MNIST strokes are about a tenth of the digit's height; a thick pen adds half of that,
    # a thin one takes a third away, short of breaking MNIST's thinnest strokes (a rank
    # filter of size k changes the width by k - 1).
    if pen == "thick":
        big = big.filter(ImageFilter.MaxFilter(2 * max(1, round(0.025 * height)) + 1))
    elif pen == "thin":
        big = big.filter(ImageFilter.MinFilter(2 * max(1, round(0.015 * height)) + 1))
    big = big.rotate(angle, resample=Image.BILINEAR, expand=True)
    ink = np.asarray(big, dtype=np.float32) / 255
    # Pens lay down ink, not MNIST's soft gradient: sharpen the edges to a pen line.
    return np.clip((ink - 0.3) * 3, 0, 1)


def _place(layer: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros((h, w), np.float32)
    lh, lw = layer.shape
    top = int(rng.integers(0, max(1, h - lh)))
    left = int(rng.integers(0, max(1, w - lw)))
    lh, lw = min(lh, h - top), min(lw, w - left)
    out[top : top + lh, left : left + lw] = layer[:lh, :lw]
    return out


def _camera_light(gray: np.ndarray, rng: np.random.Generator, details: list[str]) -> np.ndarray:
    """What a phone camera adds to a sheet: uneven light, maybe a shadow, maybe the table
    beyond the sheet's edge. Appends what it did to ``details``."""
    h, w = gray.shape
    gx, gy = np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h))
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(direction) * gx + np.sin(direction) * gy + 1) / 2
    light = 1 - rng.uniform(0.1, 0.35) * ramp
    gray = gray * light
    if rng.random() < 0.5:  # a soft shadow across part of the sheet
        across = direction + 1.3
        edge = np.cos(across) * gx + np.sin(across) * gy + rng.uniform(-0.4, 0.4)
        shade = 1 - rng.uniform(0.2, 0.45) / (1 + np.exp(-edge * rng.uniform(6, 20)))
        gray = gray * shade
        details.append("shadow")
    if rng.random() < 0.2:  # the sheet ends and the darker table shows
        side = int(rng.integers(0, 4))
        cut = int(rng.uniform(0.04, 0.12) * (w if side < 2 else h))
        table = rng.uniform(60, 120)
        if side == 0:
            gray[:, :cut] = table
        elif side == 1:
            gray[:, w - cut :] = table
        elif side == 2:
            gray[:cut, :] = table
        else:
            gray[h - cut :, :] = table
        details.append("edge")
    return gray


def render(digit: np.ndarray, rng: np.random.Generator, style: str | None = None) -> Rendered:
    """Render one MNIST digit (28x28 uint8, white on black) as a realistic image file."""
    style = style or str(rng.choice(STYLES, p=[0.5, 0.2, 0.1, 0.2]))
    pen = str(rng.choice(["normal", "thin", "thick"], p=[0.5, 0.25, 0.25]))
    angle = float(rng.uniform(-10, 10))
    if style == "canvas":
        side = int(rng.choice([200, 280, 400]))
        height = int(side * rng.uniform(0.45, 0.8))
        coverage = _place(_ink_layer(digit, height, pen, angle), side, side, rng)
        return _canvas_file(coverage, f"canvas-{pen}")

    w, h = [(320, 240), (480, 360), (640, 480), (360, 480)][int(rng.integers(0, 4))]
    small = rng.random() < 0.2
    height = int(h * (rng.uniform(0.15, 0.25) if small else rng.uniform(0.3, 0.75)))
    coverage = _place(_ink_layer(digit, height, pen, angle), h, w, rng)
    return _sheet_file(coverage, style, rng, [style, pen] + (["small"] if small else []))


def _canvas_file(coverage: np.ndarray, details: str) -> Rendered:
    """Ink coverage as a web canvas exports it: black strokes on transparent pixels, PNG."""
    rgba = np.zeros((*coverage.shape, 4), np.uint8)
    rgba[..., 3] = (coverage * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return Rendered(buf.getvalue(), ".png", "canvas", details)


def _sheet_file(coverage: np.ndarray, style: str, rng: np.random.Generator,
                details: list[str]) -> Rendered:
    """Ink coverage on paper (or chalk on a board), photographed or scanned, as a JPEG."""
    h, w = coverage.shape
    if style == "board":  # chalk on a dark board: light ink on a dark background
        paper = rng.uniform(30, 70) + 8 * _smooth_noise(rng, h, w, 6)
        ink_level = rng.uniform(190, 240)
    else:
        paper = rng.uniform(200, 250) + 6 * _smooth_noise(rng, h, w, 8)
        ink_level = rng.uniform(10, 70)
    paper = paper + rng.normal(0, 3, (h, w))  # grain
    gray = paper * (1 - coverage) + ink_level * coverage

    if style != "board" and rng.random() < 0.3:  # ruled paper
        spacing = int(rng.integers(22, 40))
        offset = int(rng.integers(0, spacing))
        gray[offset::spacing, :] *= rng.uniform(0.75, 0.88)
        details.append("ruled")
    if style == "photo":
        gray = _camera_light(gray, rng, details)
    blur = rng.uniform(0, 1.4 if style == "photo" else 0.6)
    image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(blur))
    noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(1, 7), (h, w))
    image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    if style != "scan" or rng.random() < 0.5:
        tint = np.array([1.0, rng.uniform(0.97, 1.0), rng.uniform(0.9, 1.0)])  # warm paper
        rgb = (np.asarray(image, np.float32)[..., None] * tint).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(rgb, "RGB")
    buf = io.BytesIO()
    quality = int(rng.integers(40, 95))
    image.save(buf, "JPEG", quality=quality)
    details.append(f"q{quality}")
    return Rendered(buf.getvalue(), ".jpg", style, "-".join(details))


SPACINGS = {  # gap between neighbouring characters' ink, in digit heights
    "gap": (0.15, 0.45),
    "touch": (-0.08, -0.01),
    "overlap": (-0.22, -0.1),
}


def _mark_layer(mark: str, height: int, pen: int, raised: bool = False) -> np.ndarray:
    """A decimal point (``raised`` to mid-height, where Britain and India write it), comma or
    minus sign as a pen draws it, in a box of the digits' height (taller for a comma, whose
    tail hangs below the line)."""
    box = Image.new("L", (max(4, height // 2), height + height // 4), 0)
    draw = ImageDraw.Draw(box)
    w = box.width
    if mark == ".":
        r = max(2, pen)
        bottom = height * 0.55 + r if raised else height
        draw.ellipse((w / 2 - r, bottom - 2 * r, w / 2 + r, bottom), fill=255)
    elif mark == ",":
        draw.line((w / 2, height - pen, w / 2 - pen, height + height // 6), fill=255,
                  width=max(2, pen * 3 // 4))
    else:
        draw.line((pen, height * 0.5, w - pen, height * 0.48), fill=255, width=pen)
    return np.asarray(box, np.float32) / 255


def _trim(layer: np.ndarray) -> np.ndarray:
    cols = np.flatnonzero(layer.max(0) > 0.05)
    return layer[:, cols[0] : cols[-1] + 1] if len(cols) else layer


def _glyphs(text: str, digits: list[np.ndarray], height: int, rng: np.random.Generator,
            pen: str, raised: float = 0.0) -> list[tuple[str, np.ndarray]]:
    """Each character's ink, trimmed to its columns: digits from the next of ``digits`` with
    their own size and slant, marks drawn (a share ``raised`` of the points at mid-height),
    operators (+ × ÷ = ( )) by `operators`."""
    glyphs = []
    supply = iter(digits)
    stroke = max(2, round(0.1 * height))
    for ch in text:
        if ch.isdigit():
            size = int(height * rng.uniform(0.9, 1.1))
            layer = _trim(_ink_layer(next(supply), size, pen, float(rng.uniform(-8, 8))))
        elif ch in OPERATORS:
            layer = _trim(symbol_layer(ch, height, rng, stroke * PEN_SCALE[pen]))
        else:
            up = ch == "." and bool(raised) and rng.random() < raised
            layer = _trim(_mark_layer(ch, height, stroke, up))
        glyphs.append((ch, layer))
    return glyphs


def _stand(strip: np.ndarray, ch: str, glyph: np.ndarray, x: int, baseline: int,
           height: int) -> None:
    """Draw a glyph into the strip at column x: digits stand on the baseline; marks and
    operators are drawn in boxes that share it."""
    gh = glyph.shape[0]
    above = gh if ch.isdigit() else round(1.15 * height) if ch in OPERATORS else height
    top = min(max(0, baseline - above), strip.shape[0] - gh)
    region = strip[top : top + gh, x : x + glyph.shape[1]]
    np.maximum(region, glyph[: region.shape[0], : region.shape[1]], out=region)


def number_layer(text: str, digits: list[np.ndarray], height: int, rng: np.random.Generator,
                 spacing: str = "gap", pen: str = "normal", raised: float = 0.0) -> np.ndarray:
    """Ink coverage of ``text`` (digits, ". , -" and operators) written in one line, the baseline
    drifting, neighbours ``spacing`` apart (a key of SPACINGS), a share ``raised`` of its
    points at mid-height."""
    low, high = SPACINGS[spacing]
    glyphs = _glyphs(text, digits, height, rng, pen, raised)
    lead = int(0.3 * height)
    width = sum(g.shape[1] for _, g in glyphs) + int(2 * lead + len(glyphs) * high * height)
    strip = np.zeros((int(1.8 * height), max(width, 1)), np.float32)
    x = lead
    for k, (ch, g) in enumerate(glyphs):
        drift = int(rng.uniform(-0.04, 0.04) * height)
        _stand(strip, ch, g, x, int(1.3 * height) + drift, height)
        gap = rng.uniform(low, high) * height
        if not ch.isdigit() or (k + 1 < len(glyphs) and not glyphs[k + 1][0].isdigit()):
            gap = max(gap, 0.08 * height)  # marks are written apart from their digits
        x += max(1, int(g.shape[1] + gap))
    return _trim(strip[:, : x + lead])


def form_layer(text: str, digits: list[np.ndarray], height: int, rng: np.random.Generator,
               pen: str = "normal", raised: float = 0.0) -> np.ndarray:
    """``text`` written into a printed comb field, one character per box (a share ``raised``
    of its points at mid-height); the boxes are in a lighter ink than the writing."""
    glyphs = _glyphs(text, digits, height, rng, pen, raised)
    cell = int(1.1 * height)
    top, bottom = int(0.15 * height), int(1.45 * height)
    strip = np.zeros((int(1.6 * height), cell * len(glyphs) + 4), np.float32)
    for k, (ch, g) in enumerate(glyphs):
        x = k * cell + max(2, (cell - g.shape[1]) // 2 + int(rng.uniform(-0.08, 0.08) * height))
        _stand(strip, ch, g[:, : cell - 4], x, int(1.3 * height), height)
    level = rng.uniform(0.4, 0.8)
    line = max(1, height // 30)
    boxes = np.zeros_like(strip)
    boxes[top : top + line, :] = boxes[bottom : bottom + line, :] = level
    for k in range(len(glyphs) + 1):
        boxes[top : bottom + line, k * cell : k * cell + line] = level
    return np.maximum(strip, boxes)


def render_number(text: str, digits: list[np.ndarray], rng: np.random.Generator,
                  style: str | None = None, spacing: str = "gap") -> Rendered:
    """``text`` handwritten on one line and handed over as a file, as `render` does for one
    digit: on a web canvas, or on paper (photo, scan, or a form with a box per character)."""
    style = style or str(rng.choice(["photo", "scan", "form", "canvas"], p=[0.4, 0.2, 0.2, 0.2]))
    pen = str(rng.choice(["normal", "thin", "thick"], p=[0.5, 0.25, 0.25]))
    height = int(rng.integers(48, 96))
    if style == "form":
        strip = form_layer(text, digits, height, rng, pen)
    else:
        strip = number_layer(text, digits, height, rng, spacing, pen)
    return on_file(strip, style, rng, [style, pen, spacing])


def on_file(strip: np.ndarray, style: str, rng: np.random.Generator, details: list[str],
            frame: tuple[int, int] | None = None) -> Rendered:
    """A line of ink coverage handed over as a file in ``style`` (photo, scan, form, canvas or
    board): placed in a frame (w, h) of a camera's or scanner's size unless one is given,
    written smaller where it would not fit."""
    if style == "canvas":
        if frame is None:
            h = int(strip.shape[0] * rng.uniform(1.3, 2.0))
            frame = (int(strip.shape[1] * rng.uniform(1.1, 1.4)), h)
        return _canvas_file(_place(strip, frame[1], frame[0], rng), "-".join(details))
    w, h = frame or [(640, 480), (800, 600), (480, 360)][int(rng.integers(0, 3))]
    if strip.shape[1] > 0.9 * w:  # a long number: written smaller to fit the sheet
        scale = 0.9 * w / strip.shape[1]
        strip = np.asarray(Image.fromarray(strip).resize(
            (int(strip.shape[1] * scale), max(8, int(strip.shape[0] * scale))), Image.BILINEAR))
    return _sheet_file(_place(strip, h, w, rng), "scan" if style == "form" else style, rng,
                       details)
