"""The training loop: a recipe in, a trained network and its history out, a checkpoint every epoch.

Every source of randomness (shuffling, augmentation, dropout) is reseeded from (seed, epoch) at the
start of each epoch, so a run resumed from a checkpoint continues exactly as if never stopped.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import __version__
from .atomic import atomic_path
from .augment import Augmentation
from .errors import DigitrecError, describe
from .glyphs import with_variants
from .models import build_model
from .recipes import Recipe

CHECKPOINT_FORMAT = 1
CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    images_per_second: float
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    model: nn.Module
    recipe: Recipe
    history: list[EpochStats]


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_threads(threads: int | None = None) -> int:
    """Use every core unless told otherwise: torch's default can leave cores idle in containers."""
    threads = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    return threads


def to_tensor(images: np.ndarray) -> Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return torch.tensor(images, dtype=torch.uint8).unsqueeze(1).float().div_(255)


@torch.no_grad()
def predict_logits(model: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    model.eval()
    device = next(model.parameters()).device
    out = [model(batch.to(device).contiguous(memory_format=torch.channels_last))
           for batch in images.split(batch_size)]
    return torch.cat(out).float().cpu()


def _loss_and_accuracy(model: nn.Module, images: Tensor, labels: Tensor) -> tuple[float, float]:
    logits = predict_logits(model, images)
    loss = F.cross_entropy(logits, labels).item()
    return loss, (logits.argmax(1) == labels).float().mean().item()


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    return _loss_and_accuracy(model, to_tensor(images), torch.tensor(labels, dtype=torch.long))[1]


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents, refusing files that are corrupt or from a newer digitrec."""
    if not path.is_file():
        raise DigitrecError(f"{path}: no checkpoint to resume from")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise DigitrecError(
            f"{path}: not a readable digitrec checkpoint ({describe(exc)})") from None
    if not isinstance(ckpt, dict) or "format" not in ckpt:
        raise DigitrecError(f"{path}: not a digitrec checkpoint")
    if ckpt["format"] > CHECKPOINT_FORMAT:
        raise DigitrecError(
            f"{path}: checkpoint format {ckpt['format']} is newer than this digitrec "
            f"{__version__} understands ({CHECKPOINT_FORMAT}); upgrade digitrec"
        )
    return ckpt


def load_result(ckpt: dict[str, Any]) -> TrainResult:
    """The network, recipe and history saved in a checkpoint from `read_checkpoint`."""
    recipe = Recipe(**ckpt["recipe"])
    model = build_model(recipe.arch, recipe.standardize)
    model.load_state_dict(ckpt["model"])
    return TrainResult(model.eval(), recipe, [EpochStats(**h) for h in ckpt["history"]])


def resume_recipe(ckpt: dict[str, Any], path: Path, overrides: dict[str, Any]) -> Recipe:
    """The checkpoint's recipe; options given explicitly must agree, or results would differ."""
    recipe = Recipe(**ckpt["recipe"])
    for key, value in overrides.items():
        if getattr(recipe, key) != value:
            raise DigitrecError(
                f"{path}: checkpoint was trained with {key}={getattr(recipe, key)!r}, "
                f"cannot resume it with {key}={value!r} (use another --out for a new run)"
            )
    return recipe


def _save_checkpoint(path: Path, recipe: Recipe, epoch: int, model: nn.Module,
                     optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                     history: list[EpochStats]) -> None:
    state = {
        "format": CHECKPOINT_FORMAT,
        "digitrec_version": __version__,
        "recipe": dataclasses.asdict(recipe),
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler else None,
        "history": [dataclasses.asdict(h) for h in history],
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def fit(
    recipe: Recipe,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    out_dir: Path | None = None,
    resume: dict[str, Any] | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochStats, nn.Module], None] | None = None,
    on_step: Callable[[int, nn.Module], None] | None = None,
) -> TrainResult:
    """Train ``recipe`` on ``train``, validating on ``val`` after every epoch.

    With ``out_dir`` a checkpoint is written there after each epoch; ``resume`` is a checkpoint
    from `read_checkpoint` to continue from. ``on_epoch`` sees each epoch's stats and the model;
    ``on_step`` sees the number of optimiser steps taken so far and the model after each step
    (the benchmark uses them to follow test accuracy; training itself never looks at test data).
    """
    from tqdm import tqdm

    device = pick_device()
    torch.manual_seed(recipe.seed)
    model = build_model(recipe.arch, recipe.standardize).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr,
                                  weight_decay=recipe.weight_decay)
    images = train[0]
    if recipe.variants > 0:
        images = with_variants(images, train[1], recipe.variants,
                               np.random.default_rng(recipe.seed))
    x_train = to_tensor(images).to(device)
    y_train = torch.tensor(train[1], dtype=torch.long, device=device)
    x_val, y_val = to_tensor(val[0]), torch.tensor(val[1], dtype=torch.long)
    n = len(y_train)
    steps_per_epoch = -(-n // recipe.batch_size)
    scheduler = None
    if recipe.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
    augment = Augmentation().scaled(recipe.augment_strength) if recipe.augment else None

    history: list[EpochStats] = []
    start = 0
    if resume is not None:
        try:
            model.load_state_dict(resume["model"])
        except RuntimeError as exc:
            raise DigitrecError(
                f"checkpoint does not fit architecture {recipe.arch!r}: {describe(exc)}") from None
        optimizer.load_state_dict(resume["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(resume["scheduler"])
        history = [EpochStats(**h) for h in resume["history"]]
        start = resume["epoch"]

    for epoch in range(start + 1, recipe.epochs + 1):
        torch.manual_seed(_epoch_seed(recipe.seed, epoch))
        model.train()
        began = time.perf_counter()
        order = torch.randperm(n, device=device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        bar = tqdm(total=n, unit="img", desc=f"epoch {epoch}/{recipe.epochs}", leave=False,
                   disable=not progress, dynamic_ncols=True)
        shown = 0.0
        for i in range(0, n, recipe.batch_size):
            idx = order[i : i + recipe.batch_size]
            x, y = x_train[idx], y_train[idx]
            if augment is not None:
                x = augment(x)
            logits = model(x.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            bar.update(len(y))
            if on_step is not None:
                on_step((epoch - 1) * steps_per_epoch + i // recipe.batch_size + 1, model)
                model.train()
            if progress and time.perf_counter() - shown > 0.5:  # .item() syncs a GPU: not always
                shown = time.perf_counter()
                bar.set_postfix(loss=f"{loss.item():.3f}",
                                acc=f"{correct.item() / min(i + len(y), n):.2%}")
        bar.close()
        seconds = time.perf_counter() - began
        val_loss, val_acc = _loss_and_accuracy(model, x_val, y_val)
        stats = EpochStats(epoch=epoch, train_loss=loss_sum.item() / n,
                           train_accuracy=correct.item() / n, val_loss=val_loss,
                           val_accuracy=val_acc, seconds=seconds, images_per_second=n / seconds)
        history.append(stats)
        if out_dir is not None:
            _save_checkpoint(out_dir / CHECKPOINT_NAME, recipe, epoch, model, optimizer,
                             scheduler, history)
        if progress:
            tqdm.write(f"epoch {epoch}/{recipe.epochs}  loss {stats.train_loss:.4f}  "
                       f"acc {stats.train_accuracy:.2%}  val_loss {val_loss:.4f}  "
                       f"val_acc {val_acc:.2%}  {seconds:.1f}s  "
                       f"{stats.images_per_second:,.0f} img/s")
        if on_epoch is not None:
            on_epoch(stats, model)
    model.eval()
    return TrainResult(model=model, recipe=recipe, history=history)
