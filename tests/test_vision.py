"""The preprocessing pipeline, one real-world problem at a time."""

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from digitrec.contract import MAX_PIXELS
from digitrec.errors import DigitrecError
from digitrec.inference import load_digit_model
from digitrec.vision import REASONS, find_ink, locate, preprocess
from digitrec.vision import pipeline as pipeline_module
from digitrec.vision.filters import extreme_filter


@pytest.fixture(scope="module")
def model():
    return load_digit_model()


@pytest.fixture(scope="module")
def seven(mnist) -> np.ndarray:
    """An MNIST test 7: rotating or mirroring it changes what it looks like."""
    return mnist.test_images[0]


def on_paper(digit: np.ndarray, size: int = 140) -> np.ndarray:
    """The digit as dark ink on white paper, enlarged: what a scan of a form looks like."""
    return 255 - np.asarray(Image.fromarray(digit).resize((size, size), Image.BICUBIC))


def assert_same_picture(a: np.ndarray, b: np.ndarray, tolerance: float = 0.02) -> None:
    """Two 28x28 inputs the model would see alike: a check of the pipeline that holds whichever
    model is shipped."""
    assert a is not None and b is not None
    assert np.abs(a - b).mean() < tolerance


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"])
def test_every_common_format(model, seven, fmt: str) -> None:
    data = encode(Image.fromarray(on_paper(seven)).convert("RGB"), fmt)
    assert model.predict(data).digit == 7
    assert_same_picture(preprocess(data).image, preprocess(on_paper(seven)).image,
                        0.04 if fmt in ("JPEG", "WEBP") else 0.02)  # lossy formats


def test_exif_orientation_is_applied(model, seven) -> None:
    upright = Image.fromarray(on_paper(seven)).convert("RGB")
    stored = upright.rotate(90, expand=True)  # the camera held sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(stored, "JPEG", exif=exif.tobytes(), quality=95)
    assert model.predict(data).digit == 7
    assert model.predict(encode(stored, "JPEG", quality=95)).digit != 7  # without the tag
    assert_same_picture(preprocess(data).image, preprocess(encode(upright, "JPEG", quality=95)
                                                           ).image)


def test_transparent_canvas_is_composited_on_white(model, seven) -> None:
    rgba = np.zeros((140, 140, 4), np.uint8)  # black strokes, transparent background
    rgba[..., 3] = 255 - on_paper(seven)
    data = encode(Image.fromarray(rgba, "RGBA"), "PNG")
    result = preprocess(data)
    assert result.inverted  # dark strokes on (composited) white
    assert model.predict(data).digit == 7
    assert_same_picture(result.image, preprocess(on_paper(seven)).image)
    # What a naive convert("L") sees: the colour channels alone, all black.
    assert np.asarray(Image.open(io.BytesIO(data)).convert("L")).max() == 0


def test_sixteen_bit_cmyk_and_palette_images(model, seven) -> None:
    paper = on_paper(seven)
    sixteen = Image.fromarray(paper.astype(np.uint16) * 257)  # I;16, 0..65535
    cmyk = Image.fromarray(paper).convert("RGB").convert("CMYK")
    palette = Image.fromarray(paper).convert("RGB").convert("P", palette=Image.ADAPTIVE)
    for image, fmt in ((sixteen, "PNG"), (cmyk, "JPEG"), (palette, "PNG")):
        assert model.predict(encode(image, fmt)).digit == 7, image.mode
        assert_same_picture(preprocess(encode(image, fmt)).image, preprocess(paper).image, 0.04)


def test_both_polarities_give_the_same_picture(seven) -> None:
    dark_on_light = preprocess(on_paper(seven))
    light_on_dark = preprocess(255 - on_paper(seven))
    assert dark_on_light.inverted and not light_on_dark.inverted
    assert np.abs(dark_on_light.image - light_on_dark.image).mean() < 0.02


def test_small_digit_in_a_corner_is_cropped_fitted_and_centred(model, seven) -> None:
    page = np.full((480, 640), 235, np.uint8)
    page[400:460, 560:620] = on_paper(seven, 60)  # bottom-right corner, a tenth of the width
    result = preprocess(page)
    image = result.image
    rows, cols = np.flatnonzero(image.max(1) > 0.05), np.flatnonzero(image.max(0) > 0.05)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21  # fitted into 20x20
    ys, xs = np.indices(image.shape)
    assert abs((ys * image).sum() / image.sum() - 14) < 1  # centre of mass in the middle
    assert abs((xs * image).sum() / image.sum() - 14) < 1
    assert model.predict(page).digit == 7


def test_ruled_lines_and_the_sheet_edge_are_not_ink(model, seven) -> None:
    page = np.full((360, 480), 230, np.uint8)
    page[::30, :] = 170  # ruled lines every 30 pixels
    page[:, :25] = 80  # the table beyond the sheet's left edge
    page[-18:, :400] = 90  # and below its bottom edge: a strip narrower than thick strokes,
    # not quite across the frame (the sheet lies at an angle)
    page[90:230, 170:310] = np.minimum(page[90:230, 170:310], on_paper(seven))
    result = preprocess(page)
    assert (result.image.max(1) > 0.5).sum() > 10  # the digit's rows, not a line's
    assert (result.image > 0.5).mean(1).max() < 0.8  # no row is one long line
    assert model.predict(page).digit == 7


def test_hairline_and_marker_strokes_move_toward_mnist_width(seven, monkeypatch) -> None:
    def coverage(image: Image.Image) -> float:  # share of the 28x28 that is ink
        return float((preprocess(np.asarray(image)).image > 0.5).mean())

    reference = float((preprocess(seven).image > 0.5).mean())  # MNIST's own 7
    paper = Image.fromarray(on_paper(seven, 280))
    fine_pen = paper.filter(ImageFilter.MaxFilter(11))  # dark ink shrinks
    felt_tip = paper.filter(ImageFilter.MinFilter(31))  # dark ink spreads
    normalised = coverage(fine_pen), coverage(felt_tip)
    monkeypatch.setattr(pipeline_module, "normalise_stroke", lambda ink, mask: ink)
    untouched = coverage(fine_pen), coverage(felt_tip)
    assert untouched[0] < 0.6 * reference and untouched[1] > 1.5 * reference  # far from MNIST
    # The correction goes halfway (the width estimate reads thick, curved strokes low).
    assert abs(normalised[0] - reference) < 0.5 * abs(untouched[0] - reference)
    assert abs(normalised[1] - reference) < 0.9 * abs(untouched[1] - reference)


@pytest.mark.parametrize("image", [
    np.full((200, 300), 240, np.uint8),  # blank paper
    np.full((100, 100), 30, np.uint8),  # a dark, empty board
    np.random.default_rng(0).integers(0, 256, (240, 320)).astype(np.uint8),  # pure noise
])
def test_no_ink_means_no_digit(image: np.ndarray) -> None:
    result = preprocess(image)
    assert result.image is None and result.reason.startswith("no digit found")


def _drawn(shape: str) -> np.ndarray:
    page = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(page)
    if shape == "blob":  # a filled-in bubble; a region wider than a stroke is background
        draw.ellipse((120, 120, 160, 160), fill=0)
    else:  # a dash, or a line under a signature
        draw.rectangle((30, 130, 250, 146), fill=0)
    return np.asarray(page)


@pytest.mark.parametrize("shape, reason", [("blob", "solid blob"), ("dash", "wider than")])
def test_shapes_no_digit_has_are_refused(shape: str, reason: str) -> None:
    result = preprocess(_drawn(shape))
    assert result.image is None and reason in result.reason


@pytest.mark.parametrize("image, code", [
    (_drawn("blob"), "solid_blob"),
    (_drawn("dash"), "too_wide"),
    (np.full((200, 300), 240, np.uint8), "no_ink"),
    (np.random.default_rng(0).integers(0, 256, (240, 320)).astype(np.uint8), "faint"),
])
def test_each_refusal_has_a_stable_code(image: np.ndarray, code: str) -> None:
    result = preprocess(image)
    assert result.reason_code == code and result.reason == REASONS[code]


def test_locate_finds_every_group_of_ink_left_to_right(seven) -> None:
    page = np.full((120, 400), 235, np.uint8)
    for left in (40, 180, 300):  # three 7s with gaps between them, the middle one lower
        top = 30 if left == 180 else 10
        page[top : top + 84, left : left + 84] = on_paper(seven, 84)
    ink = find_ink(page)
    groups = locate(ink.mask)
    assert len(groups) == 3
    scale = ink.mask.shape[1] / page.shape[1]
    for group, left in zip(groups, (40, 180, 300), strict=True):
        assert abs(group.left - (left + 28) * scale) < 12 * scale  # the 7's ink starts ~28 in
        assert group.right > group.left and group.bottom > group.top and group.mass > 0
    assert groups[1].top > groups[0].top  # each group has its own box


def test_a_straight_thick_one_is_a_digit_not_a_blob(model) -> None:
    # As drawn on the web page: one upright stroke of a thick pen fills its own box.
    page = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(page).line((140, 50, 146, 230), fill=0, width=18)
    assert model.predict(np.asarray(page)).digit == 1
    seen = preprocess(np.asarray(page)).image > 0.5
    rows, cols = np.flatnonzero(seen.any(1)), np.flatnonzero(seen.any(0))
    assert rows[-1] - rows[0] >= 18 and cols[-1] - cols[0] <= 8  # an upright stroke


def test_digits_cropped_tight_to_the_frame(model, mnist) -> None:
    # scikit-learn's UCI digits are 8x8 and touch every edge; so does this tight crop of a 7.
    rows, cols = np.flatnonzero(mnist.test_images[0].any(1)), np.flatnonzero(
        mnist.test_images[0].any(0))
    tight = mnist.test_images[0][rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    small = np.asarray(Image.fromarray(tight).resize((8, 8), Image.BOX))
    for image in (tight, small):
        assert model.predict(image).digit == 7, image.shape
    # With its margin back, the tight crop is MNIST's own 7 again.
    assert_same_picture(preprocess(tight).image, preprocess(mnist.test_images[0]).image, 0.03)


def test_extreme_filter_matches_a_plain_window_max() -> None:
    a = np.random.default_rng(1).random((9, 11)).astype(np.float32)
    out = extreme_filter(a, 3, largest=True)
    padded = np.pad(a, 1, mode="edge")
    expected = np.max([padded[dy : dy + 9, dx : dx + 11] for dy in range(3) for dx in range(3)], 0)
    np.testing.assert_array_equal(out, expected)


# -- bad input --------------------------------------------------------------------------------

def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds almost nothing: a decompression bomb's shape."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("name, content, problem", [
    ("empty.png", b"", "empty file"),
    ("notes.png", b"this is a text file, not a picture\n", "not an image"),
    ("huge.png", _png_header(20000, 20000), "over the limit"),
    ("tiny.png", None, "too small"),
    ("cut.jpg", None, "corrupt or truncated"),
])
def test_bad_files_get_one_clear_line(tmp_path: Path, seven, name: str, content, problem) -> None:
    path = tmp_path / name
    if name == "tiny.png":
        content = encode(Image.new("L", (1, 1), 255), "PNG")
    elif name == "cut.jpg":
        whole = encode(Image.fromarray(on_paper(seven, 400)), "JPEG", quality=90)
        content = whole[: len(whole) // 3]
    path.write_bytes(content)
    with pytest.raises(DigitrecError, match=problem) as info:
        preprocess(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_arrays_are_scaled_by_their_dtype(seven) -> None:
    paper = on_paper(seven)  # uint8
    reference = preprocess(paper).image
    for same in (paper.astype(np.uint16) * 257, paper / 255.0,
                 np.stack([paper.astype(np.uint16) * 257] * 3, axis=2)):
        assert np.abs(preprocess(same).image - reference).max() < 0.02, same.dtype


def test_arrays_get_the_same_size_checks_as_files() -> None:
    with pytest.raises(DigitrecError, match="too small"):
        preprocess(np.zeros((1, 1), np.uint8))
    with pytest.raises(DigitrecError, match="expected a 2-D grayscale"):
        preprocess(np.zeros((4, 28, 28), np.uint8))


def test_pixel_limit_is_checked_before_decoding() -> None:
    assert 20000 * 20000 > MAX_PIXELS > 12_000_000  # a phone photo passes, a bomb does not


def test_animated_gif_uses_its_first_frame(model, seven) -> None:
    frames = [Image.fromarray(on_paper(seven)), Image.new("L", (140, 140), 255)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert model.predict(data).digit == 7
    assert_same_picture(preprocess(data).image, preprocess(on_paper(seven)).image)


def test_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DigitrecError, match="no such file"):
        preprocess(tmp_path / "nope.png")
    with pytest.raises(DigitrecError, match="not a file"):
        preprocess(tmp_path)
