"""What a digitrec model file promises: its tensors' names and a typed card of its metadata.

A model is one ONNX file. Its graph takes ``image`` (N, 1, 28, 28), float pixels in [0, 1], white
digit on black, and returns ``probabilities`` (N, classes) and, in files made since digit-likeness
scores exist, ``novelty`` (N,). Everything else it says about itself (architecture, recipe,
accuracies, how it was quantised) lives in the file's ``metadata_props`` as strings, and is
written and read only through `ModelCard`: values are encoded and decoded by the field's type,
so no consumer keeps its own list of which keys hold JSON.

Torch-free and onnx-free: the inference path reads cards, the export path writes them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from .errors import DigitrecError

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
NOVELTY_NAME = "novelty"  # distance from the digits' subspace: high for letters and scribbles
# The pixel format every model is trained on and fed: 28x28, float in [0, 1], white digit on
# black. Bumped if that ever changes, so old model files can be recognised.
PREPROCESSING = "mnist-28x28-v1"
SIDE = 28  # a character as the digit models take it: SIDE x SIDE pixels (MNIST's form)
# The most pixels an image may have: any image the library decodes, and an upload to the
# server (a 12-megapixel phone photo passes both; decoding costs up to 8 bytes a pixel).
MAX_PIXELS = 50_000_000
SERVER_MAX_PIXELS = 16_000_000
DIGITS = "0123456789"
# What a calculator's classifier reads besides digits: the operators of `digitrec calc`.
SYMBOLS = "+-×÷=()"
# The sequence reader's alphabet (CTC's blank is class 0, LINE_CHARS[k] class k + 1) and its
# input: a line of writing cut to its ink's rows, LINE_HEIGHT pixels high, any width.
LINE_CHARS = DIGITS + ".,-"
# A reader of sums knows the operators too. Every reader's alphabet is a prefix of this one, so
# its classes are known from its output's width alone.
SUM_LINE_CHARS = LINE_CHARS + "".join(s for s in SYMBOLS if s not in LINE_CHARS)
LINE_HEIGHT = 32
LINE_PREPROCESSING = "line-32-v1"
# The locator's input: an image's ink map (`vision.ink.ink_map`: ink bright on black, light
# taken out), any size whose sides are multiples of LOCATOR_STRIDE; its output the probability
# of handwriting per pixel.
LOCATOR_PREPROCESSING = "ink-map-v1"
LOCATOR_STRIDE = 8


@dataclass(frozen=True)
class ModelCard:
    """Everything a model file says about itself; `digitrec info` prints it."""

    architecture: str  # the network's name in training/networks.py (digitnet, digitnet-wide...)
    classes: str = DIGITS  # the characters the outputs stand for, in order
    preprocessing: str = PREPROCESSING  # the input form it expects; refused if another
    parameters: int | None = None  # trainable parameters
    validation_accuracy: float | None = None  # on the held-out part of the training data
    test_accuracy: float | None = None  # on the task's test set (MNIST's, for digits)
    recipe: dict[str, Any] | None = None  # every training setting, to train it again
    data_sha256: dict[str, str] | None = None  # the hash of each data file it learned from
    history: list[dict[str, Any]] | None = None  # each epoch's losses and accuracies
    members: list[dict[str, Any]] | None = None  # an ensemble's networks
    novelty_threshold: float | None = None  # distances above it are "unlike any digit"
    # Probabilities are the logits divided by it, softmaxed (fitted by `digitrec calibrate`);
    # applied at inference, so the graph's output is the network's own.
    temperature: float | None = None
    # For `read`: a line's confidence has its log-odds times "scale" plus "shift" (Platt).
    read_calibration: dict[str, float] | None = None
    precision: str | None = None  # "int8" or "fp16" for copies; None for the fp32 original
    calibration: dict[str, Any] | None = None  # which images set an int8 copy's ranges
    parent: dict[str, Any] | None = None  # the model a fine-tuned one started from
    finetuning: dict[str, Any] | None = None  # its data (size, hash) and before/after figures
    # Real handwriting it learned from (`digitrec.corpus`): manifest, split, hash, rows used,
    # each source at its commit.
    real_data: dict[str, Any] | None = None
    # Other writers' characters it learned beside MNIST's (`digitrec.writers`): each source's
    # repository, commit, licence, hash and count; how many trained and how many were held
    # out by writer, and its accuracy on those.
    writers_data: dict[str, Any] | None = None
    # Everything it learned from, one entry a set: what, how many, under which licence.
    training_data: list[dict[str, Any]] | None = None
    # A model converted from another framework: its file, SHA-256, format, version, layers, and
    # the pixels it was fed.
    imported: dict[str, Any] | None = None
    digitrec_version: str | None = None  # the digitrec that wrote it
    torch_version: str | None = None  # the PyTorch it was trained with
    created: str | None = None  # when, in ISO 8601 (UTC)
    # Keys this version does not know (a newer digitrec wrote them): kept, shown, not decoded.
    extra: dict[str, str] = field(default_factory=dict)

    def to_metadata(self) -> dict[str, str]:
        """The card as ONNX metadata_props: strings, JSON for structures, None left out."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or value is None:
                continue
            if isinstance(value, float):
                out[f.name] = f"{value:.4f}"
            elif isinstance(value, (dict, list)):
                out[f.name] = json.dumps(value)
            else:
                out[f.name] = str(value)
        return {**self.extra, **out}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: object = "model") -> ModelCard:
        """Decode metadata_props by each field's type; a value that does not decode is refused
        in one line naming the file and the key."""
        if "architecture" not in metadata:
            raise DigitrecError(
                f"{source}: ONNX model lacks digitrec metadata (export it with digitrec)")
        kinds = _field_kinds()
        values: dict[str, Any] = {"extra": {}}
        for key, text in metadata.items():
            if key not in kinds:
                values["extra"][key] = text
                continue
            try:
                values[key] = _decode(text, kinds[key])
            except ValueError:
                raise DigitrecError(
                    f"{source}: metadata {key!r} is not a valid {kinds[key].__name__}: "
                    f"{text[:40]!r}") from None
            problem = None if values[key] is None else _check(key, values[key])
            if problem:
                raise DigitrecError(f"{source}: metadata {key!r} {problem}: {text[:40]!r}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the decoded values, unknown keys beside them, None left out."""
        known = {k: v for k, v in dataclasses.asdict(self).items()
                 if k != "extra" and v is not None}
        return {**self.extra, **known}

    def replace(self, **changes: Any) -> ModelCard:
        return dataclasses.replace(self, **changes)

    def write_into(self, proto: Any) -> None:
        """Replace an ONNX ModelProto's metadata_props with this card."""
        del proto.metadata_props[:]
        for key, value in self.to_metadata().items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value


@functools.cache
def _field_kinds() -> dict[str, type]:
    """Each field's concrete type: str, int, float, dict or list (Optional unwrapped)."""
    hints = typing.get_type_hints(ModelCard)
    kinds = {}
    for f in dataclasses.fields(ModelCard):
        hint = hints[f.name]
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            hint = next(a for a in typing.get_args(hint) if a is not type(None))
        kinds[f.name] = typing.get_origin(hint) or hint
    del kinds["extra"]
    return kinds


# What each epoch of a card's history holds (and `digitrec info` prints), as numbers.
HISTORY_FIELDS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds")
_FRACTIONS = ("validation_accuracy", "test_accuracy")


def _number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check(key: str, value: Any) -> str | None:
    """Why a decoded value cannot be what its field means, or None: the checks beyond its type
    that keep a hand-edited file from reaching the code that reads it."""
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    if key in _FRACTIONS and not 0 <= value <= 1:
        return "is not a fraction between 0 and 1"
    if key in ("novelty_threshold", "parameters") and value < 0:
        return "is negative"
    if key == "read_calibration" and not (
            set(value) == {"scale", "shift"} and all(_number(v) for v in value.values())
            and value["scale"] > 0):
        return 'is not {"scale": a positive number, "shift": a number}'
    if key == "temperature" and value <= 0:
        return "is not a positive number"
    # A locator's are empty: its one output is no character.
    if key == "classes" and value and (not value.startswith(DIGITS)
                                       or len(set(value)) != len(value)):
        return "does not list the ten digits first, each character once"
    if key == "history" and not all(
            isinstance(e, dict) and all(_number(e.get(f)) for f in HISTORY_FIELDS)
            for e in value):
        return f"is not a list of epochs, each with the numbers {', '.join(HISTORY_FIELDS)}"
    if key == "members" and not all(isinstance(e, dict) for e in value):
        return "is not a list of networks, each a JSON object"
    return None


def _decode(text: str, kind: type) -> Any:
    if kind is str:
        return text
    if text == "":  # files from before the card wrote "" for "not measured"
        return None
    if kind in (dict, list):
        value = json.loads(text)  # JSONDecodeError is a ValueError
        if not isinstance(value, kind):
            raise ValueError(text)
        return value
    return kind(text)
