"""The training loop: a recipe in, a trained network and its history out, a checkpoint every epoch.

Every source of randomness (shuffling, augmentation, dropout) is reseeded from (seed, epoch) at the
start of each epoch, so a run resumed from a checkpoint continues exactly as if never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..glyphs import with_variants
from .augment import Augmentation
from .checkpoint import CHECKPOINT_NAME, restore, save_checkpoint
from .distributed import Group, share_weight, summed
from .recipes import Recipe
from .state import EpochStats, TrainingState, TrainResult, new_state, pick_device
from .validation import loss_and_accuracy, to_tensor

StepHook = Callable[[int, nn.Module], None]


@dataclass
class EpochData:
    """One epoch's inputs: the training tensors on the device, and the distortions to apply."""

    images: Tensor
    labels: Tensor
    augment: Augmentation | None


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def with_recipe_variants(recipe: Recipe, train: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The training digits with European 1s and crossed 7s drawn into ``recipe.variants`` of
    the 1s and 7s (seeded by the recipe): for digit models and the sequence reader's strings."""
    if recipe.variants <= 0:
        return train[0]
    return with_variants(train[0], train[1], recipe.variants, np.random.default_rng(recipe.seed))


def prepare_data(recipe: Recipe, train: tuple[np.ndarray, np.ndarray],
                 device: torch.device) -> EpochData:
    """The training images as the recipe wants them (`with_recipe_variants`), as tensors on
    ``device``."""
    images = with_recipe_variants(recipe, train)
    augment = Augmentation().scaled(recipe.augment_strength) if recipe.augment else None
    return EpochData(to_tensor(images).to(device),
                     torch.tensor(train[1], dtype=torch.long, device=device), augment)


def train_epoch(state: TrainingState, data: EpochData, epoch: int, progress: bool = True,
                on_step: StepHook | None = None) -> tuple[float, float]:
    """One pass over ``data`` in the epoch's seeded order: (mean loss, accuracy). In a process
    group, every process draws the same order and distortions and steps on its share of each
    batch; the loss and accuracy are the whole group's."""
    from tqdm import tqdm

    recipe, model, n, group = state.recipe, state.model, len(data.labels), state.group
    torch.manual_seed(epoch_seed(recipe.seed, epoch))
    model.train()
    order = torch.randperm(n, device=data.labels.device)
    loss_sum = torch.zeros((), device=data.labels.device)
    correct = torch.zeros((), device=data.labels.device, dtype=torch.long)
    bar = tqdm(total=n, unit="img", desc=f"epoch {epoch}/{recipe.epochs}", leave=False,
               disable=not progress, dynamic_ncols=True)
    shown = 0.0
    for i in range(0, n, recipe.batch_size):
        idx = order[i : i + recipe.batch_size]
        x, y = data.images[idx], data.labels[idx]
        if data.augment is not None:
            x = data.augment(x)  # the whole batch, in every process: the same distortions
        if group is not None:
            share = group.share(len(idx))
            x, y = x[share], y[share]
        logits = state.forward(x.contiguous(memory_format=torch.channels_last))
        loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
        state.optimizer.zero_grad(set_to_none=True)
        (loss * share_weight(group, len(y), len(idx))).backward()
        state.optimizer.step()
        if state.scheduler is not None:
            state.scheduler.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        bar.update(len(idx))
        if on_step is not None:
            on_step((epoch - 1) * state.steps_per_epoch + i // recipe.batch_size + 1, model)
            model.train()
        if progress and time.perf_counter() - shown > 0.5:  # .item() syncs a GPU: not always
            shown = time.perf_counter()
            seen = min(i + len(idx), n) // (group.size if group else 1)
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{correct.item() / max(1, seen):.2%}")
    bar.close()
    totals = [loss_sum.item(), float(correct.item())]
    if group is not None:
        totals = summed(totals, data.labels.device)
    return totals[0] / n, totals[1] / n


def report(stats: EpochStats, epochs: int, unit: str = "img") -> None:
    """One line per epoch, under the progress bar."""
    from tqdm import tqdm

    tqdm.write(f"epoch {stats.epoch}/{epochs}  loss {stats.train_loss:.4f}  "
               f"acc {stats.train_accuracy:.2%}  val_loss {stats.val_loss:.4f}  "
               f"val_acc {stats.val_accuracy:.2%}  {stats.seconds:.1f}s  "
               f"{stats.images_per_second:,.0f} {unit}/s")


def fit(
    recipe: Recipe,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    out_dir: Path | None = None,
    resume: dict[str, Any] | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochStats, nn.Module], None] | None = None,
    on_step: StepHook | None = None,
    group: Group | None = None,
) -> TrainResult:
    """Train ``recipe`` on ``train``, validating on ``val`` after every epoch.

    With ``out_dir`` a checkpoint is written there after each epoch; ``resume`` is a checkpoint
    from `read_checkpoint` to continue from. ``on_epoch`` sees each epoch's stats and the model;
    ``on_step`` sees the number of optimiser steps taken so far and the model after each step
    (the benchmark uses them to follow test accuracy; training itself never looks at test data).
    In ``group`` (torchrun's processes) this is one process's part of a distributed run.
    """
    device = pick_device()
    state = new_state(recipe, len(train[1]), device, group)
    data = prepare_data(recipe, train, device)
    x_val, y_val = to_tensor(val[0]), torch.tensor(val[1], dtype=torch.long)
    if resume is not None:
        restore(state, resume)
    for epoch in range(state.epoch + 1, recipe.epochs + 1):
        began = time.perf_counter()
        train_loss, train_accuracy = train_epoch(state, data, epoch,
                                                 progress and state.leader, on_step)
        seconds = time.perf_counter() - began
        val_loss, val_accuracy = loss_and_accuracy(state.model, x_val, y_val)
        stats = EpochStats(epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds,
                           images_per_second=len(train[1]) / seconds)
        state.history.append(stats)
        if out_dir is not None and state.leader:
            save_checkpoint(out_dir / CHECKPOINT_NAME, state)
        if progress and state.leader:
            report(stats, recipe.epochs)
        if on_epoch is not None:
            on_epoch(stats, state.model)
    state.model.eval()
    return TrainResult(model=state.model, recipe=recipe, history=state.history)
