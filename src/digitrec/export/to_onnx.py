"""Turn a trained network into one self-describing ONNX file: weights, softmax, a digit-likeness
score, and the model card."""

from __future__ import annotations

import copy
import logging
import os
import warnings

import torch
from torch import Tensor, nn

from ..atomic import atomic_path
from ..contract import INPUT_NAME, NOVELTY_NAME, OUTPUT_NAME, ModelCard
from .subspace import DigitSubspace, distance


class _Deployed(nn.Module):
    """What the ONNX file computes: class probabilities and the distance from digit space."""

    def __init__(self, net: nn.Module, subspace: DigitSubspace) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", subspace.mean)
        self.register_buffer("components", subspace.components)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.softmax(self.net(x), dim=1), distance(x, self.mean, self.components)


def export_onnx(model: nn.Module, path: str | os.PathLike[str], card: ModelCard,
                subspace: DigitSubspace) -> None:
    """Write ``model`` (with a softmax) and its digit-likeness score as ONNX, with ``card``
    and the score's threshold in its metadata. The batch dimension stays dynamic."""
    import onnx

    # The exporter logs about optional operator sets (torchvision's) that a CNN never uses.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    net = copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format)
    wrapped = _Deployed(net, subspace).eval()
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
    card.replace(novelty_threshold=subspace.threshold).write_into(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, tmp)
