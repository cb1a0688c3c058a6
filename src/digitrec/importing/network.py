"""A Keras model's layers as a PyTorch network that computes what Keras computes, for digitrec's
input: (N, 1, 28, 28) pixels in [0, 1].

Keras is channels-last and PyTorch channels-first. Images stay channels-first inside (so
convolutions and pools are PyTorch's own). A Flatten therefore lays values out channel first,
where Keras lays them out channel last; rather than transpose the values, the Dense (or
BatchNormalization) after it takes its weights with the rows reordered, and any other layer
gets the values put back in Keras's order. Padding "same" is TensorFlow's: when the padding is
odd, the extra row and column go at the bottom and right. A final softmax is left off and its
input returned: the exported model applies its own softmax, which gives the same
probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..contract import SIDE
from ..errors import DigitrecError
from .keras_file import KerasModel, Layer

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": lambda x: x, "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid,
    "tanh": torch.tanh, "elu": F.elu, "selu": F.selu, "softplus": F.softplus,
    "softsign": F.softsign, "swish": F.silu, "silu": F.silu, "gelu": F.gelu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2), "exponential": torch.exp,
}  # hard_sigmoid is missing on purpose: Keras 2 and 3 define it differently
# Layers that do nothing at inference.
IDENTITIES = {"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
              "AlphaDropout", "ActivityRegularization"}
# Layers that act on each value alone: the order of a flattened image's values is theirs to ignore.
ELEMENTWISE = {"Activation", "ReLU", "LeakyReLU", "Softmax", "Rescaling"} | IDENTITIES
SUPPORTED = sorted({"Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D",
                    "GlobalAveragePooling2D", "Flatten", "Dense", "BatchNormalization",
                    "Activation", "ReLU", "LeakyReLU", "Softmax", "Reshape", "Rescaling",
                    *IDENTITIES})


def activation_name(name: str | dict) -> str:
    if isinstance(name, dict):  # Keras 3 may serialise an activation as an object
        name = name.get("config", {}).get("name") or name.get("class_name", "")
    return str(name).lower()


def _pair(value: int | list[int] | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _same_padding(size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                  dilation: tuple[int, int] = (1, 1)) -> tuple[int, int, int, int]:
    """TensorFlow's "same": the output is ceil(size / stride), any odd pixel at the end."""
    pads = []
    for n, k, s, d in zip(size, kernel, stride, dilation, strict=True):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return (pads[1][0], pads[1][1], pads[0][0], pads[0][1])  # F.pad: left, right, top, bottom


def _symmetric(pad: tuple[int, int, int, int]) -> bool:
    return pad[0] == pad[1] and pad[2] == pad[3]


class _Step(nn.Module):
    """One Keras layer: a function of the tensor, with its weights (frozen)."""

    def __init__(self, run: Callable[[Tensor], Tensor], **tensors: Tensor) -> None:
        super().__init__()
        self.run = run
        for name, value in tensors.items():
            self.register_parameter(name, nn.Parameter(value, requires_grad=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.run(self, x)


class KerasNet(nn.Module):
    """The imported network: digitrec's (N, 1, 28, 28) in, the model's last layer out."""

    def __init__(self, steps: list[nn.Module], scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.steps = nn.ModuleList(steps)

    def forward(self, x: Tensor) -> Tensor:
        if self.scale != 1:
            x = x * self.scale
        for step in self.steps:
            x = step(x)
        return x


def _tensor(array: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


class _Builder:
    """Walks the layers, tracking the shape Keras would see (channels last) so that pads,
    reshapes and the Flatten know where they are."""

    def __init__(self, model: KerasModel) -> None:
        self.model = model
        self.steps: list[nn.Module] = []
        self.shape: tuple[int, ...] = (SIDE, SIDE, 1)  # Keras's view, batch axis apart
        self.image = True  # the tensor is (N, C, H, W) inside, (N, H, W, C) to Keras
        # After a Flatten of an image: its (H, W, C). The values are then in PyTorch's order
        # (channel, row, column), and the next Dense or BatchNormalization takes its weights
        # reordered to match, so no transpose is computed; any other layer gets the values in
        # Keras's order first.
        self.flattened: tuple[int, int, int] | None = None

    def refuse(self, layer: Layer, why: str) -> DigitrecError:
        return DigitrecError(f"{self.model.path}: layer {layer.name!r} ({layer.kind}): {why}",
                             "unsupported_layer")

    def add(self, run: Callable[..., Tensor], **tensors: Tensor) -> None:
        self.steps.append(_Step(run, **tensors))

    def first(self) -> None:
        """From digitrec's input to the shape the model declares."""
        declared = self.model.input_shape
        if declared is None or tuple(declared) == (SIDE, SIDE, 1):
            return
        if tuple(declared) == (SIDE, SIDE):
            self.add(lambda s, x: x[:, 0])
            self.shape, self.image = (SIDE, SIDE), False
        elif tuple(declared) == (SIDE * SIDE,):
            self.add(lambda s, x: x.flatten(1))
            self.shape, self.image = (SIDE * SIDE,), False
        else:
            raise DigitrecError(
                f"{self.model.path}: the model takes input of shape {tuple(declared)}; digitrec "
                "feeds 28x28 grayscale images (28, 28, 1), (28, 28) or 784 values",
                "bad_model")

    def in_keras_order(self) -> None:
        if self.flattened is not None:
            h, w, c = self.flattened
            self.add(lambda s, x: x.reshape(-1, c, h, w).permute(0, 2, 3, 1).flatten(1))
            self.flattened = None

    def keras_rows(self, array: np.ndarray) -> np.ndarray:
        """Rows of a weight laid out in Keras's flattened order, in PyTorch's."""
        if self.flattened is None:
            return array
        h, w, c = self.flattened
        return array.reshape(h, w, c, *array.shape[1:]).transpose(
            2, 0, 1, *range(3, array.ndim + 2)).reshape(array.shape)

    def layer(self, layer: Layer, last: bool) -> None:
        c, w = layer.config, layer.weights
        kind = layer.kind
        if kind in IDENTITIES:
            return
        if kind not in ELEMENTWISE | {"Dense", "BatchNormalization"}:
            self.in_keras_order()
        if kind == "Conv2D":
            self.conv(layer)
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            self.pool(layer)
        elif kind in ("GlobalMaxPooling2D", "GlobalAveragePooling2D"):
            self.need_image(layer)
            reduce = torch.amax if kind.startswith("GlobalMax") else torch.mean
            self.add(lambda s, x: reduce(x, dim=(2, 3)))
            self.shape, self.image = (self.shape[-1],), False
        elif kind == "Flatten":
            if self.image and self.shape[2] > 1 and self.shape[0] * self.shape[1] > 1:
                self.flattened = (self.shape[0], self.shape[1], self.shape[2])
            self.add(lambda s, x: x.flatten(1))
            self.shape, self.image = (math.prod(self.shape),), False
        elif kind == "Dense":
            if self.image or len(self.shape) != 1:
                raise self.refuse(layer, "a Dense layer on an image; put a Flatten before it")
            kernel = _tensor(self.keras_rows(w[0])).T
            self.flattened = None
            bias = _tensor(w[1]) if c.get("use_bias", True) and len(w) > 1 else \
                torch.zeros(kernel.shape[0])
            self.add(lambda s, x: F.linear(x, s.kernel, s.bias), kernel=kernel, bias=bias)
            self.shape = (kernel.shape[0],)
            self.activation(layer, c.get("activation", "linear"), last)
        elif kind == "BatchNormalization":
            self.batch_norm(layer)
        elif kind == "Activation":
            self.activation(layer, c.get("activation", "linear"), last)
        elif kind == "ReLU":
            if c.get("max_value") is not None or c.get("negative_slope", 0) or \
                    c.get("threshold", 0):
                raise self.refuse(layer, "only a plain ReLU (no max, slope or threshold)")
            self.add(lambda s, x: F.relu(x))
        elif kind == "LeakyReLU":
            slope = float(c.get("negative_slope", c.get("alpha", 0.3)))
            self.add(lambda s, x: F.leaky_relu(x, slope))
        elif kind == "Softmax":
            self.activation(layer, "softmax", last)
        elif kind == "Rescaling":
            scale, offset = float(c.get("scale", 1.0)), float(c.get("offset", 0.0))
            self.add(lambda s, x: x * scale + offset)
        elif kind == "Reshape":
            self.reshape(layer)
        else:
            raise self.refuse(layer, f"not supported (supported: {', '.join(SUPPORTED)})")

    def need_image(self, layer: Layer) -> None:
        if not self.image:
            raise self.refuse(layer, f"expects an image, gets shape {self.shape}")

    def conv(self, layer: Layer) -> None:
        self.need_image(layer)
        c, w = layer.config, layer.weights
        if c.get("data_format", "channels_last") != "channels_last" or c.get("groups", 1) != 1:
            raise self.refuse(layer, "only channels_last convolutions without groups")
        kernel = _tensor(w[0]).permute(3, 2, 0, 1).contiguous()  # (kh, kw, in, out) -> torch
        bias = _tensor(w[1]) if c.get("use_bias", True) and len(w) > 1 else \
            torch.zeros(kernel.shape[0])
        k, stride = _pair(c["kernel_size"]), _pair(c.get("strides", 1))
        dilation = _pair(c.get("dilation_rate", 1))
        h, wd = self.shape[0], self.shape[1]
        pad = _same_padding((h, wd), k, stride, dilation) if c.get("padding") == "same" else \
            (0, 0, 0, 0)
        if _symmetric(pad):
            padding = (pad[2], pad[0])
            self.add(lambda s, x: F.conv2d(x, s.kernel, s.bias, stride, padding, dilation),
                     kernel=kernel, bias=bias)
        else:
            self.add(lambda s, x: F.conv2d(F.pad(x, pad), s.kernel, s.bias, stride,
                                           dilation=dilation), kernel=kernel, bias=bias)
        out = [(n + p0 + p1 - d * (kk - 1) - 1) // st + 1 for n, kk, st, d, (p0, p1) in zip(
            (h, wd), k, stride, dilation, ((pad[2], pad[3]), (pad[0], pad[1])), strict=True)]
        self.shape = (out[0], out[1], kernel.shape[0])
        self.activation(layer, c.get("activation", "linear"), False)

    def pool(self, layer: Layer) -> None:
        self.need_image(layer)
        c = layer.config
        size = _pair(c.get("pool_size", 2))
        stride = _pair(c.get("strides") or size)
        h, wd = self.shape[0], self.shape[1]
        same = c.get("padding") == "same"
        pad = _same_padding((h, wd), size, stride) if same else (0, 0, 0, 0)
        # PyTorch pads both sides alike, and by at most half the window.
        own = _symmetric(pad) and 2 * pad[0] <= size[1] and 2 * pad[2] <= size[0]
        padding = (pad[2], pad[0])
        if layer.kind == "MaxPooling2D" and own:
            self.add(lambda s, x: F.max_pool2d(x, size, stride, padding))
        elif layer.kind == "MaxPooling2D":
            self.add(lambda s, x: F.max_pool2d(F.pad(x, pad, value=-math.inf), size, stride))
        elif own:
            # TensorFlow averages over the pixels inside the image only.
            self.add(lambda s, x: F.avg_pool2d(x, size, stride, padding,
                                               count_include_pad=False))
        else:
            # TensorFlow averages over the pixels inside the image only.
            def average(s: nn.Module, x: Tensor) -> Tensor:
                ones = torch.ones_like(x[:, :1])
                return F.avg_pool2d(F.pad(x, pad), size, stride) / F.avg_pool2d(
                    F.pad(ones, pad), size, stride)
            self.add(average)
        out = [(n + p0 + p1 - kk) // st + 1 for n, kk, st, (p0, p1) in zip(
            (h, wd), size, stride, ((pad[2], pad[3]), (pad[0], pad[1])), strict=True)]
        self.shape = (out[0], out[1], self.shape[2])

    def batch_norm(self, layer: Layer) -> None:
        c, w = layer.config, list(layer.weights)
        axis = c.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) else axis
        if axis not in (-1, len(self.shape)):
            raise self.refuse(layer, "only normalisation over the last axis (channels)")
        channels = self.shape[-1]
        gamma = _tensor(w.pop(0)) if c.get("scale", True) else torch.ones(channels)
        beta = _tensor(w.pop(0)) if c.get("center", True) else torch.zeros(channels)
        mean, var = _tensor(w[0]), _tensor(w[1])
        if not self.image and self.flattened is not None:
            gamma, beta, mean, var = (_tensor(self.keras_rows(t.numpy()))
                                      for t in (gamma, beta, mean, var))
        # Folded into one multiply-add, per channel.
        scale = gamma / torch.sqrt(var + float(c.get("epsilon", 1e-3)))
        shift = beta - mean * scale
        if self.image:
            scale, shift = scale[:, None, None], shift[:, None, None]
        self.add(lambda s, x: x * s.scale + s.shift, scale=scale, shift=shift)

    def reshape(self, layer: Layer) -> None:
        target = tuple(int(n) for n in layer.config["target_shape"])
        if -1 in target:
            known = math.prod(n for n in target if n != -1)
            target = tuple(math.prod(self.shape) // known if n == -1 else n for n in target)
        if math.prod(target) != math.prod(self.shape) or len(target) not in (1, 3):
            raise self.refuse(layer, f"reshape from {self.shape} to {target}")
        was_image = self.image
        if len(target) == 3:
            self.add(lambda s, x: (x.permute(0, 2, 3, 1) if was_image else x)
                     .reshape(-1, *target).permute(0, 3, 1, 2))
        else:
            self.add(lambda s, x: (x.permute(0, 2, 3, 1) if was_image else x).reshape(-1, *target))
        self.shape, self.image = target, len(target) == 3

    def activation(self, layer: Layer, name: str | dict, last: bool) -> None:
        name = activation_name(name)
        if name == "linear" or (name == "softmax" and last):
            return  # a final softmax: the exported model's own gives the same probabilities
        if name == "softmax":
            self.add(lambda s, x: torch.softmax(x, dim=1))  # channels, or the features
        elif name in ACTIVATIONS:
            function = ACTIVATIONS[name]
            self.add(lambda s, x: function(x))
        else:
            raise self.refuse(layer, f"activation {name!r} is not supported (supported: "
                                     f"{', '.join(sorted(ACTIVATIONS))}, softmax)")


def build_network(model: KerasModel, scale: float = 1.0) -> KerasNet:
    """The network of ``model`` for digitrec's input, multiplied by ``scale`` first (255 for a
    model fed raw 0-255 pixels); refuses in one line a layer it cannot convert, naming it."""
    builder = _Builder(model)
    builder.first()
    for k, layer in enumerate(model.layers):
        builder.layer(layer, last=k == len(model.layers) - 1)
    builder.in_keras_order()
    if builder.image or len(builder.shape) != 1:
        raise DigitrecError(f"{model.path}: the model's output has shape {builder.shape}, not "
                            "one score per class", "bad_model")
    return KerasNet(builder.steps, scale).eval()
