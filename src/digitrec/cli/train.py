"""`digitrec train`: parse the recipe from a preset and flags; the run itself is
`digitrec.training.run`."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import folder_lock
from ..cpus import available_cores
from ..errors import DigitrecError
from ..training.recipes import PRESETS, SCHEDULES, Recipe
from .common import add_data_dir, add_threads

if TYPE_CHECKING:
    from ..corpus import Inks, Lines
    from ..training.distributed import Group
    from ..training.run import Member
    from ..writers import Writers

# Recipe fields settable from the command line, with their help; the defaults come from the preset.
_RECIPE_FLAGS = {
    "arch": (str, "network architecture: digitnet, digitnet-wide (twice the channels), tiny "
                  "(10k weights, for microcontrollers), seed (the Keras tutorial's CNN), "
                  "linereader (the sequence reader `read` uses, trained on generated strings) "
                  "or locator (the handwriting locator, trained on composed scenes)"),
    "epochs": (int, "passes over the training images"),
    "batch_size": (int, "images per optimiser step"),
    "lr": (float, "learning rate (the peak rate for the onecycle schedule)"),
    "schedule": (str, "learning-rate schedule: " + " or ".join(SCHEDULES)),
    "weight_decay": (float, "AdamW weight decay"),
    "label_smoothing": (float, "label smoothing of the cross-entropy loss, 0 for none"),
    "augment_strength": (float, "scale of every augmentation range, 1 for the full ranges"),
    "variants": (float, "share of training 1s given a European flag and of 7s a crossbar, "
                        "which MNIST rarely has"),
    "seed": (int, "random seed for weights, shuffling and augmentation"),
    "strings": (int, "strings (linereader) or scenes (locator) composed from the training "
                     "digits each epoch"),
}
_RECIPE_SWITCHES = {
    "augment": "random rotation, scaling, shifts and elastic distortion of training images",
    "standardize": "standardise pixels to MNIST's mean and standard deviation inside the model",
}


def _preset_values(field: str) -> str:
    return "preset values: " + ", ".join(
        f"{name} {getattr(recipe, field)}" for name, recipe in PRESETS.items())


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a network on MNIST and export it to ONNX",
        description="Train on MNIST's 60,000 training images less a 5,000-image validation "
                    "split, checkpoint every epoch, then test once and export an ONNX model. "
                    "Ctrl-C stops after saving the last completed epoch; --resume continues.")
    p.add_argument("--preset", choices=list(PRESETS),
                   help="recipe to start from (default: the --arch's own recipe if it has "
                        "one, else 'default'); the options below override its values")
    for name, (kind, text) in _RECIPE_FLAGS.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind,
                       metavar=kind.__name__.upper(), help=f"{text} ({_preset_values(name)})")
    for name, text in _RECIPE_SWITCHES.items():
        p.add_argument(f"--{name}", dest=name, action=argparse.BooleanOptionalAction,
                       help=f"{text} ({_preset_values(name)})")
    p.add_argument("--out", metavar="DIR",
                   help="folder for checkpoint.pt and model.onnx (default: runs/PRESET)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out from its last completed epoch")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh even if --out holds a checkpoint of an earlier run")
    p.add_argument("--ensemble", type=int, default=1, metavar="N",
                   help="train N networks (seeds SEED to SEED+N-1, each in OUT/member-K) "
                        "and export one model that averages their probabilities")
    p.add_argument("--subset", type=int, metavar="N",
                   help="train on only the first N training images (a quick check; for "
                        "linereader and locator also N strings or scenes an epoch)")
    p.add_argument("--real", metavar="MANIFEST",
                   help="real handwriting for a sequence reader to learn beside its composed "
                        "strings, or the locator beside its composed scenes: a corpus manifest "
                        "such as bench/real/labels.csv (its dev rows; the test rows are never "
                        "used); recorded in the model card")
    p.add_argument("--writers", metavar="DIR",
                   help="other writers' digits and operators to learn beside MNIST's (a "
                        "digit network, a calculator's, or a sequence reader's strings): the "
                        "files `python data/writers/build.py` makes, such as data/writers; "
                        "recorded in the model card")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    add_data_dir(p)
    add_threads(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..training import distributed

    args.preset = args.preset or (args.arch if args.arch in PRESETS else "default")
    args.out = args.out or f"runs/{args.preset}"
    # Every option is checked before the folder is made and locked: a typo leaves nothing
    # behind. The plan is made again under the lock, where no other run can change it.
    _plan(args)
    group = distributed.group_of(args.settings.torchrun)
    if group is None:
        with folder_lock(args.out):  # a second run would replace this one's checkpoints
            return _train(args, None)
    distributed.join(group)
    try:
        with folder_lock(args.out) if group.leader else contextlib.nullcontext():
            return _train(args, group)
    finally:
        distributed.leave()


def _plan(args: argparse.Namespace) -> list[Member]:
    """The networks this run trains, from the preset and the flags; refused in one line when
    an option, the folder's earlier run or its checkpoint does not fit."""
    from ..training.run import plan_members

    overrides = {name: getattr(args, name) for name in [*_RECIPE_FLAGS, *_RECIPE_SWITCHES]
                 if getattr(args, name) is not None}
    if args.subset is not None and args.subset < 1:
        raise DigitrecError("--subset must be at least 1")
    if args.real:
        from ..corpus import digest, rows

        overrides["real"] = digest(rows(args.real))
    if args.writers:
        overrides["writers"] = _writers(args.writers).digest
    members = plan_members(dataclasses.replace(PRESETS[args.preset], **overrides),
                           Path(args.out), ensemble=args.ensemble, resume=args.resume,
                           overwrite=args.overwrite, overrides=overrides)
    if members[0].recipe.real and not args.real:
        raise DigitrecError(f"{args.out}: this run learns real lines too (their hash "
                            f"{members[0].recipe.real[:12]}...): resume with the same --real",
                            "bad_parameter")
    if members[0].recipe.writers and not args.writers:
        raise DigitrecError(f"{args.out}: this run learns other writers' characters too: "
                            "resume with the same --writers", "bad_parameter")
    return members


@functools.cache
def _writers(folder: str) -> Writers:
    from ..writers import load_writers

    return load_writers(folder)


def _train(args: argparse.Namespace, group: Group | None) -> int:
    from ..data import VALIDATION_SIZE, load_mnist
    from ..training.run import export_ensemble, train_and_export
    from ..training.state import pick_device, set_threads

    leader = group is None or group.leader
    quiet = args.quiet or not leader  # one process speaks for a group
    # Processes on one machine share its cores.
    threads = set_threads(args.threads or (max(1, available_cores() // group.local_size)
                                           if group else None))
    out = Path(args.out)
    members = _plan(args)
    mnist = load_mnist(args.data_dir, progress=not quiet, settings=args.settings)
    real = _real(args.real, members[0].recipe, quiet) if args.real else None
    writers = _writers(args.writers) if args.writers else None
    if writers is not None and not quiet:
        print(f"{len(writers):,} characters by other writers from "
              f"{', '.join(writers.sources)}", file=sys.stderr)
    images = min(args.subset or len(mnist.train_labels), len(mnist.train_labels) - VALIDATION_SIZE)
    trained = []
    for k, member in enumerate(members):
        if not quiet:
            which = f"member {k + 1} of {len(members)}: " if len(members) > 1 else ""
            composed = {"read": "strings", "locate": "scenes"}.get(member.recipe.task)
            what = (f"{member.recipe.strings:,} {composed} an epoch composed from {images:,} "
                    "digits" if composed else f"{images:,} images")
            print(f"{which}training {member.recipe.arch} for {member.recipe.epochs} epochs on "
                  f"{what} (validation {VALIDATION_SIZE:,}) "
                  f"on {pick_device()} with {threads} threads"
                  + (f", in {group.size} processes" if group else ""), file=sys.stderr)
        try:
            done = train_and_export(member, mnist, subset=args.subset, progress=not quiet,
                                    group=group, real=real, writers=writers)
        except KeyboardInterrupt:
            if leader:
                again = f" --ensemble {args.ensemble}" if args.ensemble > 1 else ""
                launch = "torchrun ... -m digitrec train" if group else "digitrec train"
                print(f"\ninterrupted: completed epochs are saved in {out}; continue with: "
                      f"{launch} --resume --out {out}{again}", file=sys.stderr)
            return 130
        if done is not None:
            trained.append(done)
    if not leader:
        return 0
    final = trained[0] if len(trained) == 1 else export_ensemble(
        [t.result for t in trained], mnist, out, quick=bool(args.subset))
    for t in trained if len(trained) > 1 else []:
        print(f"member seed {t.result.recipe.seed}: validation accuracy "
              f"{t.validation_accuracy:.2%}, test accuracy {t.test_accuracy:.2%}")
    exact = " (exact strings)" if final.result.recipe.task == "read" else ""
    print(f"validation accuracy{exact} {final.validation_accuracy:.2%}, "
          f"test accuracy {final.test_accuracy:.2%}")
    print(f"model saved to {final.path}")
    return 0


def _real(manifest: str, recipe: Recipe, quiet: bool) -> Lines | Inks:
    """The manifest's dev rows as ``recipe``'s network learns from them: for a sequence
    reader, the lines it writes (a reader of numbers leaves the sums), as `read` finds them;
    for the locator, the images read right, with their ink."""
    if recipe.task == "locate":
        from ..corpus import load_inks
        from ..training.scenes import REAL as SCENES

        inks = load_inks(manifest)
        if not quiet:
            print(f"{len(inks)} real images from {len(inks.provenance['sources'])} sources "
                  f"({len(inks.skipped)} left out), a {SCENES:.0%} share of the scenes",
                  file=sys.stderr)
        return inks
    from ..corpus import load_lines
    from ..training.strings import REAL

    real = load_lines(manifest, recipe.classes, sums=bool(recipe.symbols))
    if not quiet:
        print(f"{len(real)} real lines from {len(real.provenance['sources'])} sources "
              f"({len(real.skipped)} left out), a {REAL:.0%} share of the strings",
              file=sys.stderr)
    return real
