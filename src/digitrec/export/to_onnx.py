"""Turn a trained network into one self-describing ONNX file: weights, softmax, a digit-likeness
score, and the model card."""

from __future__ import annotations

import copy
import logging
import os
import warnings
from typing import Any

import torch
from torch import Tensor, nn

from ..atomic import atomic_path
from ..contract import INPUT_NAME, LINE_HEIGHT, NOVELTY_NAME, OUTPUT_NAME, SIDE, ModelCard
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


class _Softmax(nn.Module):
    """Probabilities over ``dim``: a classifier's (N, classes) without a digit-likeness score,
    or a line reader's per column (N, columns, classes)."""

    def __init__(self, net: nn.Module, dim: int) -> None:
        super().__init__()
        self.net, self.dim = net, dim

    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(self.net(x), dim=self.dim)


def export_onnx(model: nn.Module, path: str | os.PathLike[str], card: ModelCard,
                subspace: DigitSubspace | None) -> None:
    """Write ``model`` (with a softmax) and its digit-likeness score as ONNX, with ``card``
    and the score's threshold in its metadata. The batch dimension stays dynamic. Without a
    ``subspace`` (no MNIST to fit one) the file has probabilities only, as files from before
    the score had."""
    batch = {0: torch.export.Dim("batch")}
    if subspace is None:
        _export(_Softmax(_plain(model), 1), torch.zeros(2, 1, SIDE, SIDE), batch, [OUTPUT_NAME],
                card, path)
        return
    _export(_Deployed(_plain(model), subspace), torch.zeros(2, 1, SIDE, SIDE), batch,
            [OUTPUT_NAME, NOVELTY_NAME], card.replace(novelty_threshold=subspace.threshold),
            path)


def export_line_reader(model: nn.Module, path: str | os.PathLike[str], card: ModelCard) -> None:
    """Write a line reader with a softmax over each column, for lines of any width."""
    # The width is a multiple of 4 (the network pools by 4); the reader pads lines to one.
    width = 4 * torch.export.Dim("quarter_width", min=2, max=4096)
    _export(_Softmax(_plain(model), 2), torch.zeros(2, 1, LINE_HEIGHT, 64),
            {0: torch.export.Dim("batch"), 3: width}, [OUTPUT_NAME], card, path,
            named={1: "columns"})


class _Sigmoid(nn.Module):
    """The probability of each pixel's one class: the locator's handwriting."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.net(x))


def export_locator(model: nn.Module, path: str | os.PathLike[str], card: ModelCard) -> None:
    """Write a locator giving the probability of handwriting per pixel, for ink maps of any
    size whose sides are multiples of 8 (the network halves them three times)."""
    dims = {0: torch.export.Dim("batch"), 2: 8 * torch.export.Dim("eighth_height", min=2,
                                                                   max=1024),
            3: 8 * torch.export.Dim("eighth_width", min=2, max=1024)}
    _export(_Sigmoid(_plain(model)), torch.zeros(2, 1, 64, 96), dims, [OUTPUT_NAME], card, path)


def _plain(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).cpu().to(memory_format=torch.contiguous_format)


def _export(module: nn.Module, example: Tensor, dims: dict[int, Any], outputs: list[str],
            card: ModelCard, path: str | os.PathLike[str],
            named: dict[int, str] | None = None) -> None:
    """Export ``module`` with ``dims`` of its input dynamic; ``named`` output dimensions are
    declared symbolic where the exporter wrote the example's size (a GRU's sequence length)."""
    import onnx

    # The exporter logs about optional operator sets (torchvision's) that a CNN never uses.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's own internals, not ours
        # A GRU's flattened weights are re-assigned while tracing; the exported graph is right
        # (tests/test_sequence.py compares it with torch).
        warnings.filterwarnings("ignore", "The tensor attributes", UserWarning)
        program = torch.onnx.export(module.eval(), (example,), input_names=[INPUT_NAME],
                                    output_names=outputs, dynamic_shapes=(dims,),
                                    dynamo=True, verbose=False)
    proto = program.model_proto
    for axis, name in (named or {}).items():
        proto.graph.output[0].type.tensor_type.shape.dim[axis].dim_param = name
    card.write_into(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, tmp)
