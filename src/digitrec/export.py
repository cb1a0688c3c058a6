"""Turn a trained network into one self-describing ONNX file: weights, softmax, a digit-likeness
score, and metadata."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import __version__
from .atomic import atomic_path
from .data import PREPROCESSING, SHA256
from .inference import INPUT_NAME, NOVELTY_NAME, OUTPUT_NAME
from .models import count_parameters
from .preprocess import preprocess
from .train import TrainResult


def training_metadata(result: TrainResult, test_accuracy: float | None) -> dict[str, Any]:
    """What a model file says about itself; `digitrec info` prints it."""
    last = result.history[-1] if result.history else None
    return {
        "digitrec_version": __version__,
        "architecture": result.recipe.arch,
        "preprocessing": PREPROCESSING,
        "parameters": str(count_parameters(result.model)),
        "validation_accuracy": f"{last.val_accuracy:.4f}" if last else "",
        "test_accuracy": f"{test_accuracy:.4f}" if test_accuracy is not None else "",
        "recipe": result.recipe.__dict__,
        "data_sha256": SHA256,
        "history": [h.__dict__ for h in result.history],
        "torch_version": torch.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


@dataclass(frozen=True)
class DigitSubspace:
    """The few directions MNIST's digits vary along. A classifier answers for anything; an
    image far from this subspace (a letter, a scribble) is unlike every digit it learned."""

    mean: Tensor  # (784,)
    components: Tensor  # (k, 784), orthonormal
    # Distances above it are unusual: the 99.5th percentile of validation digits (measured:
    # drawn letters 4.2-5.7 against 4.08; 1.3% of realistic photos of digits are flagged).
    threshold: float

    @classmethod
    def fit(cls, train_images: np.ndarray, val_images: np.ndarray, components: int = 40,
            sample: int = 20000, calibration: int = 2000) -> DigitSubspace:
        """Principal components of (a fixed sample of) the training images. The threshold
        comes from validation images, which the components never saw, sent through
        `preprocess` as every input is: that is the distribution the score meets."""
        x = torch.tensor(train_images[:sample], dtype=torch.float64).flatten(1) / 255
        mean = x.mean(0)
        _, vectors = torch.linalg.eigh((x - mean).T @ (x - mean))  # ascending eigenvalues
        top = vectors[:, -components:].T.contiguous()
        sub = cls(mean.float(), top.float(), 0.0)
        seen = [p.image for p in map(preprocess, val_images[:calibration]) if p.image is not None]
        distances = sub.distance(torch.tensor(np.stack(seen))[:, None]).double()
        return cls(sub.mean, sub.components, float(torch.quantile(distances, 0.995)))

    def distance(self, images: Tensor) -> Tensor:
        """Euclidean distance (N,) of images (N, 1, 28, 28) in [0, 1] from the subspace."""
        return _distance(images, self.mean, self.components)


def _distance(images: Tensor, mean: Tensor, components: Tensor) -> Tensor:
    centred = images.flatten(1) - mean
    return (centred - centred @ components.T @ components).norm(dim=1)


class _Deployed(nn.Module):
    """What the ONNX file computes: class probabilities and the distance from digit space."""

    def __init__(self, net: nn.Module, subspace: DigitSubspace) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", subspace.mean)
        self.register_buffer("components", subspace.components)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.softmax(self.net(x), dim=1), _distance(x, self.mean, self.components)


def export_onnx(model: nn.Module, path: str | os.PathLike[str], metadata: dict[str, Any],
                subspace: DigitSubspace) -> None:
    """Write ``model`` (with a softmax) and its digit-likeness score as ONNX, with
    ``metadata`` and the score's threshold in its metadata_props.

    Non-string metadata values are stored as JSON. The batch dimension stays dynamic.
    """
    import onnx

    # The exporter logs about optional operator sets (torchvision's) that a CNN never uses.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    net = copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format)
    wrapped = _Deployed(net, subspace).eval()
    metadata = {**metadata, "novelty_threshold": f"{subspace.threshold:.4f}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's own internals, not ours
        program = torch.onnx.export(
            wrapped,
            (torch.zeros(2, 1, 28, 28),),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME, NOVELTY_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value)
    with atomic_path(path) as tmp:
        onnx.save(proto, tmp)
