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
from PIL import Image, ImageFilter

STYLES = ("photo", "scan", "board", "canvas")


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
        rgba = np.zeros((side, side, 4), np.uint8)
        rgba[..., 3] = (coverage * 255).astype(np.uint8)  # black strokes, transparent elsewhere
        buf = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buf, "PNG")
        return Rendered(buf.getvalue(), ".png", style, f"canvas-{pen}")

    w, h = [(320, 240), (480, 360), (640, 480), (360, 480)][int(rng.integers(0, 4))]
    small = rng.random() < 0.2
    height = int(h * (rng.uniform(0.15, 0.25) if small else rng.uniform(0.3, 0.75)))
    coverage = _place(_ink_layer(digit, height, pen, angle), h, w, rng)
    details = [style, pen] + (["small"] if small else [])

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
