"""A corpus of real handwriting as training data: the manifest `bench/real/labels.csv` keeps
(file, label, set, kind, source, commit, path, licence, split), and its ``dev`` rows can teach
a sequence reader (each image's line, found as `read` finds it, with its label) or a digit
model (each number's digits, cut where the digit model's own reading of the label cuts them).

The ``test`` rows are for reporting only: nothing here hands them out. What was learned from
is recorded (the rows' hash, their sources at their commits) so a model card can say it.
Torch-free: a data check can run it without the training extra.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DigitrecError, describe
from .labelled import Labelled, labelled_from

COLUMNS = ("file", "label", "set", "kind", "source", "commit", "path", "licence", "split")
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class Row:
    file: Path  # the image, absolute or relative to where the program runs
    label: str
    set: str  # "numbers" or "sums"
    kind: str
    source: str
    commit: str
    split: str
    licence: str = ""


def is_manifest(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a CSV whose header is the corpus's columns."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as f:
            return tuple(next(csv.reader(f), ())) == COLUMNS
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


def rows(manifest: str | os.PathLike[str], split: str | None = "dev") -> list[Row]:
    """The manifest's rows of ``split`` (every row with None, for a report), their files
    relative to the manifest. A row whose image is not there stops the load in one line."""
    manifest = Path(manifest)
    if split not in (*SPLITS, None):
        raise DigitrecError(f"{manifest}: no split {split!r} (the corpus has dev and test)",
                            "bad_parameter")
    try:
        with manifest.open(newline="", encoding="utf-8") as f:
            table = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DigitrecError(f"{manifest}: cannot read it as the corpus's CSV "
                            f"({describe(exc)})", "bad_file") from None
    if not table or tuple(table[0]) != COLUMNS:
        raise DigitrecError(f"{manifest}: not a corpus manifest (its header must be "
                            f"{','.join(COLUMNS)})", "bad_file")
    out = []
    for line, r in enumerate(table, 2):
        if r["split"] not in SPLITS or r["set"] not in ("numbers", "sums") or not r["label"]:
            raise DigitrecError(f"{manifest}: line {line} has split {r['split']!r}, set "
                                f"{r['set']!r} and label {r['label']!r}", "bad_file")
        if split is None or r["split"] == split:
            out.append(Row(manifest.parent / r["file"], r["label"], r["set"], r["kind"],
                           r["source"], r["commit"], r["split"], r["licence"]))
    missing = [r.file for r in out if not r.file.is_file()]
    if missing:
        raise DigitrecError(f"{missing[0]}: image not there ({len(missing)} of the manifest's "
                            f"are missing: make them with python {manifest.parent / 'build.py'}"
                            " --mirrors DIR)", "not_found")
    if not out:
        raise DigitrecError(f"{manifest}: no {split} rows", "empty")
    return out


def _image(row: Row) -> bytes:
    try:
        return row.file.read_bytes()
    except OSError as exc:
        raise DigitrecError(f"{row.file}: cannot read it ({describe(exc)})", "not_found") from None


def digest(given: list[Row]) -> str:
    """The rows' hash, of their labels and image bytes in any order: cheap (no image is
    decoded), so a run can record it before it loads anything and a resumed run can check
    that it has the same data."""
    entries = sorted(f"{r.label}\t{hashlib.sha256(_image(r)).hexdigest()}\n" for r in given)
    return hashlib.sha256("".join(entries).encode()).hexdigest()


def provenance(manifest: str | os.PathLike[str], given: list[Row], used: list[Row],
               skipped: int) -> dict[str, Any]:
    """What a model card says of the real writing it learned from: the manifest, the split,
    the hash of the rows given, how many were used and left out, and each used row's source
    at its commit with its count, and each source's licence."""
    sources = Counter(f"{r.source}@{r.commit}" for r in used)
    return {"manifest": Path(manifest).name, "split": given[0].split,
            "sha256": digest(given), "rows": len(used), "skipped": skipped,
            "sources": dict(sorted(sources.items())),
            "licences": dict(sorted({r.source: r.licence for r in used}.items()))}


@dataclass(frozen=True)
class Lines:
    """Real lines as the sequence reader sees them ((LINE_HEIGHT, width) float32 in [0, 1],
    ink white), their texts, the rows left out and why, and where they came from."""

    images: list[np.ndarray]
    texts: list[str]
    skipped: list[tuple[str, str]]
    provenance: dict[str, Any]

    def __len__(self) -> int:
        return len(self.texts)


def load_lines(manifest: str | os.PathLike[str], alphabet: str, sums: bool) -> Lines:
    """Each dev number (and sum, with ``sums``) whose label is written in ``alphabet``,
    its one line found as `read` finds it (through the shipped locator); rows where that
    finds no line or several are skipped, as `read` could not learn from them either."""
    from .inference.locator import load_locator
    from .reading.lines import line_images

    locator = load_locator()

    images, texts, used, skipped = [], [], [], []
    given = rows(manifest, "dev")
    for row in given:
        if row.set == "sums" and not sums:
            continue
        foreign = sorted(set(row.label) - set(alphabet))
        if foreign:
            skipped.append((str(row.file), f"the reader does not write {''.join(foreign)}"))
            continue
        try:
            found = line_images(_image(row), math=row.set == "sums", locator=locator)
        except DigitrecError as exc:
            skipped.append((str(row.file), str(exc).removeprefix("<bytes>: ")))
            continue
        if len(found) != 1:
            skipped.append((str(row.file), f"{len(found)} lines found, not 1"))
            continue
        images.append(found[0].astype(np.float32))
        texts.append(row.label)
        used.append(row)
    if not used:
        raise DigitrecError(f"{manifest}: none of its dev rows gives a line to learn from",
                            "empty")
    return Lines(images, texts, skipped, provenance(manifest, given, used, len(skipped)))


@dataclass(frozen=True)
class Inks:
    """Real images' ink as the locator sees it: each image's ink map and the mask of its
    handwriting (float32 in [0, 1], same shapes), the rows left out and why, and where they
    came from."""

    maps: list[np.ndarray]
    masks: list[np.ndarray]
    skipped: list[tuple[str, str]]
    provenance: dict[str, Any]

    def __len__(self) -> int:
        return len(self.maps)


def load_inks(manifest: str | os.PathLike[str]) -> Inks:
    """Each dev image's ink map and, as the mask of its handwriting, the ink thresholds and
    rules find in it (no locator), where the shipped models read that ink exactly as
    labelled: a reading that comes out right is evidence that the mask holds the writing and
    little else. Rows read otherwise are skipped."""
    from .reading import load_model

    reader = load_model().without_locator()
    maps, masks, used, skipped = [], [], [], []
    given = rows(manifest, "dev")
    for row in given:
        data = _image(row)
        try:
            read = (reader.calc(data).reading if row.set == "sums" else reader.read(data)).text
        except DigitrecError as exc:
            skipped.append((str(row.file), str(exc).removeprefix("<bytes>: ")))
            continue
        if read != row.label:
            skipped.append((str(row.file), f"read as {read!r}"))
            continue
        ink = reader.ink(data)
        maps.append(ink.coverage.astype(np.float32))
        masks.append(ink.mask.astype(np.float32))
        used.append(row)
    if not used:
        raise DigitrecError(f"{manifest}: none of its dev images is read right to learn from",
                            "empty")
    return Inks(maps, masks, skipped, provenance(manifest, given, used, len(skipped)))


def load_digits(manifest: str | os.PathLike[str], model_path: str | os.PathLike[str],
                classes: str) -> Labelled:
    """The digits of each dev number, as the digit model sees them: the image read by
    the model in ``model_path`` held to its label (the label as the pattern), so its
    segmentation cuts the ink where the label's digits are, in the ink the shipped locator
    keeps; a number it cannot cut that way is skipped. Sums are skipped: their operators are
    not the digit model's to learn."""
    from .inference.locator import load_locator
    from .inference.model import load_digit_model
    from .reading import read

    model, locator = load_digit_model(model_path), load_locator()
    images, labels, files, skipped, entries, used = [], [], [], [], [], []
    given = rows(manifest, "dev")
    for row in given:
        if row.set != "numbers":
            continue
        data = _image(row)
        try:
            reading = read(model, data, pattern=re.escape(row.label), locator=locator)
        except DigitrecError as exc:
            skipped.append((str(row.file), str(exc).removeprefix("<bytes>: ")))
            continue
        digits = [c for line in reading.lines for c in line.characters if c.char.isdigit()]
        if reading.text != row.label or any(c.processed is None for c in digits):
            skipped.append((str(row.file), "its digits could not be cut apart as labelled"))
            continue
        for k, char in enumerate(digits):
            images.append(char.processed.astype(np.float32))
            labels.append(classes.index(char.char))
            files.append(f"{row.file}#{k}")
            entries.append(f"{char.char} {hashlib.sha256(char.processed.tobytes()).hexdigest()}\n")
        used.append(row)
    if not used:
        raise DigitrecError(f"{manifest}: none of its dev numbers could be cut into digits",
                            "empty")
    return labelled_from(images, labels, files, skipped, entries,
                         provenance(manifest, given, used, len(skipped)))
