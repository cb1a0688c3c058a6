"""An int8 model's graph as C: its weights as arrays, and the kernel calls of a forward pass.

The int8 ONNX model (from `quantize.quantize_int8`) is walked node by node and each layer
becomes one call to a kernel of ``kernels/digitrec_kernels.h``: a quantised convolution or dense
layer where the quantiser put integer weights, the float operation where it kept float.
`c_header` wraps the result into the header users include. Only the operations digitrec's
networks use are understood; anything else is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import INPUT_NAME, OUTPUT_NAME, SIDE
from ..errors import DigitrecError
from .quantize import probability_nodes

PIXELS, CLASSES = SIDE * SIDE, 10


@dataclass
class _Tensor:
    buffer: str
    shape: tuple[int, int, int]  # channels, height, width
    scale: float | None = None  # set for uint8 tensors
    zero_point: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class Program:
    """The C being written: constant arrays, activation buffers, and the calls in order."""

    arrays: list[str] = field(default_factory=list)
    buffers: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def array(self, name: str, ctype: str, values: np.ndarray, comment: str) -> str:
        flat = values.ravel()
        fmt = (lambda v: f"{float(v)!r}f") if ctype == "float" else (lambda v: str(int(v)))
        rows = [", ".join(fmt(v) for v in flat[i : i + 12]) for i in range(0, flat.size, 12)]
        body = ",\n    ".join(rows)
        self.arrays.append(f"/* {comment} */\n"
                           f"static const {ctype} {name}[{flat.size}] = {{\n    {body}\n}};")
        return name

    def buffer(self, ctype: str, shape: tuple[int, int, int], **quant: Any) -> _Tensor:
        tensor = _Tensor(f"t{len(self.buffers)}", shape, **quant)
        self.buffers.append(f"    static {ctype} {tensor.buffer}[{tensor.size}];")
        return tensor


def _attributes(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class Compiler:
    """Walks the nodes that compute the probabilities, in order, writing one call per layer."""

    def __init__(self, path: Path, graph: Any) -> None:
        from onnx import numpy_helper

        self.path = path
        self.constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.nodes = probability_nodes(graph)
        self.consumers: dict[str, list[Any]] = {}
        for node in self.nodes:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.prog = Program()
        image = self.prog.buffer("float", (1, SIDE, SIDE))
        self.prog.calls.append(f"    for (int i = 0; i < {PIXELS}; i++) {image.buffer}[i] = "
                               "image[i] / 255.0f;")
        self.tensors: dict[str, _Tensor] = {INPUT_NAME: image}
        self.lazy: dict[str, _Tensor] = {}  # float views of uint8 tensors, made when needed
        self.weights: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}  # name, values, scales
        self.fused: set[str] = set()  # QuantizeLinear nodes folded into the layer before
        self.layers = 0

    def refuse(self, what: str) -> DigitrecError:
        return DigitrecError(f"{self.path}: cannot write C for this model: {what}")

    def run(self) -> Program:
        handlers = {"DequantizeLinear": self.dequantize, "QuantizeLinear": self.quantize,
                    "Conv": self.conv, "Gemm": self.conv, "Relu": self.relu,
                    "MaxPool": self.maxpool, "BatchNormalization": self.batchnorm,
                    "ReduceMean": self.mean, "Reshape": self.flatten, "Flatten": self.flatten,
                    "Softmax": self.softmax}
        for node in self.nodes:
            if node.op_type not in handlers:
                raise self.refuse(f"operation {node.op_type} ({node.name}) has no C kernel")
            handlers[node.op_type](node, _attributes(node))
        return self.prog

    def call(self, kernel: str, *args: object) -> None:
        text = ", ".join(f"{a!r}f" if isinstance(a, float) else str(a) for a in args)
        self.prog.calls.append(f"    {kernel}({text});")

    def layer_name(self) -> str:
        self.layers += 1
        return f"layer{self.layers}"

    def as_float(self, name: str) -> _Tensor:
        if name not in self.tensors:
            q = self.lazy[name]
            self.tensors[name] = self.prog.buffer("float", q.shape)
            self.call("dr_dequantize", q.buffer, q.size, q.scale, q.zero_point,
                      self.tensors[name].buffer)
        return self.tensors[name]

    def float_op(self, node: Any, shape: tuple[int, int, int]) -> tuple[_Tensor, _Tensor]:
        """The float input of ``node`` and a new float buffer of ``shape`` for its output."""
        x = self.as_float(node.input[0])
        out = self.tensors[node.output[0]] = self.prog.buffer("float", shape)
        return x, out

    def dequantize(self, node: Any, attrs: dict[str, Any]) -> None:
        if node.input[0] not in self.constants:  # an activation: dequantised when needed
            self.lazy[node.output[0]] = self.tensors[node.input[0]]
            return
        scale = np.atleast_1d(self.constants[node.input[1]]).astype(np.float32)
        zero_point = self.constants[node.input[2]] if len(node.input) > 2 else 0
        if np.any(zero_point != 0) or (scale.size > 1 and attrs.get("axis", 1) != 0):
            raise self.refuse(f"weights {node.input[0]} are not symmetric per output channel")
        self.weights[node.output[0]] = (node.input[0], self.constants[node.input[0]], scale)

    def quantize(self, node: Any, attrs: dict[str, Any]) -> None:
        if node.name in self.fused:
            return
        x = self.as_float(node.input[0])
        scale, zero_point = (float(self.constants[n]) for n in node.input[1:3])
        out = self.tensors[node.output[0]] = self.prog.buffer(
            "uint8_t", x.shape, scale=scale, zero_point=int(zero_point))
        self.call("dr_quantize", x.buffer, x.size, scale, out.zero_point, out.buffer)

    def conv(self, node: Any, attrs: dict[str, Any]) -> None:
        """Conv or Gemm between quantised tensors: integer sums, rescaled per channel."""
        after = self.consumers.get(node.output[0], [])
        if (node.input[0] not in self.lazy or node.input[1] not in self.weights
                or len(after) != 1 or after[0].op_type != "QuantizeLinear"):
            raise self.refuse(f"{node.op_type} {node.name} is not quantised on both sides")
        x = self.lazy[node.input[0]]
        source, w, w_scale = self.weights[node.input[1]]
        if node.op_type == "Gemm":
            if attrs.get("transB") != 1 or attrs.get("transA", 0) != 0:
                raise self.refuse(f"Gemm {node.name} is not x @ W.T + b")
            w, cin, h, wd, stride = w[:, :, None, None], x.size, 1, 1, 1
        else:
            if any(attrs.get("pads", [0])) or attrs.get("group", 1) != 1:
                raise self.refuse(f"Conv {node.name} is padded or grouped")
            (cin, h, wd), stride = x.shape, attrs.get("strides", [1])[0]
        cout, k = w.shape[0], w.shape[-1]
        if w.shape[1] != cin:
            raise self.refuse(f"{node.op_type} {node.name} does not fit its input {x.shape}")
        w_scale = np.broadcast_to(w_scale, (cout,))
        name = self.layer_name()
        self.prog.array(f"{name}_weight", "int8_t", w, f"{source}: {cout}x{cin}x{k}x{k}")
        self.prog.array(f"{name}_weight_scale", "float", w_scale, "per output channel")
        bias = "0"
        if len(node.input) > 2:
            _, values, bias_scale = self.weights[node.input[2]]
            if not np.allclose(bias_scale, np.float32(x.scale) * w_scale, rtol=1e-5):
                raise self.refuse(f"bias of {node.name} is not in the scale of its sums")
            bias = self.prog.array(f"{name}_bias", "int32_t", values,
                                   "int32, in the scale of input times weight")
        q = after[0]
        self.fused.add(q.name)
        scale, zero_point = (float(self.constants[n]) for n in q.input[1:3])
        shape = (cout, (h - k) // stride + 1, (wd - k) // stride + 1)
        out = self.tensors[q.output[0]] = self.prog.buffer(
            "uint8_t", shape, scale=scale, zero_point=int(zero_point))
        self.call("dr_conv", x.buffer, x.scale, x.zero_point, cin, h, wd, f"{name}_weight",
                  f"{name}_weight_scale", bias, cout, k, stride, scale, out.zero_point,
                  out.buffer)

    def relu(self, node: Any, attrs: dict[str, Any]) -> None:
        x, out = self.float_op(node, self.as_float(node.input[0]).shape)
        self.call("dr_relu", x.buffer, x.size, out.buffer)

    def maxpool(self, node: Any, attrs: dict[str, Any]) -> None:
        if any(attrs.get("pads", [0])) or attrs.get("ceil_mode", 0):
            raise self.refuse(f"MaxPool {node.name} is padded")
        k, stride = attrs["kernel_shape"][0], attrs.get("strides", [1])[0]
        c, h, w = self.as_float(node.input[0]).shape
        x, out = self.float_op(node, (c, (h - k) // stride + 1, (w - k) // stride + 1))
        self.call("dr_maxpool", x.buffer, c, h, w, k, stride, out.buffer)

    def batchnorm(self, node: Any, attrs: dict[str, Any]) -> None:
        x, out = self.float_op(node, self.as_float(node.input[0]).shape)
        gamma, beta, mean, var = (self.constants[n].astype(np.float32) for n in node.input[1:5])
        scale = gamma / np.sqrt(var + np.float32(attrs.get("epsilon", 1e-5)))
        name = self.layer_name()
        self.prog.array(f"{name}_scale", "float", scale, "batch norm as scale and shift")
        self.prog.array(f"{name}_shift", "float", beta - mean * scale, "and shift")
        self.call("dr_affine", x.buffer, x.shape[0], x.shape[1] * x.shape[2], f"{name}_scale",
                  f"{name}_shift", out.buffer)

    def mean(self, node: Any, attrs: dict[str, Any]) -> None:
        axes = self.constants[node.input[1]] if len(node.input) > 1 else attrs.get("axes")
        if sorted(np.asarray(axes) % 4) != [2, 3]:  # axes may count from the end
            raise self.refuse(f"ReduceMean {node.name} is not over the image")
        c = self.as_float(node.input[0]).shape[0]
        x, out = self.float_op(node, (c, 1, 1))
        self.call("dr_mean", x.buffer, c, x.shape[1] * x.shape[2], out.buffer)

    def flatten(self, node: Any, attrs: dict[str, Any]) -> None:
        """Channels-first order is already flat: the output shares its input's buffer."""
        table = self.tensors if node.input[0] in self.tensors else self.lazy
        x = table[node.input[0]]
        table[node.output[0]] = _Tensor(x.buffer, (x.size, 1, 1), x.scale, x.zero_point)

    def softmax(self, node: Any, attrs: dict[str, Any]) -> None:
        if node.output[0] != OUTPUT_NAME:
            raise self.refuse(f"softmax {node.name} is not the output")
        self.call("dr_softmax", self.as_float(node.input[0]).buffer, CLASSES, "probabilities")
