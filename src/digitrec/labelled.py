"""A user's own labelled images, for fine-tuning: a folder per class (``DIR/7/*.png``, the
layout image datasets are usually kept in), a CSV of ``path,label``, or the corrections the
server stored (`digitrec.corrections`).

Each image goes through `preprocess`, exactly as `predict` would see it, so a model is tuned on
what it will meet. Torch-free: the fine-tuning stage imports it, and so can a data check.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .corrections import Correction, Store
from .errors import DigitrecError, describe
from .vision import preprocess
from .vision.pipeline import Writing

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class Labelled:
    """The images as the model sees them (N, 28, 28) float32 in [0, 1], their class indices,
    their files, the files with no digit to learn from (and why), and a hash of the whole."""

    images: np.ndarray
    labels: np.ndarray
    files: list[str]
    skipped: list[tuple[str, str]]
    sha256: str
    provenance: dict[str, Any] | None = None  # where real writing came from (`corpus`)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> Labelled:
        return Labelled(self.images[index], self.labels[index],
                        [self.files[i] for i in index], [], self.sha256, self.provenance)

    def split(self, share: float, seed: int = 0) -> tuple[Labelled, Labelled]:
        """(train, validation): ``share`` of the images, seeded, taken from every class in
        proportion (rounded, so a class of one image stays in training)."""
        if not 0 <= share < 1:
            raise DigitrecError(f"the validation share must be in [0, 1), not {share}",
                                "bad_parameter")
        rng = np.random.default_rng(seed)
        held: list[int] = []
        for label in np.unique(self.labels):
            members = rng.permutation(np.flatnonzero(self.labels == label))
            held += members[: int(share * len(members) + 0.5)].tolist()
        val = np.array(sorted(held), dtype=int)
        train = np.setdiff1d(np.arange(len(self)), val)
        return self.subset(train), self.subset(val)


def pairs(source: str | os.PathLike[str], classes: str) -> list[tuple[Path, int]]:
    """(file, class index) for a folder of class folders or a CSV of path,label."""
    source = Path(source)
    if source.is_dir():
        return _folder_pairs(source, classes)
    if source.is_file():
        return _csv_pairs(source, classes)
    raise DigitrecError(f"{source}: no such folder or CSV file", "not_found")


def _class_index(label: str, classes: str, where: str) -> int:
    if len(label) != 1 or label not in classes:
        raise DigitrecError(f"{where}: label {label!r} is not one of the model's classes "
                            f"{classes!r}", "bad_label")
    return classes.index(label)


def _folder_pairs(folder: Path, classes: str) -> list[tuple[Path, int]]:
    found = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        label = _class_index(sub.name, classes, str(sub))
        found += [(f, label) for f in sorted(sub.iterdir())
                  if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise DigitrecError(f"{folder}: no labelled images (expected a folder per class, "
                            f"such as {folder / '7'}/*.png)", "empty")
    return found


def _csv_pairs(path: Path, classes: str) -> list[tuple[Path, int]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DigitrecError(f"{path}: cannot read it as a CSV of path,label ({describe(exc)})",
                            "bad_file") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    found = []
    for line, row in enumerate(rows, 1):
        if len(row) != 2:
            raise DigitrecError(f"{path}: row {line} has {len(row)} fields, not path,label",
                                "bad_file")
        file = Path(row[0].strip())
        found.append((file if file.is_absolute() else path.parent / file,
                      _class_index(row[1].strip(), classes, f"{path}: row {line}")))
    if not found:
        raise DigitrecError(f"{path}: no rows of path,label", "empty")
    return found


def load_labelled(source: str | os.PathLike[str], classes: str,
                  locator: Writing | None = None) -> Labelled:
    """Every image named by ``source``, preprocessed as `predict` does (through ``locator``,
    where given). A file that cannot be read stops the load with one line naming it: a
    dataset with a broken file is the user's to fix, not ours to shrink silently. Images with
    no digit found are skipped and listed."""
    images, labels, files, skipped, entries = [], [], [], [], []
    for file, label in pairs(source, classes):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise DigitrecError(f"{file}: cannot read it ({describe(exc)})", "not_found") from None
        entries.append(f"{classes[label]} {hashlib.sha256(data).hexdigest()}\n")
        try:
            processed = preprocess(data, locator)
        except DigitrecError as exc:
            raise DigitrecError(f"{file}: {str(exc).removeprefix('<bytes>: ')}",
                                exc.code) from None
        if processed.image is None:
            skipped.append((str(file), processed.reason or "no digit found"))
            continue
        images.append(processed.image.astype(np.float32))
        labels.append(label)
        files.append(str(file))
    if not images:
        raise DigitrecError(f"{source}: no digit found in any of its {len(skipped)} images",
                            "empty")
    return labelled_from(images, labels, files, skipped, entries)


def labelled_from(images: list[np.ndarray], labels: list[int], files: list[str],
                  skipped: list[tuple[str, str]], entries: list[str],
                  provenance: dict[str, Any] | None = None) -> Labelled:
    """The images (28x28 each) with their class indices and files; ``entries`` are one
    "label content-hash" line per image, hashed together as the data's SHA-256."""
    # The hash is of the sorted (label, content) entries: the same data hashes alike in a
    # folder, a CSV or a database, in any order, under any names.
    digest = hashlib.sha256("".join(sorted(entries)).encode()).hexdigest()
    return Labelled(np.stack(images), np.array(labels, dtype=np.int64), files, skipped, digest,
                    provenance)


def digit_pairs(correction: Correction) -> list[tuple[np.ndarray, str]]:
    """The (28x28 image, character) pairs a correction teaches: a digit's one image, or a
    number's digit images with the digits of its label, in order (none if they do not pair
    up one to one)."""
    chars = correction.label if correction.kind == "digit" else [
        c for c in correction.label if c.isdigit()]
    if len(chars) != len(correction.images):
        return []
    return list(zip(correction.images, chars, strict=True))


def from_corrections(path: str | os.PathLike[str], classes: str,
                     writer: str | None = None) -> Labelled:
    """The images in a corrections database (``writer``'s only, if given), as the model saw
    them; a correction whose images and label do not pair up is skipped and listed."""
    images, labels, files, skipped, entries = [], [], [], [], []
    for correction in Store.existing(path).corrections(writer):
        pairs = digit_pairs(correction)
        if not pairs:
            skipped.append((f"correction {correction.id}", "its images and label do not pair up"))
        for k, (image, char) in enumerate(pairs):
            label = _class_index(char, classes, f"{path}: correction {correction.id}")
            images.append(image.astype(np.float32) / 255)
            labels.append(label)
            files.append(f"{path}#{correction.id}.{k}")
            entries.append(f"{char} {hashlib.sha256(image.tobytes()).hexdigest()}\n")
    if not images:
        raise DigitrecError(f"{path}: no corrections to learn from"
                            + (f" for writer {writer!r}" if writer else ""), "empty")
    return labelled_from(images, labels, files, skipped, entries)
