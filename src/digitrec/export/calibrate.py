"""Make a model's confidence honest: fit its temperature, its "unlike any digit" threshold and the
scaling of `read`'s line confidences on digits it never trained on, as users send them, and
write them into its card.

The digits are MNIST's validation split (held out of training), half as the arrays they are
and half rendered as users' images are (photos, scans, boards, canvases, by
`digitrec.synthetic`), all through the whole pipeline. Fitting on MNIST alone would make the
model sure of itself the way it is on MNIST (99.7% right), which real images are not; and a
threshold set on MNIST flags real drawings it reads correctly. Torch-free: it runs any exported
model, imported ones included.

Rendering and preprocessing are most of the work and do not depend on the model, so what they
make (the digits' 28x28 inputs, the numbers' files) is kept in the user's cache, keyed by the
code that made it: every calibration after the first (each `train` ends with one) only runs
the model. Fewer digits would not do: the temperature is fitted on the model's few mistakes,
and fitted on half as many it moved by 0.06.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..data import MNIST
from ..errors import DigitrecError
from ..glyphs import with_variants
from ..inference import Model
from ..inference.calibration import fit_platt, fit_temperature
from ..inference.model import among_digits
from ..reading import Reader, Reading, load_model, read
from ..settings import Settings
from ..synthetic import STYLES, render
from ..vision import preprocess

SAMPLE = 4000  # validation digits: half as arrays, half rendered
NUMBERS = 800  # numbers of 2-6 validation digits, rendered, for `read`'s line confidence
# Of realistic digits' distances: one in 100 flagged. Letters drawn like digits lie just past
# it (4.23-5.73 for the shipped model, against 4.215); the 99.5th percentile let an A through.
FLAG_QUANTILE = 0.99


@dataclass(frozen=True)
class Calibration:
    """What `calibrate` fitted, and on how many digits and numbers."""

    temperature: float
    novelty_threshold: float | None
    images: int
    read_calibration: dict[str, float] | None = None
    numbers: int = 0


def calibration_set(mnist: MNIST, count: int = SAMPLE, seed: int = 0) -> tuple[list, np.ndarray]:
    """Validation digits as the model meets them: arrays, and realistic renderings."""
    _, (images, labels) = mnist.split()
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(labels))[:count]
    plain, drawn = pick[: count // 2], pick[count // 2 :]
    variants = with_variants(images[drawn], labels[drawn], 0.3, rng)
    rendered = [render(d, rng, STYLES[k % len(STYLES)]).data for k, d in enumerate(variants)]
    return [*images[plain], *rendered], np.concatenate([labels[plain], labels[drawn]])


def calibration_inputs(mnist: MNIST, count: int = SAMPLE, seed: int = 0
                       ) -> dict[str, np.ndarray]:
    """`calibration_set` through the pipeline, from the cache where it is there: ``inputs``
    (N, 28, 28) of the digits a digit was found in, their ``labels``, and ``realistic``, true
    for the rendered ones."""
    def make() -> dict[str, np.ndarray]:
        images, labels = calibration_set(mnist, count, seed)
        processed = [preprocess(image) for image in images]
        found = np.array([p.image is not None for p in processed])
        inputs = np.stack([p.image for p in processed if p.image is not None]).astype(np.float32)
        realistic = np.arange(len(labels)) >= count // 2
        return {"inputs": inputs, "labels": labels[found], "realistic": realistic[found]}

    return cached(f"digits-{count}-{seed}", make)


def number_files(images: np.ndarray, labels: np.ndarray, count: int,
                 seed: int) -> tuple[list[str], list[bytes]]:
    """``count`` numbers of 2-6 of these digits, rendered as users' images: their texts and
    files."""
    from ..synthetic import render_number

    rng = np.random.default_rng(seed)
    pool = [images[labels == d] for d in range(10)]
    texts, files = [], []
    for _ in range(count):
        text = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(2, 7))))
        digits = [pool[int(c)][int(rng.integers(0, len(pool[int(c)])))] for c in text]
        texts.append(text)
        files.append(render_number(text, digits, rng).data)
    return texts, files


def read_calibration(reader: Reader, mnist: MNIST, count: int = NUMBERS,
                     seed: int = 0) -> dict[str, float]:
    """The Platt scaling of `read`'s line confidences with ``reader``'s models, fitted on
    ``count`` numbers of validation digits rendered as users' images."""
    def make() -> dict[str, np.ndarray]:
        texts, files = number_files(*mnist.split()[1], count, seed)
        return {"texts": np.array(texts), "files": np.frombuffer(b"".join(files), np.uint8),
                "ends": np.cumsum([len(f) for f in files])}

    numbers = cached(f"numbers-{count}-{seed}", make)
    starts = [0, *numbers["ends"][:-1]]
    files = [numbers["files"][a:b].tobytes() for a, b in zip(starts, numbers["ends"],
                                                               strict=True)]
    def uncalibrated(data: bytes) -> Reading:
        return read(reader.digits, data, lines_model=reader.lines)

    return fit_platt(*read_numbers(uncalibrated, [str(t) for t in numbers["texts"]], files))


def read_numbers(reading_of: Callable[[bytes], Reading], texts: list[str],
                 files: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Each file's reading (by ``reading_of``): its confidence, and whether it is the text,
    exactly."""
    confidence, correct = [], []
    for text, data in zip(texts, files, strict=True):
        reading = reading_of(data)
        confidence.append(reading.confidence if reading.lines else 0.0)
        correct.append(reading.text == text)
    return np.array(confidence), np.array(correct)


def cached(name: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``make()``'s arrays, kept in the user's cache under ``name`` and a digest of the code
    that makes them (a changed renderer or pipeline makes them anew). A cache that cannot be
    read or written costs only the time to make them again."""
    path = _cache_folder() / f"{name}-{_code_digest()}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            return dict(stored)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        pass
    arrays = make()
    with contextlib.suppress(DigitrecError, OSError), atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return arrays


def _cache_folder() -> Path:
    return Settings.from_environment().cache_dir / "calibration"


# What makes the cached arrays: MNIST's split, the renderer and what it draws with, the
# pipeline. Another change to the package leaves the cache as it is.
_MAKERS = ("data.py", "contract.py", "glyphs.py", "operators.py", "synthetic.py", "vision")


@functools.cache
def _code_digest() -> str:
    """A digest of the source of the code that makes the cached arrays."""
    digest = hashlib.sha256()
    package = Path(__file__).parents[1]
    for name in _MAKERS:
        for source in sorted([package / name] if name.endswith(".py")
                             else (package / name).rglob("*.py")):
            digest.update(source.relative_to(package).as_posix().encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def calibrate(reader: Reader, mnist: MNIST, count: int = SAMPLE,
              numbers: int = NUMBERS) -> Calibration:
    """The temperature and flag threshold for ``reader``'s digit model, fitted on ``count``
    validation digits, and the scaling of `read`'s confidences, on ``numbers`` numbers."""
    digits = calibration_inputs(mnist, count)
    probs, novelty = reader.digits.scores(digits["inputs"], tempered=False)
    temperature = fit_temperature(among_digits(probs), digits["labels"])
    threshold = (round(float(np.quantile(novelty[digits["realistic"]], FLAG_QUANTILE)), 4)
                 if novelty is not None and digits["realistic"].any() else None)
    lines = read_calibration(reader, mnist, numbers) if numbers else None
    return Calibration(temperature, threshold, len(digits["labels"]), lines, numbers)


def calibrate_file(path: Path, mnist: MNIST, quick: bool = False) -> Calibration:
    """Fit an exported digit model's calibration and write it into the file, after training or
    fine-tuning: on half the digits and all the numbers `digitrec calibrate` uses (about a
    minute), or a tenth of that when ``quick``."""
    reader = load_model(path, threads=1, settings=Settings())  # the shipped sequence reader
    count, numbers = (SAMPLE // 20, NUMBERS // 10) if quick else (SAMPLE // 2, NUMBERS)
    found = calibrate(reader, mnist, count, numbers)
    write_calibrated(reader.digits, found, path)
    return found


def calibration_fields(calibration: Calibration) -> dict[str, Any]:
    """The card fields a calibration sets (what it could not fit is left as it was)."""
    fields: dict[str, Any] = {"temperature": calibration.temperature}
    if calibration.novelty_threshold is not None:
        fields["novelty_threshold"] = calibration.novelty_threshold
    if calibration.read_calibration is not None:
        fields["read_calibration"] = calibration.read_calibration
    return fields


def write_calibrated(model: Model, calibration: Calibration,
                     out: str | os.PathLike[str]) -> Path:
    """A copy of ``model``'s file with the calibration in its card, written atomically."""
    import onnx

    proto = onnx.load(str(model.path))
    model.card.replace(**calibration_fields(calibration)).write_into(proto)
    out = Path(out)
    if out.suffix != ".onnx":
        raise DigitrecError(f"{out}: the calibrated model is an ONNX file: name it .onnx",
                            "bad_parameter")
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))
    return out
