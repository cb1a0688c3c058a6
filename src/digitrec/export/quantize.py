"""Smaller copies of an exported model: int8 by static quantisation, or fp16 weights.

Only the network is quantised; the digit-likeness score (a distance in pixel space) stays in
float, as its threshold was calibrated there. Calibration images come from the training split
only, never validation or test images, and the model file records which ones.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..contract import INPUT_NAME, OUTPUT_NAME
from ..errors import DigitrecError
from ..inference import Model, load_digit_model

CALIBRATION_SEED = 0
CALIBRATION_IMAGES = 2000
PRECISIONS = ("int8", "fp16")


def calibration_indices(train_size: int, count: int = CALIBRATION_IMAGES) -> np.ndarray:
    """Which images of the training split (`MNIST.split()[0]`) calibrate the int8 ranges."""
    rng = np.random.default_rng(CALIBRATION_SEED)
    return np.sort(rng.choice(train_size, min(count, train_size), replace=False))


def probability_nodes(graph: Any) -> list[Any]:
    """The nodes of an ONNX graph that compute the class probabilities (not the novelty score)."""
    producer = {out: node for node in graph.node for out in node.output}
    needed, stack = set(), [OUTPUT_NAME]
    while stack:
        node = producer.get(stack.pop())
        if node is not None and node.name not in needed:
            needed.add(node.name)
            stack.extend(node.input)
    return [n for n in graph.node if n.name in needed]


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The quantiser advises pre-processing through the root logger; here that step made the
    file 20% larger for the same accuracy, so the advice is noise."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _fp32_model(source: str | os.PathLike[str]) -> Model:
    """The model to make a copy of; files that are not digitrec models, or are copies
    already, are refused in one line."""
    model = load_digit_model(source)
    if model.card.precision is not None:
        raise DigitrecError(f"{source}: already an {model.card.precision} copy; "
                            "start from the fp32 model it came from")
    return model


def quantize_int8(source: str | os.PathLike[str], target: str | os.PathLike[str],
                  train_images: np.ndarray, count: int = CALIBRATION_IMAGES) -> np.ndarray:
    """Write an int8 copy of ``source`` (QDQ format, per-channel weights), its activation ranges
    calibrated on ``count`` images of ``train_images``. Returns the indices used."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    parent = _fp32_model(source)
    indices = calibration_indices(len(train_images), count)
    batches = iter(np.array_split(train_images[indices], max(1, len(indices) // 100)))

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(batches, None)
            return None if batch is None else {
                INPUT_NAME: batch[:, None].astype(np.float32) / 255}

    nodes = [n.name for n in probability_nodes(onnx.load(parent.path).graph)
             if n.op_type in ("Conv", "Gemm", "MatMul")]  # the layers with weights
    with tempfile.TemporaryDirectory() as tmp, _quiet_root_logger():
        out = Path(tmp) / "int8.onnx"
        # 7-bit weights (reduce_range): ONNX Runtime's uint8 x int8 kernels on x86 CPUs with
        # AVX2 but no VNNI sum pairs of products in int16, which saturates with full-range
        # weights. There the shipped model read 99.56% in int8 and disagreed with the C export;
        # with 7 bits it reads 99.73% on every CPU, as the C (exact int32 sums) does.
        quantize_static(parent.path, out, Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_quantize=nodes, reduce_range=True)
        proto = onnx.load(out)
    calibration = {"split": "train", "seed": CALIBRATION_SEED, "count": len(indices)}
    parent.card.replace(precision="int8", calibration=calibration).write_into(proto)
    with atomic_path(target) as tmp_target:
        onnx.save(proto, tmp_target)
    return indices


def convert_fp16(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Write a copy of ``source`` with fp16 weights; it still takes and returns float32."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    parent = _fp32_model(source)
    proto = convert_float_to_float16(onnx.load(parent.path), keep_io_types=True)
    parent.card.replace(precision="fp16").write_into(proto)
    with atomic_path(target) as tmp_target:
        onnx.save(proto, tmp_target)
