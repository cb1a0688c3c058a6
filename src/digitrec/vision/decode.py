"""Any image source -> an 8-bit grayscale picture at the size the pipeline works at.

Paths, encoded bytes, PIL images and numpy arrays are accepted. Decoding refuses what no digit
can be (empty, too small) and what would exhaust memory (a decompression bomb) in one line that
names the file; transparency is composited onto white, as a web canvas means it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..contract import MAX_PIXELS
from ..errors import DigitrecError, ImageError, ImageTooLarge, NotAnImage, describe

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray

MIN_SIDE = 8  # scikit-learn's UCI digits are 8x8
WORK_SIDE = 256  # longest side the pipeline works at: enough for a digit a tenth of the frame
MIN_WORK_SIDE = 64  # small images are enlarged to this, so crops and filters have room
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
DRAFTED = "digitrec_drafted"  # image info key: source pixels per decoded pixel


def _label(source: ImageSource) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else f"<{type(source).__name__}>"


def open_image(source: ImageSource, side: int = WORK_SIDE) -> Image.Image:
    """Decode a path, bytes or PIL image into an oriented, first-frame PIL image.

    Large JPEGs are decoded at reduced size directly (DCT scaling), the cheapest place to shrink.
    """
    name = _label(source)
    if isinstance(source, Image.Image):
        img = source
    else:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.exists():
                raise DigitrecError(f"{name}: no such file", code="not_found")
            if not path.is_file():
                raise DigitrecError(f"{name}: not a file", code="not_found")
            if path.stat().st_size == 0:
                raise ImageError(f"{name}: empty file", code="empty")
            fp: object = path
        elif isinstance(source, bytes):
            if not source:
                raise ImageError(f"{name}: empty", code="empty")
            fp = io.BytesIO(source)
        else:
            raise TypeError(f"cannot read an image from {type(source).__name__}")
        try:
            img = Image.open(fp)  # type: ignore[arg-type]
        except UnidentifiedImageError:
            raise NotAnImage(f"{name}: not an image Pillow can read") from None
        except Image.DecompressionBombError:
            raise ImageTooLarge(
                f"{name}: image is over the limit of {MAX_PIXELS:,} pixels") from None
        except (OSError, ValueError) as exc:
            raise ImageError(f"{name}: cannot open image ({describe(exc)})") from None
    width, height = img.size
    _check_size(name, width, height)
    try:
        if img.format == "JPEG" and max(width, height) > 2 * side:
            scale = side / max(width, height)
            img.draft(img.mode, (int(width * scale) + 1, int(height * scale) + 1))
        img.load()  # decode now, so a truncated file fails here with its name
        drafted = width / img.width  # source pixels per decoded pixel
        img = ImageOps.exif_transpose(img)
        img.info[DRAFTED] = drafted
        return img
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({describe(exc)})") from None


def _check_size(name: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(
            f"{name}: {width}x{height} pixels is over the limit of {MAX_PIXELS:,} pixels")
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{name}: {width}x{height} pixels is too small to hold a digit "
            f"(at least {MIN_SIDE}x{MIN_SIDE})", code="too_small")


def declared_size(data: bytes) -> tuple[int, int] | None:
    """An encoded image's width and height from its header, without decoding it; None when
    Pillow cannot tell (decoding will then say what is wrong)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def to_gray(img: Image.Image) -> Image.Image:
    """8-bit grayscale; transparency is composited onto white, as a web canvas means it."""
    if img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info):
        # Gray and alpha apart, then one byte per pixel each: a third of the memory of
        # compositing in RGBA, for the same picture.
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        white = Image.new("L", img.size, 255)
        return Image.composite(rgba.convert("L"), white, rgba.getchannel("A"))
    if img.mode.startswith("I") or img.mode == "F":
        # 16-bit and float images: Pillow's convert("L") clips instead of scaling.
        values = np.asarray(img, dtype=np.float32)
        top = 65535.0 if values.max() > 255 else 255.0 if values.max() > 1 else 1.0
        return Image.fromarray(np.clip(values / top * 255, 0, 255).astype(np.uint8))
    return img.convert("L")


def ndarray_to_gray(array: np.ndarray) -> Image.Image:
    """An array (H, W), (H, W, 3) or (H, W, 4), uint8/uint16 or float in [0, 1], as grayscale."""
    a = np.asarray(array)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise DigitrecError(f"<ndarray>: expected a 2-D grayscale or (H, W, 3|4) colour array, "
                            f"got shape {a.shape}", code="bad_array")
    _check_size("<ndarray>", a.shape[1], a.shape[0])
    if a.dtype.kind not in "uif" or (a.dtype.kind == "f" and not np.isfinite(a).all()):
        raise DigitrecError(f"<ndarray>: expected finite numeric pixels, got dtype {a.dtype}"
                            + (" with NaN or infinite values" if a.dtype.kind == "f" else ""),
                            code="bad_array")
    if a.dtype != np.uint8:  # the dtype says the range, for grayscale and colour alike
        top = 65535.0 if a.dtype == np.uint16 else 1.0
        a = (np.clip(a.astype(np.float64) / top, 0, 1) * 255).astype(np.uint8)
    if a.ndim == 3:
        return to_gray(Image.fromarray(a, "RGBA" if a.shape[2] == 4 else "RGB"))
    return Image.fromarray(a)


def working_size(gray: Image.Image, work_side: int = WORK_SIDE) -> tuple[np.ndarray, float, int]:
    """Resize so the longest side is between MIN_WORK_SIDE and ``work_side``: (float pixels in
    [0, 1], working pixels per source pixel, margin added around a tiny source in its pixels)."""
    side, pad = max(gray.size), 0
    width = gray.width
    if side > work_side:
        factor = side // work_side
        if factor > 1:
            gray = gray.reduce(factor)  # integer box reduction: fast and antialiased
        scale = work_side / max(gray.size)
        if scale < 1:
            gray = gray.resize((max(1, round(gray.width * scale)),
                                max(1, round(gray.height * scale))), Image.BOX)
    elif side < MIN_WORK_SIDE:
        gray, pad = _with_margin(gray)
        scale = MIN_WORK_SIDE / max(gray.size)
        gray = gray.resize((round(gray.width * scale), round(gray.height * scale)),
                           Image.BICUBIC)
    return np.asarray(gray, dtype=np.float32) / 255.0, gray.width / (width + 2 * pad), pad


def _with_margin(gray: Image.Image) -> tuple[Image.Image, int]:
    """A tiny image is a digit cropped tight (UCI's 8x8 ones touch every edge): give it a
    margin in its border's usual colour, so its strokes are not taken for the sheet's edge."""
    a = np.asarray(gray)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    pad = max(2, max(a.shape) // 4)
    return Image.fromarray(np.pad(a, pad, constant_values=int(np.median(border)))), pad


def gray_image(source: ImageSource, side: int = WORK_SIDE) -> Image.Image:
    """Decode any supported source into an 8-bit grayscale PIL image; large JPEGs at no less
    than ``side`` pixels on their longest side."""
    if isinstance(source, np.ndarray):
        return ndarray_to_gray(source)
    img = open_image(source, side)
    gray = to_gray(img)
    gray.info[DRAFTED] = img.info.get(DRAFTED, 1.0)  # kept for mapping boxes back
    return gray


