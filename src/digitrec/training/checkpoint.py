"""Checkpoints: a run's whole state after an epoch, written atomically, read back safely.

A checkpoint describes itself (format, digitrec version, recipe, epoch, history), so a run can
be resumed, or its network loaded, without guessing. Files are loaded with ``weights_only``:
a checkpoint that would run code is refused.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..atomic import atomic_path
from ..errors import DigitrecError, describe
from .networks import build_model
from .recipes import Recipe
from .state import EpochStats, TrainingState, TrainResult

CHECKPOINT_FORMAT = 1
CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path: Path, state: TrainingState) -> None:
    content = {
        "format": CHECKPOINT_FORMAT,
        "digitrec_version": __version__,
        "recipe": dataclasses.asdict(state.recipe),
        "epoch": state.epoch,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler else None,
        "history": [dataclasses.asdict(h) for h in state.history],
    }
    with atomic_path(path) as tmp:
        torch.save(content, tmp)


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


def restore(state: TrainingState, ckpt: dict[str, Any]) -> None:
    """Put a checkpoint's weights, optimiser, schedule and history into a fresh ``state``."""
    try:
        state.model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise DigitrecError(f"checkpoint does not fit architecture {state.recipe.arch!r}: "
                            f"{describe(exc)}") from None
    state.optimizer.load_state_dict(ckpt["optimizer"])
    if state.scheduler is not None:
        state.scheduler.load_state_dict(ckpt["scheduler"])
    state.history = [EpochStats(**h) for h in ckpt["history"]]


def load_result(ckpt: dict[str, Any]) -> TrainResult:
    """The network, recipe and history saved in a checkpoint from `read_checkpoint`."""
    recipe = Recipe(**ckpt["recipe"])
    model = build_model(recipe.arch, recipe.standardize, recipe.outputs)
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
