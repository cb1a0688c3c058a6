"""The training loop, one for every network: a recipe and a task (what the network learns
from, and its loss) in, a trained network and its history out, a checkpoint every epoch. The
digit classifiers' task is here; the sequence readers' is in `lines`.

Every source of randomness (shuffling, augmentation, dropout) is reseeded from (seed, epoch) at the
start of each epoch, so a run resumed from a checkpoint continues exactly as if never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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


class Task(Protocol):
    """What one kind of network learns from, and how: the one loop (`run_epochs`) does the
    rest. ``size`` items an epoch (the whole group's), counted in ``unit``; ``clip`` bounds the
    gradient's norm where the loss spikes."""

    size: int
    unit: str
    clip: float | None

    def batches(self, state: TrainingState, epoch: int) -> Iterator[tuple[Any, int]]:
        """The epoch's batches in order, each this process's share and the whole batch's
        size; drawn from the torch generator the loop seeds for the epoch."""
        ...

    def loss(self, state: TrainingState, batch: Any) -> tuple[Tensor, Tensor | int, int]:
        """A share's mean loss, the items it got right, and how many it has."""
        ...

    def validate(self, model: nn.Module) -> tuple[float, float]:
        """Validation loss and accuracy after an epoch."""
        ...


class Digits:
    """A digit classifier's task: the training images in a seeded order, each batch distorted
    as a whole (the same distortions in every process, which then take their shares), cross
    entropy with the recipe's label smoothing."""

    unit, clip = "img", None

    def __init__(self, data: EpochData, val: tuple[np.ndarray, np.ndarray]) -> None:
        self.data, self.size = data, len(data.labels)
        self.x_val, self.y_val = to_tensor(val[0]), torch.tensor(val[1], dtype=torch.long)

    def batches(self, state: TrainingState, epoch: int) -> Iterator[tuple[Any, int]]:
        data, size, group = self.data, state.recipe.batch_size, state.group
        order = torch.randperm(self.size, device=data.labels.device)
        for i in range(0, self.size, size):
            idx = order[i : i + size]
            x, y = data.images[idx], data.labels[idx]
            if data.augment is not None:
                x = data.augment(x)
            if group is not None:
                share = group.share(len(idx))
                x, y = x[share], y[share]
            yield (x, y), len(idx)

    def loss(self, state: TrainingState, batch: Any) -> tuple[Tensor, Tensor | int, int]:
        x, y = batch
        logits = state.forward(x.contiguous(memory_format=torch.channels_last))
        loss = F.cross_entropy(logits, y, label_smoothing=state.recipe.label_smoothing)
        return loss, (logits.argmax(1) == y).sum(), len(y)

    def validate(self, model: nn.Module) -> tuple[float, float]:
        return loss_and_accuracy(model, self.x_val, self.y_val)


def train_epoch(state: TrainingState, task: Task, epoch: int, progress: bool = True,
                on_step: StepHook | None = None) -> tuple[float, float]:
    """One pass over ``task``'s batches of ``epoch``: (mean loss, accuracy). In a process
    group each process steps on its share of every batch; the figures are the whole group's.
    The running figures are read back (a GPU sync) twice a second, not every step."""
    from tqdm import tqdm

    recipe, model, group = state.recipe, state.model, state.group
    torch.manual_seed(epoch_seed(recipe.seed, epoch))
    model.train()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    right = torch.zeros((), device=device, dtype=torch.long)
    bar = tqdm(total=task.size, unit=task.unit, desc=f"epoch {epoch}/{recipe.epochs}",
               leave=False, disable=not progress, dynamic_ncols=True)
    shown, done = 0.0, 0
    for k, (batch, whole) in enumerate(task.batches(state, epoch)):
        loss, correct, count = task.loss(state, batch)
        state.optimizer.zero_grad(set_to_none=True)
        (loss * share_weight(group, count, whole)).backward()
        if task.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), task.clip)
        state.optimizer.step()
        if state.scheduler is not None:
            state.scheduler.step()
        loss_sum += loss.detach() * count
        right += correct
        done += whole
        bar.update(whole)
        if on_step is not None:
            on_step((epoch - 1) * state.steps_per_epoch + k + 1, model)
            model.train()
        if progress and time.perf_counter() - shown > 0.5:
            shown = time.perf_counter()
            seen = done // (group.size if group else 1)
            bar.set_postfix(loss=f"{loss.item():.3f}",
                            acc=f"{right.item() / max(1, seen):.2%}")
    bar.close()
    totals = [loss_sum.item(), float(right.item())]
    if group is not None:
        totals = summed(totals, device)
    return totals[0] / task.size, totals[1] / task.size


def report(stats: EpochStats, epochs: int, unit: str = "img") -> None:
    """One line per epoch, under the progress bar."""
    from tqdm import tqdm

    tqdm.write(f"epoch {stats.epoch}/{epochs}  loss {stats.train_loss:.4f}  "
               f"acc {stats.train_accuracy:.2%}  val_loss {stats.val_loss:.4f}  "
               f"val_acc {stats.val_accuracy:.2%}  {stats.seconds:.1f}s  "
               f"{stats.images_per_second:,.0f} {unit}/s")


def run_epochs(state: TrainingState, task: Task, out_dir: Path | None = None,
               progress: bool = True,
               on_epoch: Callable[[EpochStats, nn.Module], None] | None = None,
               on_step: StepHook | None = None) -> TrainResult:
    """The one training loop, for every network: the epochs ``state`` has still to run, each
    trained, validated, checkpointed into ``out_dir`` (by the leader) and reported."""
    recipe = state.recipe
    progress = progress and state.leader
    for epoch in range(state.epoch + 1, recipe.epochs + 1):
        began = time.perf_counter()
        train_loss, train_accuracy = train_epoch(state, task, epoch, progress, on_step)
        seconds = time.perf_counter() - began
        val_loss, val_accuracy = task.validate(state.model)
        stats = EpochStats(epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds,
                           images_per_second=task.size / seconds)
        state.history.append(stats)
        if out_dir is not None and state.leader:
            save_checkpoint(out_dir / CHECKPOINT_NAME, state)
        if progress:
            report(stats, recipe.epochs, task.unit)
        if on_epoch is not None:
            on_epoch(stats, state.model)
    state.model.eval()
    return TrainResult(model=state.model, recipe=recipe, history=state.history)


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
    """Train the digit network of ``recipe`` on ``train``, validating on ``val`` after every
    epoch.

    With ``out_dir`` a checkpoint is written there after each epoch; ``resume`` is a checkpoint
    from `read_checkpoint` to continue from. ``on_epoch`` sees each epoch's stats and the model;
    ``on_step`` sees the number of optimiser steps taken so far and the model after each step
    (the benchmark uses them to follow test accuracy; training itself never looks at test data).
    In ``group`` (torchrun's processes) this is one process's part of a distributed run.
    """
    device = pick_device()
    state = new_state(recipe, len(train[1]), device, group)
    task = Digits(prepare_data(recipe, train, device), val)
    if resume is not None:
        restore(state, resume)
    return run_epochs(state, task, out_dir, progress, on_epoch, on_step)
