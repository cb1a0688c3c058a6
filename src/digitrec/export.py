"""Turn a trained network into one self-describing ONNX file: weights, softmax and metadata."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import os
import warnings
from typing import Any

import torch
from torch import nn

from . import __version__
from .atomic import atomic_path
from .data import PREPROCESSING, SHA256
from .inference import INPUT_NAME, OUTPUT_NAME
from .models import count_parameters
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


def export_onnx(model: nn.Module, path: str | os.PathLike[str], metadata: dict[str, Any]) -> None:
    """Write ``model`` followed by a softmax as ONNX, with ``metadata`` in its metadata_props.

    Non-string metadata values are stored as JSON. The batch dimension stays dynamic.
    """
    import onnx

    # The exporter logs about optional operator sets (torchvision's) that a CNN never uses.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    net = copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format)
    wrapped = nn.Sequential(net, nn.Softmax(dim=1)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's own internals, not ours
        program = torch.onnx.export(
            wrapped,
            (torch.zeros(2, 1, 28, 28),),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
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
