"""Read forms: a template names each field by its box on a reference scan, with what it holds
(a count of digits, a pattern, a check digit); each scan is registered to the reference by the
frame its rules draw (`vision.register`), and every field read where it falls on the scan."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import DigitrecError, ImageError, describe
from ..inference.result import rounded
from ..vision import ImageSource
from ..vision.decode import DRAFTED
from ..vision.grid import boxes, frame
from ..vision.register import homography, mapped
from .result import Reading
from .search import compile_pattern, parse_digits
from .table import UNSURE, page_ink, quad_crop, verdict

CHECKS = ("luhn",)


@dataclass(frozen=True)
class Field:
    """A field of a form: its name, its box on the reference (left, top, right, bottom), and
    what it holds where known."""

    name: str
    box: tuple[float, float, float, float]
    digits: tuple[int, int] | None = None
    pattern: str | None = None
    check: str | None = None  # "luhn": the last digit checks the others


@dataclass(frozen=True)
class Template:
    """A form's fields, its reference's size, and the corners of the reference's frame (None:
    scans are only rescaled to the reference's size)."""

    fields: list[Field]
    size: tuple[int, int]
    frame: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"size": list(self.size),
                "frame": None if self.frame is None else np.round(self.frame, 2).tolist(),
                "fields": [{"name": f.name, "box": [round(v, 1) for v in f.box],
                            **({"digits": f"{f.digits[0]}-{f.digits[1]}"} if f.digits else {}),
                            **({"pattern": f.pattern} if f.pattern else {}),
                            **({"check": f.check} if f.check else {})} for f in self.fields]}


def _field(entry: Any, where: str) -> Field:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise DigitrecError(f"{where}: each field needs a name and a box", "bad_template")
    box = entry.get("box")
    if (not isinstance(box, list) or len(box) != 4
            or not all(isinstance(v, (int, float)) for v in box) or box[2] <= box[0]
            or box[3] <= box[1]):
        raise DigitrecError(f"{where}: field {entry['name']!r}: box must be [left, top, right, "
                            "bottom] in the reference's pixels", "bad_template")
    digits = entry.get("digits")
    check = entry.get("check")
    if check is not None and check not in CHECKS:
        raise DigitrecError(f"{where}: field {entry['name']!r}: unknown check {check!r} "
                            f"(known: {', '.join(CHECKS)})", "bad_template")
    pattern = entry.get("pattern")
    try:
        if pattern is not None:
            compile_pattern(str(pattern))
        span = parse_digits(str(digits)) if digits is not None else None
    except DigitrecError as exc:
        raise DigitrecError(f"{where}: field {entry['name']!r}: {exc}", "bad_template") from None
    return Field(entry["name"], tuple(float(v) for v in box), span,  # type: ignore[arg-type]
                 None if pattern is None else str(pattern), check)


def load_template(path: str | os.PathLike[str]) -> Template:
    """A template from a JSON (or, with PyYAML installed, YAML) file: {"size": [w, h],
    "frame": [[x, y] x 4] or absent, "fields": [{"name", "box", "digits", "pattern",
    "check"}]}; a file that is not one is refused in one line."""
    file = Path(path)
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DigitrecError(f"{file}: cannot read the template ({describe(exc)})",
                            "not_found") from None
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise DigitrecError(f"{file}: a YAML template needs PyYAML: pip install "
                                    "'digitrec[table]'", "missing_dependency") from None
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except DigitrecError:
        raise
    except Exception as exc:  # the parsers' own errors: one line, whichever parser
        raise DigitrecError(f"{file}: not a template ({describe(exc)})",
                            "bad_template") from None
    if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
        raise DigitrecError(f"{file}: not a template (an object with \"fields\")",
                            "bad_template")
    size = data.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(
            isinstance(v, int) and v > 0 for v in size)):
        raise DigitrecError(f"{file}: \"size\" must be the reference's [width, height]",
                            "bad_template")
    corners = data.get("frame")
    if corners is not None:
        corners = np.asarray(corners, np.float64)
        if corners.shape != (4, 2):
            raise DigitrecError(f"{file}: \"frame\" must be four [x, y] corners",
                                "bad_template")
    fields = [_field(entry, str(file)) for entry in data["fields"]]
    if len({f.name for f in fields}) < len(fields):
        raise DigitrecError(f"{file}: two fields have the same name", "bad_template")
    return Template(fields, (size[0], size[1]), corners)


def make_template(reference: ImageSource) -> Template:
    """A template proposed from a blank (or filled) reference: its frame, and a field for
    every box its rules enclose (field1, field2, ... top to bottom), for a person to name
    and constrain."""
    page, scale, coverage = page_ink(reference)
    drafted = page.info.get(DRAFTED, 1.0)
    size = (round(page.width * drafted), round(page.height * drafted))
    if coverage is None:
        raise DigitrecError("reference: nothing on it stands out from the paper", "no_ink")
    corners = frame(coverage)
    fields = [Field(f"field{k}", tuple(round(v / scale * drafted, 1)  # type: ignore[arg-type]
                                       for v in box))
              for k, box in enumerate(boxes(coverage), 1)]
    return Template(fields, size, None if corners is None else corners / scale * drafted)


def luhn(text: str) -> bool:
    """Whether the digits of ``text`` pass Luhn's check (card numbers, many account numbers)."""
    digits = [int(c) for c in text if c.isdigit()]
    if len(digits) < 2:
        return False
    total = sum(d if k % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d)
                for k, d in enumerate(reversed(digits)))
    return total % 10 == 0


@dataclass(frozen=True)
class FieldResult:
    name: str
    text: str
    confidence: float
    status: str  # ok, unsure, empty, no_match, check_failed
    box: tuple[int, int, int, int]  # where the field was read, in the scan's pixels

    def to_dict(self, decimals: int | None = None) -> dict[str, Any]:
        return {"text": self.text, "confidence": rounded(self.confidence, decimals),
                "status": self.status, "box": list(self.box)}


@dataclass(frozen=True)
class FormResult:
    """Every field of one scan, and how the scan was registered: "frame" (its rules' frame
    matched the reference's) or "scaled" (only rescaled: no frame found)."""

    fields: list[FieldResult]
    registered: str

    def to_dict(self, decimals: int | None = None) -> dict[str, Any]:
        return {"status": "ok", "registered": self.registered,
                "fields": {f.name: f.to_dict(decimals) for f in self.fields}}


def form_failure(message: str, code: str) -> dict[str, Any]:
    return {"status": "error", "registered": None, "fields": {}, "error": message,
            "reason_code": code}


def register(template: Template, scan_frame: np.ndarray | None,
             scan_size: tuple[float, float]) -> tuple[np.ndarray, str]:
    """The map from the reference's pixels to the scan's, and how it was found."""
    if template.frame is not None and scan_frame is not None:
        return homography(template.frame, scan_frame), "frame"
    sx, sy = scan_size[0] / template.size[0], scan_size[1] / template.size[1]
    return np.diag([sx, sy, 1.0]), "scaled"


# How a field is read: its image, its digits and its pattern in, a Reading out.
ReadsField = Callable[[Image.Image, tuple[int, int] | None, str | None], Reading]


def read_form(template: Template, source: ImageSource, read: ReadsField,
              unsure: float = UNSURE) -> FormResult:
    """Every field of ``template`` on the scan ``source``, read by ``read`` (an image, the
    field's digits and pattern in; a `Reading` out)."""
    page, scale, coverage = page_ink(source)
    drafted = page.info.get(DRAFTED, 1.0)
    corners = None if coverage is None else frame(coverage)
    scan = None if corners is None else corners / scale * drafted
    h, how = register(template, scan, (page.width * drafted, page.height * drafted))
    out = []
    for f in template.fields:
        left, top, right, bottom = f.box
        quad = mapped(h, np.array([[left, top], [right, top], [right, bottom], [left, bottom]]))
        box = (int(quad[:, 0].min()), int(quad[:, 1].min()), int(np.ceil(quad[:, 0].max())),
               int(np.ceil(quad[:, 1].max())))
        image = quad_crop(page, [(x / drafted, y / drafted) for x, y in quad])
        try:
            text, confidence, status = verdict(read(image, f.digits, f.pattern), unsure)
        except ImageError:  # a field mapped off the scan, or to a sliver
            text, confidence, status = "", 0.0, "empty"
        if text and f.check == "luhn" and not luhn(text):
            status = "check_failed"
        out.append(FieldResult(f.name, text, confidence, status, box))
    return FormResult(out, how)
