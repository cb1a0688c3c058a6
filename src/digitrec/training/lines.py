"""Training the sequence reader: strings composed from MNIST digits, CTC loss, exact-string
validation, a checkpoint every epoch. Shares the digit loop's state, checkpoints and reports.

The training strings come from MNIST's training split (and, given real lines, a share are
those), the validation strings (a fixed set, the same every epoch) from its validation split;
test digits are the benchmark's alone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..corpus import Lines
from ..inference.lines import POOLING
from ..reading.ctc import best_path
from .checkpoint import check_real, restore
from .composed import batches, default_workers, leaving_cores
from .distributed import Group
from .loop import run_epochs, with_recipe_variants
from .recipes import Recipe
from .state import TrainingState, TrainResult, new_state, pick_device
from .strings import SUMS, Strings, encode

VALIDATION_STRINGS = 1000


def fixed_strings(digits: tuple[np.ndarray, np.ndarray], seed: int, count: int,
                  workers: int = 0, sums: float = 0.0
                  ) -> list[tuple[np.ndarray, list[str], np.ndarray]]:
    """``count`` strings of ``digits`` (images, labels) composed once, in batches of 100, a
    share ``sums`` of them sums: a validation or test set, the same every time it is made."""
    return [b for b, _ in batches(Strings(*digits, seed=seed, sums=sums), 0, count, 100,
                                  workers)]


def sums_share(recipe: Recipe) -> float:
    """The share of a recipe's strings that are sums: none unless it learns the operators."""
    return SUMS if recipe.symbols else 0.0


def _ctc(model: nn.Module, x: np.ndarray, texts: list[str], widths: np.ndarray,
         device: torch.device) -> tuple[Tensor, Tensor]:
    """CTC loss of a batch, and the per-column probabilities (N, columns, classes)."""
    logits = model(torch.from_numpy(x).to(device))
    log_probs = logits.log_softmax(2)
    targets = torch.tensor([c for t in texts for c in encode(t)], dtype=torch.long)
    target_lengths = torch.tensor([len(t) for t in texts], dtype=torch.long)
    input_lengths = torch.tensor(np.maximum(1, widths // POOLING), dtype=torch.long)
    loss = F.ctc_loss(log_probs.transpose(0, 1), targets, input_lengths, target_lengths,
                      zero_infinity=True)
    return loss, log_probs.detach().exp()


def _exact(probs: Tensor, texts: list[str], widths: np.ndarray) -> int:
    columns = np.maximum(1, widths // POOLING)
    table = probs.cpu().numpy()
    return sum(best_path(table[k, : columns[k]])[0] == text
               for k, text in enumerate(texts))


@torch.no_grad()
def evaluate(model: nn.Module, held_out: list[tuple[np.ndarray, list[str], np.ndarray]]
             ) -> tuple[float, float]:
    """Mean CTC loss and exact-string accuracy (best path) on batches of strings."""
    model.eval()
    device = next(model.parameters()).device
    loss_sum, right, count = 0.0, 0, 0
    for x, texts, widths in held_out:
        loss, probs = _ctc(model, x, texts, widths, device)
        loss_sum += loss.item() * len(texts)
        right += _exact(probs, texts, widths)
        count += len(texts)
    return loss_sum / count, right / count


class LineTask:
    """A sequence reader's task: ``strings`` of ``supply``'s an epoch, composed in ``workers``
    processes ahead of the step, CTC loss (the gradient clipped: CTC's early spikes), exact
    strings as the accuracy, validated on ``held_out``."""

    unit, clip = "str", 5.0

    def __init__(self, supply: Strings, strings: int, workers: int,
                 held_out: list[tuple[np.ndarray, list[str], np.ndarray]]) -> None:
        self.supply, self.size, self.workers, self.held_out = supply, strings, workers, held_out

    def batches(self, state: TrainingState, epoch: int) -> Iterator[tuple[Any, int]]:
        return iter(batches(self.supply, epoch, self.size, state.recipe.batch_size,
                            self.workers, state.group))

    def loss(self, state: TrainingState, batch: Any) -> tuple[Tensor, Tensor | int, int]:
        x, texts, widths = batch
        device = next(state.model.parameters()).device
        loss, probs = _ctc(state.forward, x, texts, widths, device)
        return loss, _exact(probs, texts, widths), len(texts)

    def validate(self, model: nn.Module) -> tuple[float, float]:
        return evaluate(model, self.held_out)


def fit_lines(recipe: Recipe, train: tuple[np.ndarray, np.ndarray],
              val: tuple[np.ndarray, np.ndarray], out_dir: Path | None = None,
              resume: dict[str, Any] | None = None, progress: bool = True,
              workers: int | None = None, group: Group | None = None,
              real: Lines | None = None, validation: int = VALIDATION_STRINGS,
              writers: np.ndarray | None = None) -> TrainResult:
    """Train the line reader of ``recipe`` on strings of ``train``'s digits, ``recipe.strings``
    of them an epoch (a share of them the ``real`` lines, which must be those whose hash
    ``recipe.real`` names; a share written by one writer where ``writers`` names each training
    digit's), validating on ``validation`` strings of ``val``'s after every
    epoch; ``workers`` processes compose the strings (default: `default_workers`). In
    ``group`` (torchrun's processes) each composes and steps on its share of every batch, as
    the digit loop does."""
    check_real(recipe, real)
    device = pick_device()
    state = new_state(recipe, recipe.strings, device, group)
    if resume is not None:
        restore(state, resume)
    sums = sums_share(recipe)
    supply = Strings(with_recipe_variants(recipe, train), train[1], seed=recipe.seed, sums=sums,
                     real=None if real is None else (real.images, real.texts),
                     writers=writers)
    workers = default_workers(device) if workers is None else workers
    with leaving_cores(device, workers):
        if progress and workers and state.leader:
            step = f", the step on {torch.get_num_threads()}" if device.type == "cpu" else ""
            print(f"composing strings in {workers} worker process{'es' * (workers > 1)}{step}",
                  file=sys.stderr)
        held_out = fixed_strings(val, recipe.seed + 1, validation, workers, sums)
        task = LineTask(supply, recipe.strings, workers, held_out)
        return run_epochs(state, task, out_dir, progress)
