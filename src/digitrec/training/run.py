"""A whole training run as `digitrec train` does it: plan the run folders (fresh, resumed, an
ensemble's members), train with a checkpoint per epoch, test once, export the ONNX model.

The command line and the accuracy benchmark both call it, so the benchmark times exactly what a
user runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..contract import DIGITS, LINE_PREPROCESSING, LOCATOR_PREPROCESSING, ModelCard
from ..corpus import Inks, Lines
from ..data import MNIST, SHA256
from ..errors import DigitrecError
from ..export.calibrate import calibrate_file
from ..export.subspace import DigitSubspace
from ..export.to_onnx import export_line_reader, export_locator, export_onnx
from ..writers import Writers
from .checkpoint import CHECKPOINT_NAME, MODEL_NAME, read_checkpoint, resume_recipe
from .composed import default_workers
from .distributed import Group
from .learned import learned_from
from .lines import evaluate, fit_lines, fixed_strings, sums_share
from .locate import VALIDATION_SCENES, fit_locator, fixed_scenes
from .locate import evaluate as evaluate_locator
from .loop import fit
from .networks import Ensemble, check_arch, count_parameters
from .recipes import Recipe
from .state import TrainResult, pick_device
from .symbols import HELD_OUT, PER_SYMBOL, mixed, with_symbols
from .validation import accuracy

TEST_STRINGS = 1000  # strings of MNIST test digits a trained reader is tested on
TEST_SCENES = 1000  # scenes written with MNIST test digits a trained locator is tested on
# Validation digits preprocessed to set the subspace's first flag threshold (a digit model's
# calibration then sets it on realistic digits): fewer for a quick check (--subset).
FLAG, QUICK_FLAG = 2000, 200


@dataclass
class Trained:
    result: TrainResult
    test_accuracy: float
    validation_accuracy: float
    path: Path  # the exported ONNX model


@dataclass(frozen=True)
class Member:
    """One network to train: its folder, its recipe, and the checkpoint it resumes from."""

    folder: Path
    recipe: Recipe
    checkpoint: dict[str, Any] | None = None


def plan_members(recipe: Recipe, out: Path, *, ensemble: int = 1, resume: bool = False,
                 overwrite: bool = False, overrides: dict[str, Any] | None = None) -> list[Member]:
    """The networks a run trains. Member k of an ensemble is the same recipe with seed + k, in
    ``out/member-K``. With ``resume`` the recipe is the checkpoint's (``overrides`` must agree
    with it); without, a folder holding an earlier run is refused unless ``overwrite``."""
    if ensemble < 1:
        raise DigitrecError("--ensemble must be at least 1")
    if ensemble > 1 and recipe.task != "digits":
        raise DigitrecError(f"--ensemble averages digit models' probabilities; a {recipe.arch} "
                            "trains alone", "bad_parameter")
    dirs = [out] if ensemble == 1 else [out / f"member-{k + 1}" for k in range(ensemble)]
    paths = [d / CHECKPOINT_NAME for d in dirs]
    if resume:
        recipe = resume_recipe(read_checkpoint(paths[0]), paths[0], overrides or {})
    else:
        for path in paths:  # with overwrite, the earlier run stays until the first epoch
            if path.exists() and not overwrite:
                raise DigitrecError(f"{path} holds an earlier run: continue it with --resume, "
                                    f"or start afresh with --overwrite or another --out")
    check_arch(recipe.arch)  # before any data is loaded, so a typo fails at once
    members = []
    for k, (folder, path) in enumerate(zip(dirs, paths, strict=True)):
        member = dataclasses.replace(recipe, seed=recipe.seed + k)
        ckpt = None
        if resume and path.exists():
            ckpt = read_checkpoint(path)
            resume_recipe(ckpt, path, dataclasses.asdict(member))
        members.append(Member(folder, member, ckpt))
    return members


def model_card(result: TrainResult, test_accuracy: float | None) -> ModelCard:
    """What a trained network's model file says about itself."""
    last = result.history[-1] if result.history else None
    return ModelCard(
        architecture=result.recipe.arch,
        classes=result.recipe.classes,
        parameters=count_parameters(result.model),
        validation_accuracy=last.val_accuracy if last else None,
        test_accuracy=test_accuracy,
        recipe=dataclasses.asdict(result.recipe),
        data_sha256=SHA256,
        history=[dataclasses.asdict(h) for h in result.history],
        digitrec_version=__version__,
        torch_version=torch.__version__,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )


def train_and_export(
    member: Member,
    mnist: MNIST,
    *,
    subset: int | None = None,
    subspace: DigitSubspace | None = None,
    progress: bool = True,
    on_step: Callable[[int, nn.Module], None] | None = None,
    group: Group | None = None,
    real: Lines | Inks | None = None,
    writers: Writers | None = None,
) -> Trained | None:
    """Train ``member`` with a checkpoint per epoch in its folder, test the final weights once,
    and write ``model.onnx`` there. ``subset`` trains on the first N training images only. In
    ``group`` (torchrun's processes) every process trains and the leader alone tests and
    exports: the others return None. ``real`` lines (a sequence reader's) or images (the
    locator's) are mixed into its strings or scenes and recorded in its card; ``writers``'
    characters join MNIST's training digits (a digit network's, or those a sequence reader's
    strings are written with), less a share of their writers held out to measure, and are
    recorded too."""
    train, val = mnist.split()
    if subset:
        train = (train[0][:subset], train[1][:subset])
    held: tuple[np.ndarray, np.ndarray] | None = None
    learned: dict[str, Any] | None = None  # the writers' part of the model's card
    hands: np.ndarray | None = None  # who wrote each training digit, where known
    kept: np.ndarray | None = None  # the other writers' trained on, by id
    alone = len(train[1])
    if writers is not None:
        # A sequence reader's strings are written with digits alone (operators are drawn).
        classes = member.recipe.classes if member.recipe.task == "digits" else DIGITS
        train, held, kept = _with_writers(train, writers, classes)
        learned = {"sources": writers.sources, "train": len(kept), "held_out": len(held[1])}
        if writers.mnist is not None:
            writers.mnist.check(mnist.train_labels, mnist.test_labels)
            ids = writers.mnist.train[mnist.split_indices()[0][:alone]]
            hands = np.concatenate([np.char.add("mnist:", ids), kept])
            learned["mnist_writers"] = writers.mnist.source
    if subset and member.recipe.task != "digits":
        # A quick check: as many strings (scenes) an epoch, and to test on, as --subset.
        member = dataclasses.replace(
            member, recipe=dataclasses.replace(member.recipe, strings=subset))
    recipe = member.recipe
    count = (min(PER_SYMBOL, subset // 10) if subset else PER_SYMBOL) if recipe.symbols else 0
    data = learned_from(recipe, alone, writers=writers, kept=kept,
                        operators=count * len(recipe.symbols) if recipe.task == "digits" else 0,
                        real=real.provenance if real is not None else None)
    if recipe.task == "read":
        assert real is None or isinstance(real, Lines)
        return _train_and_export_reader(member, mnist, train, val, progress, group, real,
                                        min(TEST_STRINGS, subset or TEST_STRINGS),
                                        (learned, data), hands)
    if recipe.task == "locate":
        assert real is None or isinstance(real, Inks)
        return _train_and_export_locator(member, mnist, train, val, progress, group, subset,
                                         real, data)
    test = (mnist.test_images, mnist.test_labels)
    if recipe.symbols:  # a calculator's classifier: operators beside the digits
        held_out = min(HELD_OUT, count)
        train = with_symbols(train, recipe.symbols, count, recipe.seed, "train")
        val = with_symbols(val, recipe.symbols, held_out, recipe.seed, "validation")
        test = with_symbols(test, recipe.symbols, held_out, recipe.seed, "test")
    result = fit(recipe, train, val, out_dir=member.folder, resume=member.checkpoint,
                 progress=progress, on_step=on_step, group=group)
    if group is not None and not group.leader:
        return None
    test_accuracy = accuracy(result.model, *test)
    if learned is not None and held is not None:
        learned["held_out_accuracy"] = accuracy(result.model, *held) if len(held[1]) else None
    if subspace is None:  # a calculator's takes its sample from digits and operators mixed
        flag = QUICK_FLAG if subset else FLAG
        subspace = (DigitSubspace.fit(mixed(train, recipe.seed), mixed(val, recipe.seed),
                                      calibration=flag)
                    if recipe.symbols else DigitSubspace.fit(train[0], val[0], calibration=flag))
    path = member.folder / MODEL_NAME
    export_onnx(result.model, path, model_card(result, test_accuracy).replace(
        writers_data=learned, training_data=data), subspace)
    if not recipe.symbols:
        calibrate_file(path, mnist, quick=bool(subset))
    return Trained(result, test_accuracy, result.history[-1].val_accuracy, path)


def _train_and_export_reader(member: Member, mnist: MNIST, train: tuple[np.ndarray, np.ndarray],
                             val: tuple[np.ndarray, np.ndarray], progress: bool,
                             group: Group | None, real: Lines | None,
                             checks: int,
                             learned: tuple[dict[str, Any] | None, list[dict[str, Any]]],
                             hands: np.ndarray | None) -> Trained | None:
    """The sequence reader's run: trained on strings of ``train``'s digits (other writers'
    too: ``learned`` is the card's writers' part and what it learned from; a share of the
    strings by one writer where ``hands`` names them), validated after each epoch and tested
    once on ``checks`` strings (of MNIST's validation and test digits: exact-string
    accuracy), exported for lines of any width; in ``group``, by the leader alone."""
    result = fit_lines(member.recipe, train, val, out_dir=member.folder,
                       resume=member.checkpoint, progress=progress, group=group, real=real,
                       validation=checks, writers=hands)
    if group is not None and not group.leader:
        return None
    test = fixed_strings((mnist.test_images, mnist.test_labels), member.recipe.seed + 2,
                         checks, default_workers(pick_device()), sums_share(member.recipe))
    test_accuracy = evaluate(result.model, test)[1]
    path = member.folder / MODEL_NAME
    card = model_card(result, test_accuracy).replace(
        preprocessing=LINE_PREPROCESSING, real_data=real.provenance if real else None,
        writers_data=learned[0], training_data=learned[1])
    export_line_reader(result.model, path, card)
    return Trained(result, test_accuracy, result.history[-1].val_accuracy, path)


def _train_and_export_locator(member: Member, mnist: MNIST,
                              train: tuple[np.ndarray, np.ndarray],
                              val: tuple[np.ndarray, np.ndarray], progress: bool,
                              group: Group | None, subset: int | None,
                              real: Inks | None, data: list[dict[str, Any]]
                              ) -> Trained | None:
    """The locator's run: trained on scenes written with ``train``'s digits, validated after
    each epoch and tested once on scenes written with MNIST's test digits (pixel F1 of the
    handwriting; at most ``subset`` scenes each, for a quick check); in ``group``, exported by
    the leader alone. ``real`` images (ink maps and their writing's masks) give a share of the
    scenes and are recorded in its card, with all it learned from (``data``)."""
    recipe = member.recipe
    validation = min(VALIDATION_SCENES, subset or VALIDATION_SCENES)
    checks = min(TEST_SCENES, subset or TEST_SCENES)
    result = fit_locator(recipe, train, val, out_dir=member.folder, resume=member.checkpoint,
                         progress=progress, group=group, validation=validation, real=real)
    if group is not None and not group.leader:
        return None
    test = fixed_scenes((mnist.test_images, mnist.test_labels), recipe.seed + 2, checks,
                        default_workers(pick_device()))
    test_accuracy = evaluate_locator(result.model, test)[1]
    path = member.folder / MODEL_NAME
    export_locator(result.model, path, model_card(result, test_accuracy).replace(
        preprocessing=LOCATOR_PREPROCESSING, real_data=real.provenance if real else None,
        training_data=data))
    return Trained(result, test_accuracy, result.history[-1].val_accuracy, path)


def _with_writers(train: tuple[np.ndarray, np.ndarray], writers: Writers, classes: str
                  ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray],
                             np.ndarray]:
    """MNIST's training ``train`` with the other writers' characters among ``classes`` after
    it, less the writers held out; those held out's (images, class indices); and the writers
    of the characters added."""
    known = writers.only(classes)
    labels = np.array([classes.index(c) for c in known.labels], dtype=train[1].dtype)
    held = known.held_out()
    return ((np.concatenate([train[0], known.images[~held]]),
             np.concatenate([train[1], labels[~held]])), (known.images[held], labels[held]),
            known.writers[~held])


def export_ensemble(members: list[TrainResult], mnist: MNIST, out: Path,
                    subspace: DigitSubspace | None = None, quick: bool = False) -> Trained:
    """Write one ONNX model in ``out`` that averages the members' probabilities (calibrated on
    a tenth of the digits when ``quick``)."""
    train, val = mnist.split()
    test = (mnist.test_images, mnist.test_labels)
    model = Ensemble([m.model for m in members]).eval()
    result = TrainResult(model, members[0].recipe, history=[])
    test_accuracy, val_accuracy = accuracy(model, *test), accuracy(model, *val)
    card = model_card(result, test_accuracy).replace(
        architecture=f"ensemble of {len(members)} {members[0].recipe.arch}",
        validation_accuracy=val_accuracy,
        members=[{"seed": m.recipe.seed, "validation_accuracy": accuracy(m.model, *val),
                  "test_accuracy": accuracy(m.model, *test)} for m in members])
    path = out / MODEL_NAME
    export_onnx(model, path, card, subspace or DigitSubspace.fit(
        train[0], val[0], calibration=QUICK_FLAG if quick else FLAG))
    if not members[0].recipe.symbols:
        calibrate_file(path, mnist, quick)
    return Trained(result, test_accuracy, val_accuracy, path)
