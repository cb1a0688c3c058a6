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
from ..corpus import Inks, Lines
from ..errors import DigitrecError, describe
from .networks import build_model
from .recipes import Recipe
from .state import EpochStats, TrainingState, TrainResult

CHECKPOINT_FORMAT = 1
CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.onnx"  # what a run exports beside its checkpoint


def save_checkpoint(path: Path, state: TrainingState) -> None:
    """Write the state after an epoch. A fresh run's first checkpoint replaces an earlier run's
    (`train --overwrite` keeps that one until then), so that run's model goes with it."""
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
        try:
            torch.save(content, tmp)
        except RuntimeError as exc:  # torch reports a full disk as its own error
            raise DigitrecError(f"{path}: cannot write the checkpoint ({describe(exc)})",
                                "write_failed") from None
        if state.epoch == 1:  # written whole: the earlier run's model goes just before it
            (path.parent / MODEL_NAME).unlink(missing_ok=True)


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
    if not isinstance(ckpt["format"], int):
        raise DigitrecError(f"{path}: checkpoint's 'format' is not a number")
    if ckpt["format"] > CHECKPOINT_FORMAT:
        raise DigitrecError(
            f"{path}: checkpoint format {ckpt['format']} is newer than this digitrec "
            f"{__version__} understands ({CHECKPOINT_FORMAT}); upgrade digitrec"
        )
    for key, kind in _PARTS.items():
        if not isinstance(ckpt.get(key), kind):
            raise DigitrecError(f"{path}: checkpoint's {key!r} is missing or not a "
                                f"{kind.__name__} (was the file edited?)")
    checked_recipe(ckpt["recipe"], path)
    try:
        [EpochStats(**h) for h in ckpt["history"]]
    except TypeError:
        raise DigitrecError(f"{path}: checkpoint's 'history' is not a list of epochs") from None
    return ckpt


# What a checkpoint holds besides its format, by type.
_PARTS = {"recipe": dict, "epoch": int, "model": dict, "optimizer": dict, "history": list}


def checked_recipe(values: dict[str, Any], path: Path) -> Recipe:
    """A checkpoint's recipe, each value of its field's type: a hand-edited one fails here in
    one line, not in the middle of training."""
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise DigitrecError(f"{path}: checkpoint's recipe has keys this digitrec does not "
                            f"know: {', '.join(unknown)}")
    for name, value in values.items():
        default = fields[name].default
        if default is None or default is dataclasses.MISSING:
            continue
        kind = type(default)
        fits = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        if not fits and not (kind is float and type(value) is int):
            raise DigitrecError(f"{path}: checkpoint's recipe {name}={value!r} is not a "
                                f"{kind.__name__}")
    try:
        return Recipe(**values)
    except TypeError as exc:
        raise DigitrecError(f"{path}: checkpoint's recipe does not fit this digitrec "
                            f"({describe(exc)})") from None


def restore(state: TrainingState, ckpt: dict[str, Any]) -> None:
    """Put a checkpoint's weights, optimiser, schedule and history into a fresh ``state``."""
    try:
        state.model.load_state_dict(ckpt["model"])
    except RuntimeError as exc:
        raise DigitrecError(f"checkpoint does not fit architecture {state.recipe.arch!r}: "
                            f"{describe(exc)}") from None
    try:
        state.optimizer.load_state_dict(ckpt["optimizer"])
        if state.scheduler is not None:
            state.scheduler.load_state_dict(ckpt["scheduler"])
    except (ValueError, KeyError, TypeError, AttributeError, RuntimeError) as exc:
        raise DigitrecError(f"checkpoint's optimiser or schedule does not fit its recipe: "
                            f"{describe(exc)}") from None
    state.history = [EpochStats(**h) for h in ckpt["history"]]


def load_result(ckpt: dict[str, Any]) -> TrainResult:
    """The network, recipe and history saved in a checkpoint from `read_checkpoint`."""
    recipe = Recipe(**ckpt["recipe"])
    model = build_model(recipe.arch, recipe.standardize, recipe.outputs)
    model.load_state_dict(ckpt["model"])
    return TrainResult(model.eval(), recipe, [EpochStats(**h) for h in ckpt["history"]])


def resume_recipe(ckpt: dict[str, Any], path: Path, overrides: dict[str, Any]) -> Recipe:
    """The checkpoint's recipe; options given explicitly must agree, or results would differ."""
    recipe = checked_recipe(ckpt["recipe"], path)
    for key, value in overrides.items():
        if getattr(recipe, key) != value:
            raise DigitrecError(
                f"{path}: checkpoint was trained with {key}={getattr(recipe, key)!r}, "
                f"cannot resume it with {key}={value!r} (use another --out for a new run)"
            )
    return recipe


def check_real(recipe: Recipe, real: Lines | Inks | None) -> None:
    """Refuse a run whose real data is not what its recipe names by hash (a resumed run must
    be given the same --real)."""
    given = real.provenance["sha256"] if real is not None else ""
    if given != recipe.real:
        raise DigitrecError(f"the run's real data ({given[:12] or 'none'}) is not what its "
                            f"recipe names ({recipe.real[:12] or 'none'}): resume with the "
                            "same --real", "bad_parameter")
