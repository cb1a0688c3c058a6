"""What `digitrec train` does once its options are parsed: train, test once, export to ONNX.

The command line and the accuracy benchmark both call it, so the benchmark times exactly what a
user runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from .data import MNIST
from .export import DigitSubspace, export_onnx, training_metadata
from .models import Ensemble
from .recipes import Recipe
from .train import TrainResult, accuracy, fit

MODEL_NAME = "model.onnx"


@dataclass
class Trained:
    result: TrainResult
    test_accuracy: float
    validation_accuracy: float
    path: Path  # the exported ONNX model


def train_and_export(
    recipe: Recipe,
    mnist: MNIST,
    out: Path,
    *,
    resume: dict[str, Any] | None = None,
    subset: int | None = None,
    subspace: DigitSubspace | None = None,
    progress: bool = True,
    on_step: Callable[[int, nn.Module], None] | None = None,
) -> Trained:
    """Train ``recipe`` with a checkpoint per epoch in ``out``, test the final weights once,
    and write ``out/model.onnx``. ``subset`` trains on the first N training images only."""
    train, val = mnist.split()
    if subset:
        train = (train[0][:subset], train[1][:subset])
    result = fit(recipe, train, val, out_dir=out, resume=resume, progress=progress,
                 on_step=on_step)
    test_accuracy = accuracy(result.model, mnist.test_images, mnist.test_labels)
    subspace = subspace or DigitSubspace.fit(train[0], val[0])
    path = out / MODEL_NAME
    export_onnx(result.model, path, training_metadata(result, test_accuracy), subspace)
    return Trained(result, test_accuracy, result.history[-1].val_accuracy, path)


def export_ensemble(members: list[TrainResult], mnist: MNIST, out: Path,
                    subspace: DigitSubspace | None = None) -> Trained:
    """Write one ONNX model in ``out`` that averages the members' probabilities."""
    train, val = mnist.split()
    test = (mnist.test_images, mnist.test_labels)
    model = Ensemble([m.model for m in members]).eval()
    result = TrainResult(model, members[0].recipe, history=[])
    test_accuracy, val_accuracy = accuracy(model, *test), accuracy(model, *val)
    metadata = {
        **training_metadata(result, test_accuracy),
        "architecture": f"ensemble of {len(members)} {members[0].recipe.arch}",
        "validation_accuracy": f"{val_accuracy:.4f}",
        "members": [{"seed": m.recipe.seed, "validation_accuracy": accuracy(m.model, *val),
                     "test_accuracy": accuracy(m.model, *test)} for m in members],
    }
    path = out / MODEL_NAME
    export_onnx(model, path, metadata, subspace or DigitSubspace.fit(train[0], val[0]))
    return Trained(result, test_accuracy, val_accuracy, path)
