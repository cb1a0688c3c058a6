"""Training the sequence reader: strings composed from MNIST digits, CTC loss, exact-string
validation, a checkpoint every epoch. Shares the digit loop's state, checkpoints and reports.

The training strings come from MNIST's training split, the validation strings (a fixed set,
the same every epoch) from its validation split; test digits are the benchmark's alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..inference.lines import POOLING
from ..reading.ctc import best_path
from .checkpoint import CHECKPOINT_NAME, restore, save_checkpoint
from .loop import epoch_seed, report
from .recipes import Recipe
from .state import EpochStats, TrainResult, new_state, pick_device
from .strings import Strings, encode

VALIDATION_STRINGS = 1000


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
def evaluate(model: nn.Module, strings: Strings, count: int, batch_size: int = 100,
             epoch: int = 0) -> tuple[float, float]:
    """Mean CTC loss and exact-string accuracy (best path) on ``count`` strings."""
    model.eval()
    device = next(model.parameters()).device
    loss_sum, right = 0.0, 0
    for start in range(0, count, batch_size):
        size = min(batch_size, count - start)
        x, texts, widths = strings.batch(epoch, start, size)
        loss, probs = _ctc(model, x, texts, widths, device)
        loss_sum += loss.item() * size
        right += _exact(probs, texts, widths)
    return loss_sum / count, right / count


def fit_lines(recipe: Recipe, train: tuple[np.ndarray, np.ndarray],
              val: tuple[np.ndarray, np.ndarray], out_dir: Path | None = None,
              resume: dict[str, Any] | None = None, progress: bool = True) -> TrainResult:
    """Train the line reader of ``recipe`` on strings of ``train``'s digits, ``recipe.strings``
    of them an epoch, validating on strings of ``val``'s after every epoch."""
    from tqdm import tqdm

    device = pick_device()
    state = new_state(recipe, recipe.strings, device)
    if resume is not None:
        restore(state, resume)
    supply = Strings(*train, seed=recipe.seed)
    held_out = Strings(*val, seed=recipe.seed + 1)
    for epoch in range(state.epoch + 1, recipe.epochs + 1):
        began = time.perf_counter()
        torch.manual_seed(epoch_seed(recipe.seed, epoch))
        state.model.train()
        loss_sum, right, n = 0.0, 0, recipe.strings
        bar = tqdm(total=n, unit="str", desc=f"epoch {epoch}/{recipe.epochs}", leave=False,
                   disable=not progress, dynamic_ncols=True)
        for start in range(0, n, recipe.batch_size):
            size = min(recipe.batch_size, n - start)
            x, texts, widths = supply.batch(epoch, start, size)
            loss, probs = _ctc(state.model, x, texts, widths, device)
            state.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(state.model.parameters(), 5.0)  # CTC's early spikes
            state.optimizer.step()
            if state.scheduler is not None:
                state.scheduler.step()
            loss_sum += loss.item() * size
            right += _exact(probs, texts, widths)
            bar.update(size)
            bar.set_postfix(loss=f"{loss.item():.3f}", exact=f"{right / (start + size):.1%}")
        bar.close()
        seconds = time.perf_counter() - began
        val_loss, val_exact = evaluate(state.model, held_out, VALIDATION_STRINGS)
        stats = EpochStats(epoch, loss_sum / n, right / n, val_loss, val_exact, seconds,
                           images_per_second=n / seconds)
        state.history.append(stats)
        if out_dir is not None:
            save_checkpoint(out_dir / CHECKPOINT_NAME, state)
        if progress:
            report(stats, recipe.epochs, unit="str")
    state.model.eval()
    return TrainResult(state.model, recipe, state.history)
