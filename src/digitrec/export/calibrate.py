"""Make a model's confidence honest: fit its temperature, its "unlike any digit" threshold and the
scaling of `read`'s line confidences on digits it never trained on, as users send them, and
write them into its card.

The digits are MNIST's validation split (held out of training), half as the arrays they are
and half rendered as users' images are (photos, scans, boards, canvases, by
`digitrec.synthetic`), all through the whole pipeline. Fitting on MNIST alone would make the
model sure of itself the way it is on MNIST (99.7% right), which real images are not; and a
threshold set on MNIST flags real drawings it reads correctly. Torch-free: it runs any exported
model, imported ones included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import MNIST
from ..errors import DigitrecError
from ..evaluation.calibration import fit_platt, fit_temperature
from ..glyphs import with_variants
from ..inference import Model
from ..synthetic import STYLES, render

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


def read_calibration(model: Model, mnist: MNIST, count: int = NUMBERS,
                     seed: int = 0) -> dict[str, float]:
    """The Platt scaling of `read`'s line confidences with ``model`` (and its sequence reader),
    fitted on ``count`` numbers of validation digits rendered as users' images."""
    saved, model.read_calibration = model.read_calibration, None
    try:
        return fit_platt(*read_numbers(model, *mnist.split()[1], count, seed))
    finally:
        model.read_calibration = saved


def read_numbers(model: Model, images: np.ndarray, labels: np.ndarray, count: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`read` on ``count`` numbers of 2-6 of these digits, rendered as users' images: each
    reading's confidence, and whether it is the number written, exactly."""
    from ..synthetic import render_number

    rng = np.random.default_rng(seed)
    pool = [images[labels == d] for d in range(10)]
    confidence, correct = [], []
    for _ in range(count):
        text = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(2, 7))))
        digits = [pool[int(c)][int(rng.integers(0, len(pool[int(c)])))] for c in text]
        reading = model.read(render_number(text, digits, rng).data)
        confidence.append(reading.confidence if reading.lines else 0.0)
        correct.append(reading.text == text)
    return np.array(confidence), np.array(correct)


def calibrate(model: Model, mnist: MNIST, count: int = SAMPLE,
              numbers: int = NUMBERS) -> Calibration:
    """The temperature and flag threshold for ``model``, fitted on ``count`` validation digits,
    and the scaling of `read`'s confidences, on ``numbers`` numbers."""
    images, labels = calibration_set(mnist, count)
    saved, model.temperature = model.temperature, None
    try:
        predictions = model.predict_batch(images)
    finally:
        model.temperature = saved
    found = [k for k, p in enumerate(predictions) if p.digit is not None]
    probs = np.stack([predictions[k].probabilities for k in found])
    temperature = fit_temperature(probs, labels[found])
    realistic = [predictions[k].novelty for k in found
                 if k >= count // 2 and predictions[k].novelty is not None]
    threshold = (round(float(np.quantile(realistic, FLAG_QUANTILE)), 4)
                 if realistic and model.novelty_threshold is not None else None)
    lines = read_calibration(model, mnist, numbers) if numbers else None
    return Calibration(temperature, threshold, len(found), lines, numbers)


def calibrate_file(path: Path, mnist: MNIST, quick: bool = False) -> Calibration:
    """Fit an exported digit model's calibration and write it into the file, after training or
    fine-tuning: on half the digits and all the numbers `digitrec calibrate` uses (about a
    minute), or a tenth of that when ``quick``."""
    from ..inference import load_model

    model = load_model(path, threads=1)
    count, numbers = (SAMPLE // 20, NUMBERS // 10) if quick else (SAMPLE // 2, NUMBERS)
    found = calibrate(model, mnist, count, numbers)
    write_calibrated(model, found, path)
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

    from ..atomic import atomic_path

    proto = onnx.load(str(model.path))
    model.card.replace(**calibration_fields(calibration)).write_into(proto)
    out = Path(out)
    if out.suffix != ".onnx":
        raise DigitrecError(f"{out}: the calibrated model is an ONNX file: name it .onnx",
                            "bad_parameter")
    with atomic_path(out) as tmp:
        onnx.save(proto, str(tmp))
    return out
