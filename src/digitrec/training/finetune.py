"""Fine-tuning: a digitrec model adapted to a user's own writers with a few hundred labelled
images, without training from scratch.

The ONNX file is the only source of the weights. Its graph names each tensor after the module
it came from, so the network is rebuilt from its card's architecture and those tensors; where
the exporter folded a batch norm into the convolution before it (the conv's weight scaled, its
shift kept as ``<conv>.weight_bias``), that batch norm is rebuilt as the identity carrying the
shift. The rebuilt network is checked against ONNX Runtime before anything is trained.

Each step draws part of its batch from the user's images and the rest from MNIST's training
digits (replay), so the model learns the new writers without forgetting the old ones; batch
norm keeps the parent's statistics, which a few hundred images could only make worse.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import itertools
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import __version__
from ..contract import DIGITS, PREPROCESSING, SIDE, ModelCard
from ..data import MNIST
from ..errors import DigitrecError
from ..export.calibrate import calibrate_file, calibration_fields
from ..export.subspace import DigitSubspace
from ..export.to_onnx import export_onnx
from ..labelled import Labelled
from .augment import Augmentation
from .loop import with_recipe_variants
from .networks import Ensemble, build_model
from .recipes import Recipe, Tuning
from .symbols import PER_SYMBOL, with_symbols
from .validation import accuracy, loss_and_accuracy

PARITY_TOLERANCE = 1e-4  # largest probability difference between the rebuilt network and ORT


@dataclass
class Parent:
    """A model file rebuilt as a torch network, with what its file says about itself."""

    path: Path
    sha256: str
    card: ModelCard
    recipe: Recipe
    model: nn.Module
    subspace: DigitSubspace


@dataclass
class Finetuned:
    card: ModelCard  # the new model's, as written
    train: int  # the user's images trained on
    validation: int  # and held out


def load_parent(path: str | os.PathLike[str]) -> Parent:
    """The network in a digit model's ONNX file, as a torch module that computes what the file
    computes (checked on random images with ONNX Runtime)."""
    import onnx
    from onnx import numpy_helper

    from ..inference.model import load_card, load_digit_model

    path = Path(path)
    _, card = load_card(path)  # refuses missing files and files without a card
    if card.preprocessing != PREPROCESSING:
        raise DigitrecError(f"{path}: a line reader; finetune adapts digit models", "bad_model")
    deployed = load_digit_model(path, threads=1)
    if card.precision is not None:
        raise DigitrecError(f"{path}: an {card.precision} copy; fine-tune the fp32 model it "
                            "was made from, then export it again", "bad_model")
    if card.imported:
        raise DigitrecError(f"{path}: imported from {card.imported.get('from', 'elsewhere')}; "
                            "fine-tuning needs a network digitrec built (fine-tune it where it "
                            "was made and import it again)", "bad_model")
    fields = {f.name for f in dataclasses.fields(Recipe)}
    recipe = Recipe(**{k: v for k, v in (card.recipe or {}).items() if k in fields})
    data = path.read_bytes()
    tensors = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy())
               for t in onnx.load_from_string(data).graph.initializer}
    networks = [build_model(recipe.arch, recipe.standardize, len(card.classes))
                for _ in card.members or [None]]
    net = Ensemble(networks) if card.members else networks[0]
    net.load_state_dict(_state_dict(net, tensors, path))
    net.eval()
    if "mean" not in tensors or "components" not in tensors or card.novelty_threshold is None:
        raise DigitrecError(f"{path}: made before digit-likeness scores; retrain it to "
                            "fine-tune it", "bad_model")
    subspace = DigitSubspace(tensors["mean"], tensors["components"], card.novelty_threshold)
    probe = np.random.default_rng(0).random((16, 1, SIDE, SIDE), dtype=np.float32)
    with torch.no_grad():
        ours = torch.softmax(net(torch.from_numpy(probe)), 1).numpy()
    gap = float(np.abs(ours - deployed.probabilities(probe, tempered=False)).max())
    if gap > PARITY_TOLERANCE:
        raise DigitrecError(f"{path}: its network could not be rebuilt faithfully (outputs "
                            f"differ by {gap:.2g})", "bad_model")
    return Parent(path, hashlib.sha256(data).hexdigest(), card, recipe, net, subspace)


def _state_dict(net: nn.Module, tensors: dict[str, Tensor], path: Path) -> dict[str, Tensor]:
    """``net``'s state from the ONNX file's tensors (named ``net.<module>``), batch norms the
    exporter folded into their convolutions rebuilt as identities carrying the shift."""
    state = {}
    for name, value in net.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state[name] = value
        elif f"net.{name}" in tensors:
            state[name] = tensors[f"net.{name}"]
    for (conv_name, conv), (bn_name, bn) in itertools.pairwise(net.named_modules()):
        shift = tensors.get(f"net.{conv_name}.weight_bias")
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and shift is not None:
            state[f"{bn_name}.weight"] = torch.ones_like(shift)
            state[f"{bn_name}.bias"] = shift
            state[f"{bn_name}.running_mean"] = torch.zeros_like(shift)
            # (x - 0) / sqrt(var + eps) is x when var + eps is 1.
            state[f"{bn_name}.running_var"] = torch.full_like(shift, 1 - bn.eps)
    for name, value in net.state_dict().items():
        if name not in state or state[name].shape != value.shape:
            raise DigitrecError(f"{path}: its network could not be rebuilt (tensor "
                                f"{name!r} missing or of another shape)", "bad_model")
    return state


def replay_set(parent: Parent, train: tuple[np.ndarray, np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray]:
    """What the parent learned from, to replay: MNIST's training split ``train`` (with the
    recipe's European 1s and crossed 7s) and, for a calculator's model, its operators."""
    recipe = parent.recipe
    train = (with_recipe_variants(recipe, train), train[1].astype(np.int64))
    if recipe.symbols:
        # A fifth of training's count: drawing them takes seconds a thousand, and a replayed
        # share of each batch never needs all of them.
        train = with_symbols(train, recipe.symbols, PER_SYMBOL // 5, recipe.seed, "train")
    return train


def _frozen_norms(model: nn.Module) -> nn.Module:
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def tune(parent: Parent, train: Labelled, replay: tuple[np.ndarray, np.ndarray],
         settings: Tuning, progress: bool = True) -> nn.Module:
    """A copy of the parent's network trained for ``settings.steps`` steps on batches of the
    user's images and replayed ones, each distorted as in training."""
    from tqdm import tqdm

    torch.manual_seed(settings.seed)
    model = _frozen_norms(copy.deepcopy(parent.model))
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    # Cosine decay to zero: the last steps settle instead of jumping about the few examples.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / settings.steps)))
    augment = Augmentation().scaled(parent.recipe.augment_strength)
    user_x = torch.from_numpy(train.images).unsqueeze(1)
    user_y = torch.from_numpy(train.labels)
    old_x = torch.from_numpy(replay[0]).unsqueeze(1)  # uint8: scaled per batch, not all at once
    old_y = torch.from_numpy(replay[1].astype(np.int64))
    replayed = round(settings.batch_size * settings.replay)
    own = settings.batch_size - replayed
    for _ in tqdm(range(settings.steps), desc="fine-tuning", unit="step", leave=False,
                  disable=not progress, dynamic_ncols=True):
        mine = torch.randint(len(user_y), (own,))
        old = torch.randint(len(old_y), (replayed,))
        x = augment(torch.cat([user_x[mine], old_x[old].float() / 255]))
        y = torch.cat([user_y[mine], old_y[old]])
        loss = F.cross_entropy(model(x), y, label_smoothing=parent.recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


def labelled_accuracy(model: nn.Module, data: Labelled) -> float | None:
    if not len(data):
        return None
    images = torch.from_numpy(data.images).unsqueeze(1)
    return loss_and_accuracy(model, images, torch.from_numpy(data.labels))[1]


def finetune(parent: Parent, data: Labelled, mnist: MNIST, out: str | os.PathLike[str],
             settings: Tuning | None = None, source: str = "",
             progress: bool = True) -> Finetuned:
    """Fine-tune ``parent`` on ``data`` (split into training and validation), measure both
    networks on the validation split and on MNIST's test set, and write the new model to
    ``out`` with a card that records its parent, the data and those figures."""
    settings = settings or Tuning()
    began = time.perf_counter()
    train, val = data.split(settings.val_share, settings.seed)
    if not len(train):
        raise DigitrecError(f"{source or 'the data'}: every image went to validation; give "
                            "more images or a smaller --val-share", "bad_parameter")
    mnist_train, mnist_val = mnist.split()
    model = tune(parent, train, replay_set(parent, mnist_train), settings, progress)
    test = (mnist.test_images, mnist.test_labels)
    figures = {"validation_accuracy_before": labelled_accuracy(parent.model, val),
               "validation_accuracy_after": labelled_accuracy(model, val),
               "mnist_test_accuracy_before": accuracy(parent.model, *test),
               "mnist_test_accuracy_after": accuracy(model, *test)}
    record: dict[str, Any] = {
        "data": source, "data_sha256": data.sha256, "images": len(data),
        "skipped": len(data.skipped), "train": len(train), "validation": len(val),
        **dataclasses.asdict(settings),
        **{k: None if v is None else round(v, 4) for k, v in figures.items()},
        "seconds": round(time.perf_counter() - began, 1),
    }
    card = parent.card.replace(
        validation_accuracy=accuracy(model, *mnist_val),
        test_accuracy=figures["mnist_test_accuracy_after"],
        history=None,
        members=[{"seed": m.get("seed")} for m in parent.card.members or []] or None,
        parent={"file": parent.path.name, "sha256": parent.sha256,
                "test_accuracy": parent.card.test_accuracy},
        finetuning=record,
        real_data=data.provenance or parent.card.real_data,
        digitrec_version=__version__,
        torch_version=torch.__version__,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    export_onnx(model, out, card, parent.subspace)
    if card.classes == DIGITS:
        # The parent's calibration was fitted to the parent's network: refit it (quickly: a
        # tenth of what training uses, about 10 s).
        card = card.replace(**calibration_fields(calibrate_file(Path(out), mnist, quick=True)))
    return Finetuned(card, len(train), len(val))
