"""Read a table on a page: find its grid (`vision.grid`), then read every cell as `read` does
(with the handwriting locator, so rules and print are not ink), each column under its own
constraint where the user knows it. What `digitrec table`, `Reader.table` and /api/table give."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..errors import DigitrecError, ImageError
from ..inference.result import rounded
from ..vision import ImageSource
from ..vision.decode import DRAFTED, gray_image, working_size
from ..vision.grid import GridCell, find_grid
from ..vision.ink import ink_map, ink_mask
from ..vision.pipeline import MIN_CONTRAST
from .result import Reading
from .search import compile_pattern

PAGE_SIDE = 2400  # a page is read at up to this many pixels: a 30-row table's cells stay large
GRID_SIDE = 1600  # its grid is found at up to this many
UNSURE = 0.8  # a cell read with less confidence than this is left for a person to check
# A cell is empty when its inside (less this share of its size on each side: the rules and
# what pokes over them) holds less ink than this share of it.
INSIDE = 0.12
EMPTY = 0.004
TRIM = 0.04  # a cell is read less this share of its size on each side: off its rules


@dataclass(frozen=True)
class Column:
    """What the user knows of a column: its name, and a pattern each of its cells matches."""

    name: str
    pattern: str | None = None


def parse_columns(spec: str) -> list[Column]:
    """'day=\\d{1,2},month=\\d{1,2},year=\\d{4}' (a pattern may hold commas; a name without
    '=' has no pattern) -> the columns, left to right."""
    parts = re.split(r",(?=\s*[A-Za-z_][\w ]*(?:=|,|$))", spec)
    columns = []
    for part in parts:
        name, _, pattern = part.partition("=")
        name = name.strip()
        if not name:
            raise DigitrecError(f"columns: {part!r} has no name (NAME=PATTERN)", "bad_parameter")
        if pattern:
            compile_pattern(pattern)
        columns.append(Column(name, pattern or None))
    return columns


@dataclass(frozen=True)
class TableCell:
    """One cell read: where it starts, what it spans, its box in the page's pixels (left, top,
    right, bottom), its text and confidence, and its status: ok, unsure (for a person to
    check), empty, print (ink, but no handwriting: a printed label) or no_match (nothing
    read fits its column's pattern)."""

    row: int
    column: int
    rows: int
    columns: int
    box: tuple[int, int, int, int]
    text: str
    confidence: float
    status: str
    # What the cell's reading was, where it was read (a correction teaches from its images).
    reading: Reading | None = field(default=None, compare=False, repr=False)

    def to_dict(self, decimals: int | None = None) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "rows": self.rows,
                "columns": self.columns, "box": list(self.box), "text": self.text,
                "confidence": rounded(self.confidence, decimals), "status": self.status}


@dataclass(frozen=True)
class Table:
    """A table read from a page: its cells (a merged cell once, at its first row and column),
    its size, and the columns' names; empty with a reason when no table was found."""

    cells: list[TableCell]
    shape: tuple[int, int]
    names: list[str] = field(default_factory=list)
    ruled: bool = True
    reason: str | None = None
    header: bool = False  # the first row holds the names: it is no row of the body

    def body(self) -> list[list[str]]:
        """The rows under the names: every row, less the first where it holds them."""
        return self.rows()[1:] if self.header else self.rows()

    def rows(self) -> list[list[str]]:
        """The table as text, row by row: a merged cell's text in its first row and column,
        its other places empty."""
        out = [[""] * self.shape[1] for _ in range(self.shape[0])]
        for cell in self.cells:
            out[cell.row][cell.column] = cell.text
        return out

    @property
    def review(self) -> list[TableCell]:
        """The cells a person should check: read unsure, or not fitting their column."""
        return [c for c in self.cells if c.status in ("unsure", "no_match")]

    def csv(self, header: bool = True) -> str:
        """The table as CSV: the columns' names first (with ``header``), then one line per
        row, empty cells empty."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if header and self.names:
            writer.writerow(self.names)
        writer.writerows(self.body())
        return out.getvalue()

    def to_dict(self, decimals: int | None = None) -> dict[str, Any]:
        return {"rows": self.shape[0], "columns": self.shape[1], "names": self.names,
                "ruled": self.ruled, "status": "ok" if self.cells else "no table",
                "reason": self.reason, "table": self.rows(),
                "cells": [c.to_dict(decimals) for c in self.cells],
                "review": len(self.review)}


def quad_crop(page: Image.Image, corners: list[tuple[float, float]]) -> Image.Image:
    """The part of ``page`` inside the quadrilateral ``corners`` (page pixels), the rest of
    its bounding box painted paper."""
    xs, ys = [x for x, _ in corners], [y for _, y in corners]
    left, top = max(0, int(min(xs))), max(0, int(min(ys)))
    right, bottom = min(page.width, int(np.ceil(max(xs)))), min(page.height,
                                                                int(np.ceil(max(ys))))
    crop = page.crop((left, top, max(right, left + 1), max(bottom, top + 1)))
    inside = Image.new("L", crop.size, 0)
    ImageDraw.Draw(inside).polygon([(x - left, y - top) for x, y in corners], fill=255)
    paper = Image.new("L", crop.size, int(np.median(np.asarray(crop))))
    return Image.composite(crop, paper, inside)


def page_ink(source: ImageSource) -> tuple[Image.Image, float, np.ndarray | None]:
    """A page decoded at up to PAGE_SIDE pixels, its ink map's pixels per page pixel, and the
    ink map at up to GRID_SIDE (None when nothing on it stands out)."""
    page = gray_image(source, PAGE_SIDE)
    work, scale, _ = working_size(page, GRID_SIDE)
    # Tables and forms are printed: dark on light paper. Their heavy print and a dark desk
    # around the sheet can make the light side look like the ink's.
    coverage, _, contrast = ink_map(work, dark_ink=True)
    return page, scale, coverage if contrast >= MIN_CONTRAST else None


def _inset(corners: tuple[tuple[float, float], ...], share: float
           ) -> list[tuple[float, float]]:
    """The corners moved towards the cell's middle by ``share`` of its size: off the rules."""
    cx = sum(x for x, _ in corners) / 4
    cy = sum(y for _, y in corners) / 4
    return [(x + (cx - x) * 2 * share, y + (cy - y) * 2 * share) for x, y in corners]


def _inked(mask: np.ndarray, cell: GridCell) -> bool:
    """Whether the inside of ``cell`` (working pixels) holds any writing."""
    left, top, right, bottom = cell.box
    dx, dy = INSIDE * (right - left), INSIDE * (bottom - top)
    inside = mask[max(0, int(top + dy)):max(0, int(bottom - dy)),
                  max(0, int(left + dx)):max(0, int(right - dx))]
    return inside.size > 0 and inside.mean() >= EMPTY


Reads = Callable[[Image.Image, str | None], Reading]


def read_table(source: ImageSource, read: Reads, columns: list[Column] | None = None,
               unsure: float = UNSURE, located: bool = False, header: bool = False) -> Table:
    """The table on the page ``source``, each cell read by ``read`` (an image and its column's
    pattern in, a `Reading` out). Where ``read`` has a locator (``located``), a cell with ink
    it does not take for handwriting is print. With ``header``, the first row is the columns'
    printed names: read by Tesseract where it is installed, else the columns are named by
    place."""
    page, scale, coverage = page_ink(source)
    drafted = page.info.get(DRAFTED, 1.0)
    if coverage is None:
        return Table([], (0, 0), reason="no table found: the page has no ink")
    mask = ink_mask(coverage)
    grid = find_grid(coverage, mask)
    if grid is None:
        return Table([], (0, 0), reason="no table found: no rules and no aligned writing")
    cells = []
    for cell in grid.cells:
        place = {"row": cell.row, "column": cell.column, "rows": cell.rows,
                 "columns": cell.columns,
                 "box": tuple(round(v / scale * drafted) for v in cell.box)}
        if not _inked(mask, cell):
            cells.append(TableCell(**place, text="", confidence=0.0, status="empty"))
            continue
        image = quad_crop(page, [(x / scale, y / scale) for x, y in _inset(cell.corners, TRIM)])
        if header and cell.row == 0:
            cells.append(TableCell(**place, text=_print_text(image), confidence=0.0,
                                   status="print"))
            continue
        pattern = (columns[cell.column].pattern
                   if columns and cell.column < len(columns) else None)
        try:
            reading = read(image, pattern)
        except ImageError:  # a sliver of a cell: too small to hold writing
            cells.append(TableCell(**place, text="", confidence=0.0, status="empty"))
            continue
        text, confidence, status = verdict(reading, unsure, located)
        cells.append(TableCell(**place, text=text, confidence=confidence, status=status,
                               reading=reading))
    names = [columns[k].name if columns and k < len(columns) else
             next((c.text for c in cells if header and c.row == 0 and c.column == k and c.text),
                  f"column {k + 1}") for k in range(grid.shape[1])]
    return Table(cells, grid.shape, names, grid.ruled, header=header)


def verdict(reading: Reading, unsure: float, located: bool = False) -> tuple[str, float, str]:
    """A cell's (or a form's field's) text, confidence and status from its reading: ok,
    unsure (under ``unsure``, or a character unlike any learned), no_match, empty, or print
    where ink was found but no handwriting (``located``: read with a locator)."""
    if not reading.lines:
        status = {"no_match": "no_match", "faint": "print" if located else "empty"}
        return "", 0.0, status.get(reading.reason_code or "", "empty")
    sure = reading.confidence >= unsure and not any(c.unusual for c in reading.characters)
    return (" ".join(line.text for line in reading.lines), reading.confidence,
            "ok" if sure else "unsure")


def _print_text(image: Image.Image) -> str:
    """Printed text in a cell, by Tesseract where it is installed (else empty): a label, a
    header's name."""
    if shutil.which("tesseract") is None:
        return ""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    try:
        done = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "7"], input=buf.getvalue(),
                              capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return " ".join(done.stdout.decode("utf-8", "replace").split())


def table_picture(source: ImageSource, table: Table) -> Image.Image:
    """The page with each cell boxed and its reading written in it: green when sure, amber
    to check, grey for print and empty cells. What `table --show` draws."""
    from .picture import AMBER, GREEN, _fonts, _image

    img, scale = _image(source)
    draw = ImageDraw.Draw(img)
    font = _fonts(max(10, round(img.height / 60)))[0]
    colour = {"ok": GREEN, "unsure": AMBER, "no_match": AMBER}
    for cell in table.cells:
        left, top, right, bottom = (round(v * scale) for v in cell.box)
        fill = colour.get(cell.status, (150, 150, 150))
        draw.rectangle((left, top, right, bottom), outline=fill, width=2)
        if cell.text:
            draw.text((left + 3, top + 2), cell.text, fill=fill, font=font)
    return img
