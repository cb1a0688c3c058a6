"""`digitrec finetune`: adapt a model to the user's own labelled digits; the work is
`digitrec.training.finetune`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..errors import DigitrecError
from ..training.recipes import CORRECTIONS_REPLAY, Tuning
from .common import add_data_dir, add_threads, refuse_existing

_HELP = {
    "steps": "optimiser steps",
    "batch_size": "images a step, yours and MNIST's together",
    "lr": "learning rate at the start (it decays to zero)",
    "replay": "share of each batch drawn from MNIST's training digits, so the model does not "
              f"forget them; {CORRECTIONS_REPLAY} with --feedback, whose corrections are the "
              "model's hardest cases",
    "val_share": "share of your images held out to measure the gain",
    "seed": "random seed for the split, the batches and their distortions",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune", help="adapt a model to your own labelled digits",
        description="Start from a digitrec model (the shipped one with 'default') and train it "
                    "on your labelled images: a folder per class (DIR/0/*.png ... DIR/9/*.png) "
                    "or a CSV of path,label, or the real handwriting corpus's manifest "
                    "(bench/real/labels.csv: the digits of its dev numbers). Images are "
                    "preprocessed as predict does; MNIST is replayed so the model keeps "
                    "reading it. Prints the accuracy before and after on your held-out "
                    "images and on MNIST test, and records them, the parent model and the "
                    "data's hash in the new model's metadata.")
    p.add_argument("model", metavar="MODEL",
                   help="the digit model to start from: an ONNX file, or 'default' for the "
                        "shipped model")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", metavar="DIR|CSV",
                        help="your labelled images: a folder per class, a CSV of path,label "
                             "(paths relative to the CSV), or a corpus manifest")
    source.add_argument("--feedback", metavar="DB",
                        help="the corrections database `serve --feedback DB` wrote")
    p.add_argument("--writer", metavar="TAG",
                   help="with --feedback: only the corrections tagged with this writer")
    p.add_argument("--out", required=True, type=Path, metavar="NEW.onnx",
                   help="where to write the fine-tuned model")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    for field in dataclasses.fields(Tuning):
        kind, default = type(field.default), field.default
        p.add_argument(f"--{field.name.replace('_', '-')}", dest=field.name, type=kind,
                       metavar=kind.__name__.upper(),
                       help=f"{_HELP[field.name]} (default {default})")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_dir(p)
    add_threads(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..inference.model import DEFAULT_MODEL

    model = DEFAULT_MODEL if args.model == "default" else Path(args.model)
    if args.writer and not args.feedback:
        raise DigitrecError("--writer picks corrections from a --feedback database",
                            "bad_parameter")
    refuse_existing(args.out, args.overwrite)
    if args.out.resolve() == model.resolve():
        raise DigitrecError(f"{args.out}: write the fine-tuned model beside its parent, not "
                            "over it", "bad_parameter")

    from ..corpus import is_manifest, load_digits
    from ..data import load_mnist
    from ..labelled import from_corrections, load_labelled
    from ..training.finetune import finetune, load_parent
    from ..training.state import set_threads

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Tuning)
             if getattr(args, f.name) is not None}
    settings = dataclasses.replace(Tuning().for_corrections() if args.feedback else Tuning(),
                                   **given)
    set_threads(args.threads)
    parent = load_parent(model)
    if args.feedback:
        data = from_corrections(args.feedback, parent.card.classes, args.writer)
    elif is_manifest(args.data):
        data = load_digits(args.data, model, parent.card.classes)
    else:  # the user's images as `predict` sees them: through the handwriting locator
        from ..inference.locator import load_locator

        data = load_labelled(args.data, parent.card.classes,
                             load_locator(args.settings.locator, threads=args.threads))
    for file, reason in data.skipped:
        print(f"skipped {file}: {reason}")
    mnist = load_mnist(args.data_dir, progress=not args.quiet, settings=args.settings)
    done = finetune(parent, data, mnist, args.out, settings, args.data or args.feedback,
                    not args.quiet)
    record = done.card.finetuning or {}
    print(f"fine-tuned {model.name} on {done.train} of your images "
          f"({done.validation} held out, {len(data.skipped)} skipped) in "
          f"{record['seconds']:.0f} s")
    print(f"{'':<20}{'before':>8}{'after':>8}")
    for label, key in (("your held-out", "validation_accuracy"),
                       ("MNIST test", "mnist_test_accuracy")):
        before, after = record[f"{key}_before"], record[f"{key}_after"]
        if before is not None:
            print(f"{label:<20}{before:>8.2%}{after:>8.2%}")
    print(f"written to {args.out}")
    return 0

