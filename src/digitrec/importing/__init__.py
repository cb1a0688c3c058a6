"""Models from elsewhere made digitrec models: `import_keras` reads a Keras file (no TensorFlow
needed), rebuilds its network in PyTorch and exports it through the normal path, so the
imported model gets digitrec's image pipeline, `read`, the server, int8 and C export.

Reads Keras files with h5py (the ``keras`` extra); builds and exports with torch.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..contract import DIGITS, SIDE, ModelCard
from ..data import MNIST
from ..errors import DigitrecError
from .keras_file import KerasModel, read_keras
from .network import KerasNet, build_network

PIXELS = ("auto", "unit", "byte")
PARITY_TOLERANCE = 1e-4  # the exported file against the network it came from


@dataclass(frozen=True)
class Imported:
    card: ModelCard
    network: KerasNet
    source: KerasModel


def pixel_scale(model: KerasModel, pixels: str) -> float:
    """What digitrec's [0, 1] pixels are multiplied by to be what the model was fed: 1 for
    the tutorials' x / 255 ("unit"), 255 for raw 0-255 ("byte"); "auto" reads the model:
    one that starts by rescaling by 1/255 was fed raw pixels."""
    if pixels not in PIXELS:
        raise DigitrecError(f"pixels must be one of {', '.join(PIXELS)}, not {pixels!r}",
                            "bad_parameter")
    if pixels == "auto":
        first = model.layers[0] if model.layers else None
        fed_bytes = (first is not None and first.kind == "Rescaling"
                     and abs(float(first.config.get("scale", 1)) * 255 - 1) < 1e-3)
        pixels = "byte" if fed_bytes else "unit"
    return 255.0 if pixels == "byte" else 1.0


def import_keras(source: str | os.PathLike[str], out: str | os.PathLike[str],
                 mnist: MNIST | None = None, pixels: str = "auto") -> Imported:
    """Convert the Keras model in ``source`` into a digitrec model file at ``out``. With
    ``mnist``, the file also gets digit-likeness scores and its test accuracy; without, it reads
    digits all the same. The export is checked against the rebuilt network."""
    from ..export.subspace import DigitSubspace
    from ..export.to_onnx import export_onnx
    from ..inference import load_digit_model

    model = read_keras(source)
    scale = pixel_scale(model, pixels)
    net = build_network(model, scale)
    probe = np.random.default_rng(0).random((16, 1, SIDE, SIDE), dtype=np.float32)
    with torch.no_grad():
        logits = net(torch.from_numpy(probe))
    if logits.shape[1] != len(DIGITS):
        raise DigitrecError(f"{model.path}: the model has {logits.shape[1]} outputs; a digit "
                            f"model has {len(DIGITS)}", "bad_model")
    test_accuracy = subspace = None
    if mnist is not None:
        from ..training.validation import accuracy

        train, val = mnist.split()
        subspace = DigitSubspace.fit(train[0], val[0])
        test_accuracy = accuracy(net, mnist.test_images, mnist.test_labels)
    card = ModelCard(
        architecture="keras", classes=DIGITS,
        parameters=sum(p.numel() for p in net.parameters()), test_accuracy=test_accuracy,
        imported={"from": model.path.name, "sha256": model.sha256, "format": model.format,
                  "keras_version": model.keras_version,
                  "layers": [f"{layer.kind} {layer.name}" for layer in model.layers],
                  "pixels": "0-255 (the model rescales them itself)" if scale == 255
                  else "x / 255, in [0, 1]"},
        digitrec_version=__version__, torch_version=torch.__version__,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    export_onnx(net, out, card, subspace)
    deployed = load_digit_model(out, threads=1)
    gap = float(np.abs(torch.softmax(logits, 1).numpy() - deployed.probabilities(probe)).max())
    if gap > PARITY_TOLERANCE:
        Path(out).unlink(missing_ok=True)
        raise DigitrecError(f"{model.path}: the exported model does not compute what the "
                            f"network does (outputs differ by {gap:.2g})", "bad_model")
    return Imported(deployed.card, net, model)
