"""Training the handwriting locator: composed scenes (`scenes`), a per-pixel loss weighted
toward ink, pixel F1 of the handwriting as the validation figure, a checkpoint every epoch.
Shares the digit loop's state, checkpoints and reports.

The training scenes are written with MNIST's training digits, the validation scenes (a fixed
set) with its validation digits; scenes of test digits are for the test and the benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..corpus import Inks
from .checkpoint import check_real, restore
from .composed import batches, default_workers, leaving_cores
from .distributed import Group
from .loop import run_epochs
from .recipes import Recipe
from .scenes import Scenes
from .state import TrainingState, TrainResult, new_state, pick_device

VALIDATION_SCENES = 400
# Pixels of paper weigh this much against pixels that hold ink of any kind: telling ink apart
# is the task; empty paper is mostly taken out by the threshold that follows.
PAPER_WEIGHT = 0.2
INK = 0.15  # an ink map's value from which a pixel counts as ink of some kind
GOOD = 0.9  # a scene's pixel F1 from which it counts as located right


def _loss(logits: Tensor, images: Tensor, targets: Tensor) -> Tensor:
    weight = torch.where((images > INK) | (targets > 0), 1.0, PAPER_WEIGHT)
    return F.binary_cross_entropy_with_logits(logits, targets, weight)


def f1_counts(found: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    """(true positives, found, true) pixels of boolean maps: F1 = 2 tp / (found + true)."""
    return int((found & truth).sum()), int(found.sum()), int(truth.sum())


def f1(tp: int, found: int, true: int) -> float:
    """Pixel F1; 1 where nothing was there and nothing was found."""
    return 1.0 if found + true == 0 else 2 * tp / (found + true)


def _good(logits: Tensor, targets: Tensor) -> int:
    """Scenes whose handwriting was found with a pixel F1 of at least GOOD."""
    found, truth = (logits > 0).cpu().numpy(), targets.cpu().numpy() > 0
    return sum(f1(*f1_counts(found[k], truth[k])) >= GOOD for k in range(len(found)))


def fixed_scenes(digits: tuple[np.ndarray, np.ndarray], seed: int, count: int,
                 workers: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` scenes written with ``digits`` (images, labels), composed once in batches of
    50: a validation or test set, the same every time it is made."""
    return [b for b, _ in batches(Scenes(*digits, seed=seed), 0, count, 50, workers)]


@torch.no_grad()
def evaluate(model: nn.Module, held_out: list[tuple[np.ndarray, np.ndarray]]
             ) -> tuple[float, float]:
    """Mean loss and pixel F1 of the handwriting, over all of ``held_out``'s pixels."""
    model.eval()
    device = next(model.parameters()).device
    loss_sum, count, totals = 0.0, 0, np.zeros(3)
    for images, targets in held_out:
        x, y = torch.from_numpy(images).to(device), torch.from_numpy(targets).to(device)
        logits = model(x)
        loss_sum += _loss(logits, x, y).item() * len(x)
        count += len(x)
        totals += f1_counts((logits > 0).cpu().numpy(), targets > 0)
    return loss_sum / count, f1(*totals.astype(int))


class LocateTask:
    """The locator's task: ``count`` scenes of ``supply``'s an epoch, composed in ``workers``
    processes ahead of the step; scenes located with F1 >= GOOD as the accuracy."""

    unit, clip = "scene", None

    def __init__(self, supply: Scenes, count: int, workers: int,
                 held_out: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.supply, self.size, self.workers, self.held_out = supply, count, workers, held_out

    def batches(self, state: TrainingState, epoch: int) -> Iterator[tuple[Any, int]]:
        return iter(batches(self.supply, epoch, self.size, state.recipe.batch_size,
                            self.workers, state.group))

    def loss(self, state: TrainingState, batch: Any) -> tuple[Tensor, Tensor | int, int]:
        images, targets = batch
        device = next(state.model.parameters()).device
        x, y = torch.from_numpy(images).to(device), torch.from_numpy(targets).to(device)
        logits = state.forward(x.contiguous(memory_format=torch.channels_last))
        return _loss(logits, x, y), _good(logits.detach(), y), len(x)

    def validate(self, model: nn.Module) -> tuple[float, float]:
        return evaluate(model, self.held_out)


def fit_locator(recipe: Recipe, train: tuple[np.ndarray, np.ndarray],
                val: tuple[np.ndarray, np.ndarray], out_dir: Path | None = None,
                resume: dict[str, Any] | None = None, progress: bool = True,
                workers: int | None = None, group: Group | None = None,
                validation: int = VALIDATION_SCENES, real: Inks | None = None) -> TrainResult:
    """Train the locator of ``recipe`` on scenes written with ``train``'s digits,
    ``recipe.strings`` of them an epoch (a share cut from the ``real`` images, which must be
    those whose hash ``recipe.real`` names), validating on ``validation`` scenes of ``val``'s
    after every epoch; ``workers`` processes compose them (default: `default_workers`)."""
    check_real(recipe, real)
    device = pick_device()
    state = new_state(recipe, recipe.strings, device, group)
    if resume is not None:
        restore(state, resume)
    workers = default_workers(device) if workers is None else workers
    with leaving_cores(device, workers):
        held_out = fixed_scenes(val, recipe.seed + 1, validation, workers)
        supply = Scenes(*train, seed=recipe.seed,
                        real=None if real is None else (real.maps, real.masks))
        task = LocateTask(supply, recipe.strings, workers, held_out)
        return run_epochs(state, task, out_dir, progress)
