"""A Keras model file read without Keras or TensorFlow: its layers (class and config, in order)
and its weights as numpy arrays, from any of the three files Keras writes:

- HDF5 ``.h5`` from Keras 2 (tf.keras) or Keras 3: the model's JSON in the root attribute
  ``model_config``, each layer's weights in ``model_weights/<layer>``, listed in order by the
  group's ``weight_names`` attribute;
- Keras 3's ``.keras``: a zip of ``config.json`` and ``model.weights.h5``, where each layer's
  weights are ``vars/0``, ``vars/1``, ... in the order the layer created them.

Only sequential models are taken: a `Sequential`, or a functional model whose layers form one
chain. Torch-free; needs h5py (the ``keras`` extra).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DigitrecError, describe


@dataclass(frozen=True)
class Layer:
    kind: str  # Keras's class name: Conv2D, Dense, ...
    name: str
    config: dict[str, Any]
    weights: list[np.ndarray]  # in Keras's order: kernel then bias; gamma, beta, mean, var


@dataclass(frozen=True)
class KerasModel:
    path: Path
    sha256: str
    format: str  # "h5" or "keras"
    keras_version: str | None
    input_shape: tuple[int | None, ...] | None  # without the batch axis, when declared
    layers: list[Layer]


def read_keras(path: str | os.PathLike[str]) -> KerasModel:
    """The layers and weights of a Keras model file; a file that is not one (or is cut short)
    is refused in one line naming it."""
    try:
        import h5py
    except ImportError:
        raise DigitrecError("importing Keras models needs h5py: pip install 'digitrec[keras]'",
                            "missing_extra") from None
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DigitrecError(f"{path}: {describe(exc)}", "not_found") from None
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                config = json.loads(archive.read("config.json"))
                meta = json.loads(archive.read("metadata.json")) if "metadata.json" in \
                    archive.namelist() else {}
                weights = archive.read("model.weights.h5")
            with h5py.File(io.BytesIO(weights), "r") as h5:
                return _model(path, sha256, "keras", meta.get("keras_version"), config,
                              lambda configs: [_zip_weights(h5, k) for k in _zip_keys(configs)])
        with h5py.File(io.BytesIO(data), "r") as h5:
            if "model_config" not in h5.attrs:
                raise DigitrecError(f"{path}: an HDF5 file without a Keras model in it (weights "
                                    "alone, saved by save_weights, are not enough)", "bad_model")
            config = json.loads(_text(h5.attrs["model_config"]))
            version = _text(h5.attrs.get("keras_version", "")) or None
            group = h5.get("model_weights", h5)
            return _model(path, sha256, "h5", version, config,
                          lambda configs: [_h5_weights(group, c["config"].get("name", ""))
                                           for c in configs])
    except DigitrecError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DigitrecError(f"{path}: not a Keras model file, or a damaged one "
                            f"({describe(exc)})", "bad_model") from None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _h5_weights(group: Any, name: str) -> list[np.ndarray]:
    if name not in group:
        return []
    layer = group[name]
    return [np.asarray(layer[_text(w)]) for w in layer.attrs.get("weight_names", [])]


def _zip_weights(h5: Any, key: str) -> list[np.ndarray]:
    # Keras 3 files a model's layers under "layers" (its first 3.x releases under
    # "_layer_checkpoint_dependencies").
    for root in ("layers", "_layer_checkpoint_dependencies"):
        if root in h5 and key in h5[root]:
            variables = h5[root][key].get("vars", {})
            return [np.asarray(variables[str(k)]) for k in range(len(variables))]
    return []


def _snake(name: str) -> str:
    """Keras's own snake case: Conv2D -> conv2d, ReLU -> re_lu, BatchNormalization ->
    batch_normalization."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _zip_keys(configs: list[dict[str, Any]]) -> list[str]:
    """Where a .keras file keeps each layer's weights: not under the layer's name but under
    its class in snake case, numbered from the second of a class on (conv2d, conv2d_1, ...)."""
    seen: dict[str, int] = {}
    keys = []
    for c in configs:
        base = _snake(c["class_name"])
        keys.append(base if base not in seen else f"{base}_{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return keys


def _model(path: Path, sha256: str, kind: str, version: str | None, config: dict[str, Any],
           weights: Callable[[list[dict[str, Any]]], list[list[np.ndarray]]]) -> KerasModel:
    """The model from its config; ``weights`` gives each layer's arrays from the layers'
    configs, in order."""
    configs, input_shape = _chain(path, config)
    layers = [Layer(c["class_name"], c["config"].get("name", f"layer{k}"), c["config"], w)
              for k, (c, w) in enumerate(zip(configs, weights(configs), strict=True))]
    return KerasModel(path, sha256, kind, version, input_shape, layers)


def _chain(path: Path, config: dict[str, Any]) -> tuple[list[dict[str, Any]],
                                                        tuple[int | None, ...] | None]:
    """The layer configs of a sequential model, input layer apart, and its input shape."""
    kind = config.get("class_name")
    inner = config.get("config", {})
    layers = inner.get("layers") if isinstance(inner, dict) else inner
    if kind not in ("Sequential", "Functional", "Model") or not isinstance(layers, list):
        raise DigitrecError(f"{path}: not a Keras model this can import (a {kind or 'file'} "
                            "without a list of layers)", "bad_model")
    if kind != "Sequential":
        _check_chain(path, layers)
    shape = None
    for layer in layers:
        c = layer.get("config", {})
        declared = c.get("batch_shape") or c.get("batch_input_shape")
        if declared and shape is None:
            shape = tuple(declared[1:])
    return [layer for layer in layers if layer.get("class_name") != "InputLayer"], shape


def _check_chain(path: Path, layers: list[dict[str, Any]]) -> None:
    """Refuse a functional model that branches or merges: each layer must take the one before."""
    for before, layer in itertools.pairwise(layers):
        sources = _inbound(layer.get("inbound_nodes", []))
        if sources != [before.get("config", {}).get("name", before.get("name"))] and \
                sources != [before.get("name")]:
            raise DigitrecError(f"{path}: layer {layer.get('name')!r} does not simply follow "
                                f"the one before it (inputs {sources}); only a chain of layers "
                                "can be imported", "unsupported_layer")


def _inbound(nodes: list[Any]) -> list[str]:
    """The names of the layers feeding one layer, from either Keras's node format."""
    names: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            history = value.get("config", {}).get("keras_history") if isinstance(
                value.get("config"), dict) else None
            if history:
                names.append(history[0])
                return
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int):
                names.append(value[0])  # Keras 2: [name, node, tensor, kwargs]
                return
            for v in value:
                walk(v)

    walk(nodes)
    return names
