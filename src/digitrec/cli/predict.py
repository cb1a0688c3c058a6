"""`digitrec predict`: read the digit in each image; a table, JSON or CSV, one result shape."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..batch import Job
from ..errors import DigitrecError
from . import archive
from .common import add_images_and_format, add_threads, expand_paths, print_results


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict", help="read the digit in each image",
        description="Read the handwritten digit in each image: photos of paper, scans, canvas "
                    "drawings, MNIST-style images. Each is turned into MNIST's form first (ink "
                    "white on black, cropped, fitted to 20x20, centred by mass in 28x28).")
    add_images_and_format(p, "print JSON, one object per image",
                          "print CSV with all probabilities")
    p.add_argument("--min-confidence", type=float, default=0.5, metavar="P",
                   help="mark answers below this probability as uncertain (default 0.5); "
                        "images unlike any digit the model learned (a letter, a scribble) "
                        "are marked too")
    p.add_argument("--save-processed", metavar="DIR",
                   help="write the 28x28 image the model saw for each input into DIR")
    p.add_argument("--show", metavar="OUT.png",
                   help="write a figure: each image, what the model saw, probabilities")
    add_threads(p)
    archive.add_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..inference import load_model
    from ..inference.result import CSV_FIELDS, csv_row, failure
    from ..vision import Processed, preprocess

    paths = expand_paths(args.paths)
    if archive.wanted(args, len(paths)):
        if args.show or args.save_processed:
            raise DigitrecError("--show and --save-processed are for a few images: not with "
                                "--jobs or --output", "bad_parameter")
        return archive.read_all(
            args, [p for p, _ in paths],
            Job("predict", args.model, min_confidence=args.min_confidence),
            lambda found, problems: print_results(args, found, CSV_FIELDS, csv_row,
                                                  _print_table, problems))
    model = load_model(args.model, threads=args.threads)
    if args.show:  # fail before the work, not after it
        from ..evaluation import plots
    processed: dict[str, Processed] = {}
    problems: dict[str, DigitrecError] = {}
    for path, problem in paths:
        try:
            if problem:
                raise DigitrecError(f"{path}: {problem}", code="not_found")
            processed[path] = preprocess(path)
        except DigitrecError as exc:
            problems[path] = exc
    predictions = dict(zip(processed, model.classify(list(processed.values())), strict=True))
    rows = [{"file": path, **(failure(str(problems[path]), problems[path].code)
                              if path in problems else
                              predictions[path].to_dict(args.min_confidence, decimals=4))}
            for path, _ in paths]
    code = print_results(args, rows, CSV_FIELDS, csv_row, _print_table,
                         [str(p) for p in problems.values()])
    if args.save_processed:
        _save_processed(predictions, Path(args.save_processed))
    if args.show:
        plots.prediction_figure(list(predictions.items()), Path(args.show))
        print(f"figure written to {args.show}", file=sys.stderr)
    return code


def _print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len("file"), *(len(r["file"]) for r in rows))
    print(f"{'file':<{width}}  digit  confidence  top-3")
    for r in rows:
        if r["digit"] is None:
            shown = r["reason"] or "error: " + r["error"]
            print(f"{r['file']:<{width}}  {'-':>5}  {'':>10}  {shown}")
            continue
        top = "  ".join(f"{d} {p:.0%}" for d, p in r["top3"])
        flag = ("  (uncertain)" if r["status"] == "uncertain" else "") + (
            "  (unlike any digit)" if r["unusual"] else "")
        print(f"{r['file']:<{width}}  {r['digit']:>5}  {r['confidence']:>10.1%}  {top}{flag}")


def _save_processed(predictions: dict, folder: Path) -> None:
    from PIL import Image

    from ..atomic import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    for path, prediction in predictions.items():
        if prediction.processed is None:
            continue
        with atomic_path(folder / f"{Path(path).stem}.png") as tmp:
            Image.fromarray((prediction.processed * 255).round().astype("uint8")).save(tmp, "PNG")
