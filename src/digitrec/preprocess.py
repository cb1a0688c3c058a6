"""Any image of a digit -> the 28x28 image the model was trained on.

MNIST digits are white on black, cropped to their ink, fitted into 20x20 keeping their aspect
ratio and placed in 28x28 with their centre of mass in the middle. Real images (photos of paper,
scans, web-canvas drawings) are none of that; each step below brings them closer:

    decode -> grayscale -> working size -> ink map (polarity, lighting) -> ink mask
           -> crop to the digit -> stroke width -> fit 20x20 -> centre of mass in 28x28

Only numpy and Pillow: this runs on the inference path.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from .errors import DigitrecError, ImageError, ImageTooLarge, NotAnImage, describe

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray

MAX_PIXELS = 50_000_000  # a 12-megapixel photo is fine; a 20000x20000 bomb is not
MIN_SIDE = 8  # scikit-learn's UCI digits are 8x8
WORK_SIDE = 256  # longest side the pipeline works at: enough for a digit a tenth of the frame
MIN_WORK_SIDE = 64  # small images are enlarged to this, so crops and filters have room
# Stroke width / digit box, as `normalise_stroke` measures it on MNIST's own test digits after
# this pipeline: median 0.100, 10th-90th percentile 0.081-0.138.
MNIST_STROKE = 0.10
MIN_CONTRAST = 0.12  # ink must differ from the paper by this much of the full range
# Beyond these, what was found is not one digit. MNIST's training digits in this pipeline: soft
# ink fills at most 67% of the digit's box (99.9%: 62%; a solid disc, 75-79%), and the box is
# never over 2.5 times wider than tall.
MAX_SOLIDITY = 0.72
MAX_ASPECT = 2.5
# A box less than half as wide as tall holds one upright stroke, however solid: a 1 drawn as a
# straight line fills its box, yet is no blob.
MAX_STROKE_ASPECT = 0.5
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


@dataclass(frozen=True)
class Processed:
    """The pipeline's result: the 28x28 float image in [0, 1], or why there is none."""

    image: np.ndarray | None
    reason: str | None = None  # set when image is None: why no digit was found
    inverted: bool = False  # dark ink on light paper was inverted


# -- decode -------------------------------------------------------------------------------------

def _label(source: ImageSource) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else f"<{type(source).__name__}>"


def open_image(source: ImageSource) -> Image.Image:
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
                raise DigitrecError(f"{name}: no such file")
            if not path.is_file():
                raise DigitrecError(f"{name}: not a file")
            if path.stat().st_size == 0:
                raise ImageError(f"{name}: empty file")
            fp: object = path
        elif isinstance(source, bytes):
            if not source:
                raise ImageError(f"{name}: empty")
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
        if img.format == "JPEG" and max(width, height) > 2 * WORK_SIDE:
            scale = WORK_SIDE / max(width, height)
            img.draft(img.mode, (int(width * scale) + 1, int(height * scale) + 1))
        img.load()  # decode now, so a truncated file fails here with its name
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({describe(exc)})") from None


def _check_size(name: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(
            f"{name}: {width}x{height} pixels is over the limit of {MAX_PIXELS:,} pixels")
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{name}: {width}x{height} pixels is too small to hold a digit "
            f"(at least {MIN_SIDE}x{MIN_SIDE})")


def to_gray(img: Image.Image) -> Image.Image:
    """8-bit grayscale; transparency is composited onto white, as a web canvas means it."""
    if img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info):
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img.convert("RGBA")).convert("L")
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
                            f"got shape {a.shape}")
    _check_size("<ndarray>", a.shape[1], a.shape[0])
    if a.dtype != np.uint8:  # the dtype says the range, for grayscale and colour alike
        top = 65535.0 if a.dtype == np.uint16 else 1.0
        a = (np.clip(a.astype(np.float32) / top, 0, 1) * 255).astype(np.uint8)
    if a.ndim == 3:
        return to_gray(Image.fromarray(a, "RGBA" if a.shape[2] == 4 else "RGB"))
    return Image.fromarray(a)


def working_size(gray: Image.Image) -> np.ndarray:
    """Resize so the longest side is between MIN_WORK_SIDE and WORK_SIDE; float in [0, 1]."""
    side = max(gray.size)
    if side > WORK_SIDE:
        factor = side // WORK_SIDE
        if factor > 1:
            gray = gray.reduce(factor)  # integer box reduction: fast and antialiased
        scale = WORK_SIDE / max(gray.size)
        if scale < 1:
            gray = gray.resize((max(1, round(gray.width * scale)),
                                max(1, round(gray.height * scale))), Image.BOX)
    elif side < MIN_WORK_SIDE:
        gray = _with_margin(gray)
        scale = MIN_WORK_SIDE / max(gray.size)
        gray = gray.resize((round(gray.width * scale), round(gray.height * scale)),
                           Image.BICUBIC)
    return np.asarray(gray, dtype=np.float32) / 255.0


def _with_margin(gray: Image.Image) -> Image.Image:
    """A tiny image is a digit cropped tight (UCI's 8x8 ones touch every edge): give it a
    margin in its border's usual colour, so its strokes are not taken for the sheet's edge."""
    a = np.asarray(gray)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    pad = max(2, max(a.shape) // 4)
    return Image.fromarray(np.pad(a, pad, constant_values=int(np.median(border))))


# -- find the ink -------------------------------------------------------------------------------

def ink_map(gray: np.ndarray) -> tuple[np.ndarray, bool, float]:
    """Ink bright on a flat black background: (ink in [0, 1], inverted?, contrast).

    Polarity: ink is a long tail on one side of the background (a small digit is under 1% of
    a photo, hence the extreme quantiles) once the light's large-scale changes are taken out:
    a shadow over half the sheet would otherwise make the longer tail. Those are the median
    over windows of about 40% of the frame, wider than a big digit's densest strokes. A longer
    dark tail means dark ink. Lighting: viewed as dark ink on bright paper, a closing (max, then
    min filter, wider than any stroke) erases the strokes but keeps shadows and the table beyond
    the sheet with their edges in place; light is multiplicative, so dividing cancels it.
    """
    h, w = gray.shape
    coarse = Image.fromarray(gray).resize((max(3, w // 16), max(3, h // 16)), Image.BOX)
    light = np.asarray(coarse.filter(ImageFilter.MedianFilter(7)).resize((w, h), Image.BILINEAR))
    lo, mid, hi = quantiles((gray - light + 1) / 2, (0.001, 0.5, 0.999))
    inverted = bool(mid - lo > hi - mid)
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


def ink_mask(ink: np.ndarray) -> np.ndarray:
    """Which pixels are ink: a noise-aware Otsu threshold, specks and ruled lines removed."""
    # A 3x3 mean first: sensor noise (amplified in shadows by the division) averages out,
    # strokes do not.
    ink = _sum3x3(np.pad(ink, 1, mode="edge")) / 9
    sample = ink[::2, ::2]  # statistics of the background: every 4th pixel is plenty
    threshold = max(_otsu(sample), _noise_floor(sample, 4), 0.2)
    mask = ink > threshold
    # A 3x3 majority (the median of a binary image) drops isolated specks and paper grain but
    # keeps strokes 2+ pixels wide.
    mask = _sum3x3(np.pad(mask, 1).astype(np.uint8)) >= 5
    mask[_lines(mask.mean(1)), :] = False
    mask[:, _lines(mask.mean(0))] = False
    return mask


def _sum3x3(padded: np.ndarray) -> np.ndarray:
    """Sum over each 3x3 neighbourhood of an array padded by one pixel on every side."""
    h, w = padded.shape[0] - 2, padded.shape[1] - 2
    return sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3))


def _lines(coverage: np.ndarray) -> np.ndarray:
    """Rows (or columns) that are ruled lines or the sheet's edge, from each one's ink coverage.

    A ruled line is thin and crosses half the frame or more (noise breaks it up); the sheet's
    edge leaves a band across most of the frame, within a tenth of the frame from its border
    with nothing in between. A digit is neither: even a 7's bar in a tightly cropped image is
    thicker than a line and shorter than the frame.
    """
    n = len(coverage)
    out = np.zeros(n, bool)
    empty = coverage < 0.01
    near = max(1, n // 10)

    def at_edge(s: int, e: int) -> bool:
        return bool((s <= near and empty[:s].all()) or (e >= n - near and empty[e:].all()))

    for threshold, keep in ((0.5, lambda s, e: e - s <= max(1, int(0.025 * n))),
                            (0.75, at_edge)):
        flagged = np.concatenate(([0], (coverage > threshold).astype(np.int8), [0]))
        edges = np.flatnonzero(np.diff(flagged))
        for start, end in zip(edges[::2], edges[1::2], strict=False):
            if keep(start, end):
                out[max(0, start - 1) : end + 1] = True  # and the blurred row beside it
    return out


def extreme_filter(a: np.ndarray, size: int, largest: bool) -> np.ndarray:
    """Max (or min) over a size x size window: two 1-D passes, far cheaper than Pillow's
    sorting rank filter at the sizes used here. Edges repeat the border value."""
    if size < 2:
        return a
    pick = np.maximum if largest else np.minimum
    r = size // 2
    for _ in range(2):  # along rows, then (transposed) along columns
        n = len(a)
        padded = np.concatenate([a[:1]] * r + [a] + [a[-1:]] * (size - 1 - r))
        out = padded[:n].copy()
        for k in range(1, size):
            pick(out, padded[k : k + n], out=out)
        a = out.T
    return np.ascontiguousarray(a)


def _histogram(values: np.ndarray) -> np.ndarray:
    """Counts of values in [0, 1] over 256 bins: np.histogram's work at a fraction of its cost."""
    return np.bincount((np.clip(values, 0, 1) * 255).astype(np.uint8).ravel(), minlength=256)


def quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Quantiles of values in [0, 1], to 1/255: plenty for thresholds, and cheap."""
    cumulative = np.cumsum(_histogram(values))
    return [float(np.searchsorted(cumulative, q * cumulative[-1])) / 255 for q in qs]


def _otsu(values: np.ndarray) -> float:
    p = _histogram(values) / values.size
    levels = np.arange(256) / 255
    omega = np.cumsum(p)
    mu = np.cumsum(p * levels)
    between = (mu[-1] * omega - mu) ** 2 / np.maximum(omega * (1 - omega), 1e-12)
    return float(levels[int(np.argmax(between[:-1])) + 1])


def _noise_floor(values: np.ndarray, k: float) -> float:
    """Median plus k robust standard deviations (from the median absolute deviation): where
    the mostly-background values end and ink begins."""
    med = quantiles(values, (0.5,))[0]
    return med + k * 1.4826 * quantiles(np.abs(values - med), (0.5,))[0]


def _main_run(profile: np.ndarray, across: int) -> tuple[int, int]:
    """The stretch of the profile holding the digit: the heaviest run of non-empty entries,
    joined by the runs lying within a third of the digit's size (a 5's hat, a 4's open top),
    while marks further away are left out. The size is the larger of the run's length and
    ``across``, the digit's extent on the other axis: a 5's hat is long but thin."""
    filled = np.flatnonzero(profile > 0)
    breaks = np.flatnonzero(np.diff(filled) > 1)
    starts = filled[np.concatenate(([0], breaks + 1))]
    ends = filled[np.concatenate((breaks, [len(filled) - 1]))] + 1
    cumulative = np.concatenate(([0], np.cumsum(profile)))
    best = int(np.argmax(cumulative[ends] - cumulative[starts]))
    lo, hi = starts[best], ends[best]
    for _ in range(len(starts)):
        reach = max(hi - lo, across) / 3
        near = (ends >= lo - reach) & (starts <= hi + reach)
        new_lo, new_hi = starts[near].min(), ends[near].max()
        if (new_lo, new_hi) == (lo, hi):
            break
        lo, hi = new_lo, new_hi
    return int(lo), int(hi)


def digit_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the digit: the heaviest block of ink, ignoring stray marks."""
    if not mask.any():
        return None
    top, bottom, left, right = 0, mask.shape[0], 0, mask.shape[1]
    height = 0  # the digit's height is unknown before the first pass
    for _ in range(2):  # rows and columns refine each other
        sub = mask[top:bottom, left:right]
        c0, c1 = _main_run(sub.sum(0), across=height)
        r0, r1 = _main_run(sub[:, c0:c1].sum(1), across=c1 - c0)
        top, bottom, left, right = top + r0, top + r1, left + c0, left + c1
        height = bottom - top
    return top, bottom, left, right


def _digit_crop(ink: np.ndarray, mask: np.ndarray,
                box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The digit's soft ink, antialiased edges included, cropped to where that ink is, and
    the strict ink mask over the same crop.

    The strict mask finds the digit; the pixels kept are the faint ink around it too (MNIST's
    digits have soft edges), within a margin that reaches past the strict mask's edge.
    """
    margin = max(1, max(ink.shape) // 48)
    grown = extreme_filter(mask, 2 * margin + 1, largest=True)
    top, bottom, left, right = box
    top, left = max(0, top - margin), max(0, left - margin)
    bottom, right = bottom + margin, right + margin
    faint = max(0.05, _noise_floor(ink[::2, ::2], 3))
    soft = np.where(grown & (ink > faint), ink, 0)[top:bottom, left:right]
    rows, cols = np.flatnonzero(soft.any(1)), np.flatnonzero(soft.any(0))
    soft = soft[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    core = mask[top:bottom, left:right][rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return soft, core


# -- shape it like MNIST ------------------------------------------------------------------------

def normalise_stroke(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Thicken hairlines and thin marker strokes towards MNIST's stroke width.

    The width estimate reads thick, curved strokes low, so the correction goes only halfway,
    which overshoots neither way (a filter of size k changes the width by k - 1)."""
    area = mask.sum()
    edge = (mask & ~extreme_filter(mask, 3, largest=False)).sum()
    if edge == 0:
        return ink
    box = max(mask.shape)
    width = 2 * area / edge  # for a long stroke: area = length * width, edge = 2 * length
    target = MNIST_STROKE * box
    size = round(abs(target - width) / 2) // 2 * 2 + 1  # odd filter size
    if size < 3 or 0.8 * target < width < 1.6 * target:  # close enough to MNIST: leave it
        return ink
    return extreme_filter(ink, size, largest=width < target)


def fit_mnist(crop: np.ndarray) -> np.ndarray:
    """Fit the cropped digit into 20x20 keeping its aspect ratio, centre its mass in 28x28."""
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, Image.LANCZOS),
                       dtype=np.float32)
    small = np.clip(small, 0, None)
    peak = small.max()
    if peak > 0:
        small = np.clip(small / peak, 0, 1)
    ys, xs = np.indices(small.shape)
    mass = small.sum()
    cy, cx = (ys * small).sum() / mass, (xs * small).sum() / mass
    top = round(14.0 - cy)
    left = round(14.0 - cx)
    top, left = min(max(top, 0), 28 - small.shape[0]), min(max(left, 0), 28 - small.shape[1])
    out = np.zeros((28, 28), np.float32)
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return out


def gray_image(source: ImageSource) -> Image.Image:
    """Decode any supported source into an 8-bit grayscale PIL image."""
    if isinstance(source, np.ndarray):
        return ndarray_to_gray(source)
    return to_gray(open_image(source))


def preprocess(source: ImageSource) -> Processed:
    """The whole pipeline: any image in, the model's 28x28 (or the reason there is none) out."""
    gray = working_size(gray_image(source))
    ink, inverted, contrast = ink_map(gray)
    if contrast < MIN_CONTRAST:
        return Processed(None, "no digit found: the image has no ink", inverted)
    mask = ink_mask(ink)
    box = digit_box(mask)
    if box is None:
        return Processed(None, "no digit found: nothing stands out from the background", inverted)
    if mask.mean() > 0.4:
        return Processed(None, "no digit found: the image is all texture or noise", inverted)
    crop, core = _digit_crop(ink, mask, box)
    if crop.shape[1] > MAX_ASPECT * crop.shape[0]:
        return Processed(None, "no digit found: the ink is much wider than a digit "
                               "(a line, or several digits?)", inverted)
    if crop.mean() > MAX_SOLIDITY and crop.shape[1] > MAX_STROKE_ASPECT * crop.shape[0]:
        return Processed(None, "no digit found: a solid blob of ink, not pen strokes", inverted)
    return Processed(fit_mnist(normalise_stroke(crop, core)), None, inverted)

