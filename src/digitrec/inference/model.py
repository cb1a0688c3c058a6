"""The deployable predictor: an exported ONNX model on ONNX Runtime, with numpy and no torch."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import DIGITS, INPUT_NAME, NOVELTY_NAME, OUTPUT_NAME, SIDE, ModelCard
from ..cpus import available_cores
from ..errors import DigitrecError, describe
from ..vision import ImageSource, Processed, preprocess
from ..vision.pipeline import Writing
from .calibration import temper
from .result import Prediction

DEFAULT_MODEL = Path(__file__).parents[1] / "pretrained" / "default.onnx"


def among_digits(probs: np.ndarray) -> np.ndarray:
    """Probabilities (N, classes) of the digits among themselves: a calculator's model, which
    knows operators too, reads a digit as a digit model does."""
    if probs.shape[1] == len(DIGITS):
        return probs
    part = probs[:, : len(DIGITS)]
    return part / np.maximum(part.sum(1, keepdims=True), 1e-12)


class Model:
    """A loaded digit classifier. Build it with `load_digit_model`."""

    def __init__(self, session: Any, path: Path) -> None:
        self._session = session
        self.path = path
        # What the file says, as stored (strings), and decoded by type.
        self.metadata: dict[str, str] = dict(session.get_modelmeta().custom_metadata_map)
        self.card = ModelCard.from_metadata(self.metadata, path)
        self.classes = self.card.classes
        has_novelty = NOVELTY_NAME in [o.name for o in session.get_outputs()]
        # Models exported before digit-likeness scores have neither the output nor a threshold.
        self.novelty_threshold = self.card.novelty_threshold if has_novelty else None
        self.temperature = self.card.temperature  # None: the network's probabilities as they are
        self.read_calibration = self.card.read_calibration  # of `read`'s line confidences

    def info(self) -> dict[str, Any]:
        """The model's metadata, decoded: numbers as numbers, structures as dicts and lists."""
        return self.card.to_dict()

    def predict(self, image: ImageSource, locator: Writing | None = None) -> Prediction:
        """Read the digit in one image: a path, encoded bytes, a PIL image or a numpy array.

        The image goes through `digitrec.preprocess` first, so a photo of paper, a scan or a
        canvas drawing is fine, as is an MNIST-style array; with ``locator`` (the handwriting
        locator), so is a digit in a table's cell or on a form's line.
        """
        return self.predict_batch([image], locator=locator)[0]

    def predict_batch(self, images: Iterable[ImageSource], tempered: bool = True,
                      locator: Writing | None = None) -> list[Prediction]:
        """`predict` for many images, with one model call for all of them; ``tempered``:
        with the model's calibration, else the network's own probabilities."""
        return self.classify([preprocess(image, locator) for image in images], tempered)

    def classify(self, processed: list[Processed], tempered: bool = True) -> list[Prediction]:
        """Predictions for images already through `preprocess`."""
        found = [p.image for p in processed if p.image is not None]
        probs, novelty = (self.scores(np.stack(found), tempered) if found
                          else (np.zeros((0, 10)), None))
        probs = among_digits(probs)
        rows = iter(probs)
        distances = iter(novelty if novelty is not None else [None] * len(found))
        out = []
        for p in processed:
            if p.image is None:
                out.append(Prediction(None, None, None, p.reason, reason_code=p.reason_code))
                continue
            row, distance = next(rows), next(distances)
            distance = None if distance is None else float(distance)
            out.append(Prediction(int(row.argmax()), row, p.image, novelty=distance,
                                  unusual=self.unusual(distance)))
        return out

    def scores(self, images: np.ndarray, tempered: bool = True
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (N, 10) and distances from the digits learned (N,), or None for models
        without that score, for images already in MNIST's form. ``tempered``: calibrated by
        the model's temperature; else the network's own."""
        temperature = self.temperature if tempered else None
        if self.novelty_threshold is None:
            return temper(self._run(images, [OUTPUT_NAME])[0], temperature), None
        probs, novelty = self._run(images, [OUTPUT_NAME, NOVELTY_NAME])
        return temper(probs, temperature), novelty

    def unusual(self, distance: float | None) -> bool:
        """Whether a distance from the digits learned is beyond the model's threshold: the
        99th percentile of realistic validation digits (`digitrec calibrate`)."""
        return (distance is not None and self.novelty_threshold is not None
                and distance > self.novelty_threshold)

    def probabilities(self, images: np.ndarray, tempered: bool = True) -> np.ndarray:
        """Class probabilities (N, 10) for images already in MNIST's form (no preprocessing).

        ``images`` is one image (28, 28) or a batch (N, 28, 28) or (N, 1, 28, 28), white digit
        on black, either uint8 in 0..255 or float in [0, 1].
        """
        return temper(self._run(images, [OUTPUT_NAME])[0],
                      self.temperature if tempered else None)

    def _run(self, images: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        x = np.asarray(images)
        if x.ndim == 2:
            x = x[None]
        if x.ndim == 3:
            x = x[:, None]
        if x.shape[1:] != (1, SIDE, SIDE):
            raise ValueError(f"expected images of 28x28 pixels, got array of shape {x.shape}")
        x = x.astype(np.float32) / 255 if x.dtype == np.uint8 else x.astype(np.float32, copy=False)
        return self._session.run(outputs, {INPUT_NAME: x})


def _model_path(path: str | os.PathLike[str] | None) -> Path:
    """The model named, else the shipped one."""
    return Path(path or DEFAULT_MODEL)


def open_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime session for a model file on the CPU, refused in one line if the file
    is missing or no ONNX model."""
    import onnxruntime as ort

    if not path.is_file():
        raise DigitrecError(f"{path}: model file not found")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or available_cores()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # ONNX Runtime's warnings are not the user's business
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own untyped errors for bad files
        raise DigitrecError(f"{path}: not a valid ONNX model ({describe(exc)})") from None


def load_card(path: str | os.PathLike[str] | None = None) -> tuple[Path, ModelCard]:
    """A model file's card, whatever the model reads (digits or lines)."""
    path = _model_path(path)
    metadata = dict(open_session(path, 1).get_modelmeta().custom_metadata_map)
    return path, ModelCard.from_metadata(metadata, path)


def load_digit_model(path: str | os.PathLike[str] | None = None,
                     threads: int | None = None) -> Model:
    """Load an exported digit model (by default the one shipped with digitrec) to score
    characters with; `digitrec.load_model` gives the `Reader` that reads with it."""
    path = _model_path(path)
    session = open_session(path, threads)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if ([i.name for i in inputs] != [INPUT_NAME] or inputs[0].shape[1:] != [1, SIDE, SIDE]
            or OUTPUT_NAME not in [o.name for o in outputs]):
        raise DigitrecError(
            f"{path}: not a digitrec model (expects input '{INPUT_NAME}' of shape (N, 1, 28, 28) "
            f"and output '{OUTPUT_NAME}')"
        )
    model = Model(session, path)  # reads the card: a file without one is refused here
    _check_outputs(model, path)
    return model


def _check_outputs(model: Model, path: Path) -> None:
    """Run a blank image once: a graph whose outputs do not fit its card (400 "probabilities"
    for 10 classes, say) is refused here, not read as "digit 354" later."""
    try:
        probs, novelty = model.scores(np.zeros((1, SIDE, SIDE), np.float32))
    except Exception as exc:  # ORT's own errors for a graph that cannot run
        raise DigitrecError(f"{path}: the model cannot run ({describe(exc)})") from None
    classes = len(model.classes)
    if probs.shape != (1, classes):
        raise DigitrecError(f"{path}: output '{OUTPUT_NAME}' gives shape {probs.shape} where "
                            f"its card's {classes} classes need (N, {classes})")
    if not np.isfinite(probs).all():
        raise DigitrecError(f"{path}: output '{OUTPUT_NAME}' gives values that are not finite "
                            "numbers")
    if novelty is not None and novelty.shape != (1,):
        raise DigitrecError(f"{path}: output '{NOVELTY_NAME}' gives shape {novelty.shape} "
                            "where one distance per image is needed")
