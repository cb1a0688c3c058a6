"""`digitrec calibrate`: fit a model's temperature and flag threshold so its confidence means
what it says; the work is `digitrec.export.calibrate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DigitrecError
from ..export.calibrate import NUMBERS, SAMPLE
from .common import add_data_dir, add_model, refuse_existing


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="make a model's confidence honest (temperature and flag threshold)",
        description="Fit the temperature that makes a model's probabilities match how often "
                    "it is right, and the distance beyond which an image is 'unlike any "
                    "digit', on MNIST's validation digits (as arrays and rendered as photos, "
                    "scans, boards and canvases: none the model trained on), and write a copy "
                    "of the model with both in its card. Answers never change; only how sure "
                    "they sound. Trained models are calibrated at export already. Needs the "
                    "onnx package (the train extra).")
    add_model(p)
    p.add_argument("--out", required=True, type=Path, metavar="MODEL.onnx",
                   help="where to write the calibrated model (may be the model itself, with "
                        "--overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--images", type=int, default=SAMPLE, metavar="N",
                   help=f"validation digits to fit on (default {SAMPLE:,}; fewer is faster "
                        "and noisier)")
    p.add_argument("--numbers", type=int, default=NUMBERS, metavar="N",
                   help=f"generated numbers to fit read's confidence on (default {NUMBERS}; "
                        "0 leaves it as it is)")
    add_data_dir(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    refuse_existing(args.out, args.overwrite)
    if args.images < 100 or args.numbers < 0:
        raise DigitrecError("--images must be at least 100 and --numbers at least 0",
                            "bad_parameter")
    from ..data import load_mnist
    from ..export.calibrate import calibrate, write_calibrated
    from ..reading import load_model

    reader = load_model(args.model, settings=args.settings)
    model = reader.digits
    mnist = load_mnist(args.data_dir, progress=False, settings=args.settings)
    found = calibrate(reader, mnist, args.images, args.numbers)
    write_calibrated(model, found, args.out)
    flag = (f"; unlike any digit beyond {found.novelty_threshold:.3f} (was "
            f"{model.novelty_threshold:.3f})" if found.novelty_threshold is not None else "")
    print(f"temperature {found.temperature:.3f} (was {model.temperature or 1:.3f}), fitted on "
          f"{found.images:,} validation digits{flag}" + (
          f"; read's confidences scaled by {found.read_calibration} on {found.numbers} numbers"
          if found.read_calibration else ""))
    print(f"written to {args.out}")
    return 0
