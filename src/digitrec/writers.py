"""Real handwritten characters by other writers than MNIST's, for the networks to learn from:
digits and operators from public sets (USPS, Semeion, UCI's optdigits, NSYSU's exam digits,
MDAS's operators), each already in MNIST's form, as `data/writers/build.py` makes them from
their sources. Each file records where it came from and under which licence, and a model
trained on them records that in its card.

Validation is by writer: a share of each source's writers (never their characters alone) is
held out, so that the accuracy measured is on writers the network has not seen. A source that
does not tell its writers apart (USPS, optdigits by file, Semeion by block, MDAS) has one id or
a few, so it is held out whole or not at all; with today's files only NSYSU's exam sheets are
many enough for a share of them (322 of its 1,874 digits) to be held out.

Who wrote each of MNIST's own digits comes beside them where `data/writers/build.py` made it
(mnist-writers.npz, from QMNIST's labels): a sequence reader's strings can then be written by
one writer, as a real number is.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DigitrecError

HELD_OUT = 0.15  # share of each source's writers kept for validation
MNIST_WRITERS = "mnist-writers.npz"


@dataclass(frozen=True)
class MnistWriters:
    """The writer of each of MNIST's 60,000 training and 10,000 test digits (in MNIST's
    order), the classes they were given with (to check the match), and where they came from."""

    train: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray
    test_labels: np.ndarray
    source: dict[str, Any]

    def check(self, train_labels: np.ndarray, test_labels: np.ndarray) -> None:
        """Refuse MNIST files whose digits are not those these writers wrote."""
        if not (np.array_equal(self.train_labels, train_labels)
                and np.array_equal(self.test_labels, test_labels)):
            raise DigitrecError(f"{MNIST_WRITERS}: its labels are not MNIST's (another "
                                "ordering or set of digits)", "bad_file")


@dataclass(frozen=True)
class Writers:
    """Characters: images (N, 28, 28) uint8 in MNIST's form, the character each is, its
    writer's id (the source's name where the source does not tell writers apart), and per
    source where it came from (repository, commit, licence, the SHA-256 of its files, count)."""

    images: np.ndarray
    labels: np.ndarray
    writers: np.ndarray
    sources: dict[str, dict[str, Any]]
    mnist: MnistWriters | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def only(self, characters: str) -> Writers:
        """The characters among ``characters`` (the digits, say)."""
        keep = np.isin(self.labels, list(characters))
        return Writers(self.images[keep], self.labels[keep], self.writers[keep], self.sources,
                       self.mnist)

    def held_out(self) -> np.ndarray:
        """Which characters are for validation: those of HELD_OUT of each source's writers,
        chosen by a hash of the writer's id (the same every run, whatever else is loaded)."""
        share = np.array([zlib.crc32(w.encode()) % 1000 / 1000 for w in self.writers])
        return share < HELD_OUT

    @property
    def digest(self) -> str:
        """The SHA-256 of the sources' files (MNIST's writers' too): what a recipe records to
        tell runs apart."""
        named = sorted(self.sources.items())
        if self.mnist is not None:
            named.append(("mnist-writers", self.mnist.source))
        return hashlib.sha256("".join(f"{name} {s['sha256']}\n" for name, s in
                                      named).encode()).hexdigest()


def load_writers(folder: str | os.PathLike[str], names: list[str] | None = None) -> Writers:
    """Every NAME.npz in ``folder`` (or those ``names``), as one set, with MNIST's writers
    where the folder has them."""
    folder = Path(folder)
    files = (sorted(f for f in folder.glob("*.npz") if f.name != MNIST_WRITERS)
             if names is None else [folder / f"{n}.npz" for n in names])
    if not files:
        raise DigitrecError(f"{folder}: no writers' files (make them with `python "
                            "data/writers/build.py --mirrors DIR`)", "not_found")
    images, labels, writers, sources = [], [], [], {}
    for file in files:
        try:
            with np.load(file) as data:
                images.append(data["images"])
                labels.append(data["labels"])
                writers.append(np.array([f"{file.stem}:{w}" for w in data["writers"]]))
                sources[file.stem] = {**_origin(data), "characters": len(data["labels"])}
        except (OSError, KeyError, ValueError) as exc:
            raise DigitrecError(f"{file}: not a writers' file made by data/writers/build.py "
                                f"({exc})", "bad_file") from None
        if images[-1].shape[1:] != (28, 28) or len(images[-1]) != len(labels[-1]):
            raise DigitrecError(f"{file}: its images are not 28x28 characters, one a label",
                                "bad_file")
    mnist = folder / MNIST_WRITERS
    return Writers(np.concatenate(images), np.concatenate(labels), np.concatenate(writers),
                   sources, load_mnist_writers(mnist) if mnist.exists() else None)


def _origin(data: Any) -> dict[str, str]:
    """Where a file `data/writers/build.py` wrote came from: repository, commit, licence and
    the SHA-256 of the source files."""
    return {"repo": str(data["repo"]), "commit": str(data["commit"]),
            "licence": str(data["licence"]), "sha256": str(data["source_sha256"])}


def load_mnist_writers(file: str | os.PathLike[str]) -> MnistWriters:
    """Who wrote MNIST's digits, as `data/writers/build.py` saves it (mnist-writers.npz)."""
    try:
        with np.load(file) as data:
            found = MnistWriters(data["train"], data["test"], data["train_labels"],
                                 data["test_labels"], _origin(data))
    except (OSError, KeyError, ValueError) as exc:
        raise DigitrecError(f"{file}: not MNIST's writers as data/writers/build.py makes "
                            f"them ({exc})", "bad_file") from None
    if len(found.train) != len(found.train_labels) or len(found.test) != len(found.test_labels):
        raise DigitrecError(f"{file}: not one writer a digit", "bad_file")
    return found
