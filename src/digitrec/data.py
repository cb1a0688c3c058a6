"""MNIST on disk: find it, download and verify it, read its IDX files into numpy.

Nothing here imports torch, so `digitrec evaluate` runs on an inference-only install.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import DigitrecError, describe
from .settings import ENV, Settings

# SHA-256 of the *decompressed* official files: mirrors re-gzip them, so the .gz bytes differ.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# The same mirrors torchvision uses; LeCun's own site last, as it is often down.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

_IDX_UBYTE = 0x08
VALIDATION_SIZE = 5000
# The validation split is fixed, independent of the training seed, so that runs with
# different seeds are selected and compared on the same held-out images.
_SPLIT_SEED = 20260101


@dataclass(frozen=True)
class MNIST:
    """The four MNIST arrays: images uint8 (N, 28, 28), labels uint8 (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    folder: Path

    def split_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Which training images are the training split and which the validation split."""
        order = np.random.default_rng(_SPLIT_SEED).permutation(len(self.train_labels))
        return order[VALIDATION_SIZE:], order[:VALIDATION_SIZE]

    def split(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """(train, validation) pairs of (images, labels), the validation split held out of train."""
        train, val = self.split_indices()
        return (
            (self.train_images[train], self.train_labels[train]),
            (self.train_images[val], self.train_labels[val]),
        )


def parse_idx(raw: bytes, name: str) -> np.ndarray:
    """Decode an IDX file of unsigned bytes, checking its magic number, dimensions and length."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DigitrecError(f"{name}: not an IDX file (bad magic number)")
    if raw[2] != _IDX_UBYTE:
        raise DigitrecError(f"{name}: IDX element type 0x{raw[2]:02x} is not unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DigitrecError(f"{name}: IDX header is truncated or declares {ndim} dimensions")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DigitrecError(
            f"{name}: {problem}: dimensions {dims} need {expected} bytes, file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_bytes(path: Path) -> bytes:
    """The file's content, decompressed if it is gzipped."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise DigitrecError(f"{path}: cannot read: {describe(exc)}") from None


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array."""
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))


def resolve_folder(data_dir: str | os.PathLike[str] | None = None,
                   settings: Settings | None = None) -> Path:
    """Where MNIST is looked for: the argument, then the settings' (by default the
    environment's: $DIGITREC_DATA), then the user's cache."""
    settings = Settings.from_environment() if settings is None else settings
    chosen = data_dir or settings.data_dir or settings.cache_dir / "mnist"
    return Path(chosen).expanduser()


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _sha256_error(name: str, content: bytes) -> str | None:
    digest = hashlib.sha256(content).hexdigest()
    if digest != SHA256[name]:
        return f"content SHA-256 {digest[:12]}... is not the official {SHA256[name][:12]}..."
    return None


def _fetch(url: str, dest: Path, label: str, progress: bool) -> None:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=30) as response, dest.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=label,
                  disable=not progress, leave=False) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))


def download(folder: str | os.PathLike[str], mirrors: list[str] | None = None,
             progress: bool = True) -> None:
    """Download whichever MNIST files ``folder`` lacks, trying each mirror in turn.

    A file is kept only if its decompressed content has the official SHA-256, and it appears
    under its final name only once complete, so an interrupted or bad download leaves nothing.
    """
    folder = Path(folder)
    mirrors = mirrors or list(MIRRORS)
    for name in SHA256:
        if _find(folder, name):
            continue
        failures = []
        for mirror in mirrors:
            url = f"{mirror.rstrip('/')}/{name}.gz"
            try:
                with atomic_path(folder / f"{name}.gz") as tmp:
                    _fetch(url, tmp, name, progress)
                    problem = _sha256_error(name, read_bytes(tmp))
                    if problem:
                        raise DigitrecError(problem)
                break
            except (OSError, urllib.error.URLError, DigitrecError) as exc:
                failures.append(f"{url}: {describe(getattr(exc, 'reason', exc))}")
        else:
            raise DigitrecError(f"could not download {name}: " + "; ".join(failures))


def load_mnist(data_dir: str | os.PathLike[str] | None = None, allow_download: bool = True,
               progress: bool = True, settings: Settings | None = None) -> MNIST:
    """Load MNIST from disk (``data_dir``, else the settings' folder: `resolve_folder`),
    downloading missing files first, and verify every file's content."""
    settings = Settings.from_environment() if settings is None else settings
    folder = resolve_folder(data_dir, settings)
    missing = [name for name in SHA256 if _find(folder, name) is None]
    if missing:
        if not allow_download:
            raise DigitrecError(f"{folder}: MNIST file {missing[0]} not found")
        try:
            download(folder, list(settings.mnist_mirrors), progress)
        except DigitrecError as exc:
            raise DigitrecError(
                f"MNIST not found in {folder} and {exc} "
                f"(set --data-dir or ${ENV['data_dir']} to a folder holding the four files)"
            ) from None
    arrays = {}
    for name in SHA256:
        path = _find(folder, name)
        raw = read_bytes(path)
        # Parse first: a truncated file is better reported as truncated than as a hash mismatch.
        arrays[name] = parse_idx(raw, str(path))
        problem = _sha256_error(name, raw)
        if problem:
            raise DigitrecError(f"{path}: {problem}")
    return MNIST(
        train_images=arrays["train-images-idx3-ubyte"],
        train_labels=arrays["train-labels-idx1-ubyte"],
        test_images=arrays["t10k-images-idx3-ubyte"],
        test_labels=arrays["t10k-labels-idx1-ubyte"],
        folder=folder,
    )
