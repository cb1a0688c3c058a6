"""A reading drawn for a person: the image with what was taken for handwriting tinted, each
character's box and reading, and below it the 28x28 inputs the model saw, line by line. What
`read --show` writes; Pillow only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..atomic import atomic_path
from ..errors import DigitrecError, describe
from ..vision import ImageSource
from ..vision.decode import DRAFTED, ndarray_to_gray, open_image, to_gray
from ..vision.pipeline import Ink
from .result import Character, Reading

SIDE = 1200  # the picture's longest side at most: a phone photo is shown, not reproduced
INPUT = 56  # each 28x28 input drawn at twice its size
SURE = 0.8  # a character at least this confident, and not unusual, is drawn green
GREEN, AMBER, RED = (0, 160, 60), (230, 140, 0), (210, 30, 30)
WRITING = (40, 90, 255)  # the tint of what was taken for handwriting
PAPER, INK = (255, 255, 255), (30, 30, 30)
SYMBOL_FONT = "DejaVuSans.ttf"


def _image(source: ImageSource) -> tuple[Image.Image, float]:
    """The source as RGB at no more than SIDE pixels, and its pixels per source pixel."""
    if isinstance(source, np.ndarray):
        img, drafted = ndarray_to_gray(source), 1.0
    else:
        img = open_image(source, SIDE)
        drafted = img.info.get(DRAFTED, 1.0)
        if img.mode not in ("RGB", "L", "CMYK", "YCbCr"):
            img = to_gray(img)  # transparency on white, 16-bit scaled, as the reader sees it
    width = img.width
    img.thumbnail((SIDE, SIDE), Image.LANCZOS)
    return img.convert("RGB"), img.width / (width * drafted)


def _colour(char: Character) -> tuple[int, int, int]:
    if char.unusual:
        return RED
    return GREEN if char.confidence >= SURE else AMBER


def _fonts(size: int) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont,
                                ImageFont.FreeTypeFont | ImageFont.ImageFont, dict[str, str]]:
    """A large and a small font, and what to write instead of the characters they lack:
    DejaVu Sans (on most Linux systems) has × and ÷, Pillow's own font has not."""
    try:
        return (ImageFont.truetype(SYMBOL_FONT, size), ImageFont.truetype(SYMBOL_FONT, 14), {})
    except OSError:
        return (ImageFont.load_default(size=size), ImageFont.load_default(size=14),
                {"×": "x", "÷": "/"})


def _tint(img: Image.Image, scale: float, ink: Ink) -> None:
    """Colour the pixels ``ink`` holds (what was taken for writing) on ``img``, which shows the
    source at ``scale`` of its pixels."""
    h, w = ink.mask.shape
    top, bottom, left, right = ink.source_box((0, h, 0, w))
    box = [round(v * scale) for v in (left, top, right, bottom)]
    size = (max(1, box[2] - box[0]), max(1, box[3] - box[1]))
    mask = Image.fromarray(np.uint8(ink.mask) * 255).resize(size, Image.NEAREST)
    layer = Image.new("RGB", size, WRITING)
    region = img.crop(box)
    img.paste(Image.composite(Image.blend(region, layer, 0.6), region, mask), box[:2])


def picture(source: ImageSource, reading: Reading, captions: list[str] | None = None,
            writing: Ink | None = None) -> Image.Image:
    """``source`` with each character of ``reading`` boxed and labelled (green: sure; amber:
    below 80%; red: unlike any digit learned), above the model's inputs for each line, each
    line under its caption (the line's text and confidence unless given). With ``writing``
    (the ink read), its pixels are tinted blue: what was taken for handwriting."""
    img, scale = _image(source)
    if writing is not None:
        _tint(img, scale, writing)
    font, small, lacking = _fonts(max(12, round(img.height / 25)))

    def written(text: str) -> str:
        return "".join(lacking.get(ch, ch) for ch in text)

    draw = ImageDraw.Draw(img)
    for char in reading.characters:
        left, top, right, bottom = (round(v * scale) for v in char.box)
        draw.rectangle((left, top, right, bottom), outline=_colour(char),
                       width=max(2, img.height // 200))
        above = top - 2 >= font.size  # else the label goes below the box, inside the picture
        draw.text((left, top - 2 if above else bottom + 2), written(char.char), fill=_colour(char),
                  font=font, anchor="lb" if above else "lt")
    captions = captions or [f"{line.text}  ({line.confidence:.1%})" for line in reading.lines]
    rows = [(written(caption), line.characters)
            for caption, line in zip(captions, reading.lines, strict=True)] or [
        (reading.reason or "", [])]
    strip = INPUT + 24  # an input, and its label below it
    longest = max(len(chars) for _, chars in rows)
    width = max(img.width, longest * (INPUT + 8) + 16)
    sheet = Image.new("RGB", (width, img.height + len(rows) * (strip + 22) + 8), PAPER)
    sheet.paste(img, (0, 0))
    draw = ImageDraw.Draw(sheet)
    y = img.height + 6
    for text, chars in rows:
        draw.text((8, y), text, fill=INK, font=small)
        y += 20
        for k, char in enumerate(chars):
            x = 8 + k * (INPUT + 8)
            if char.processed is not None:
                seen = Image.fromarray(np.uint8(np.clip(char.processed, 0, 1) * 255))
                sheet.paste(seen.resize((INPUT, INPUT), Image.NEAREST), (x, y))
            else:  # a mark, read by its shape: nothing went through the model
                draw.rectangle((x, y, x + INPUT - 1, y + INPUT - 1), outline=INK)
            label = written(char.char if char.processed is None
                            else f"{char.char} {char.confidence:.0%}")
            draw.text((x, y + INPUT + 2), label, fill=_colour(char), font=small)
        y += strip
    return sheet


def check_picture(path: str) -> Path:
    """A path a picture can be written to: its suffix names a format Pillow writes."""
    if Path(path).suffix.lower() not in Image.registered_extensions():
        raise DigitrecError(f"show: {path!r} does not end in an image format's suffix "
                            "(.png, .jpg, ...)", "bad_parameter")
    return Path(path)


def save_picture(img: Image.Image, path: str | os.PathLike[str]) -> None:
    """Write the picture atomically; a place it cannot go is refused in one line."""
    try:
        with atomic_path(path) as tmp:
            img.save(tmp)
    except (OSError, ValueError) as exc:
        raise DigitrecError(f"{path}: cannot write the picture ({describe(exc)})",
                            "write_failed") from None
