"""`digitrec predict`: read the digit in each image; a table, JSON or CSV, one result shape."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..batch import Job
from ..errors import DigitrecError, describe
from . import archive
from .common import Row, add_images_and_format, add_threads, expand_paths, name_width, print_results
from .read import add_locator, check_locator

if TYPE_CHECKING:
    from ..inference import Model, Prediction
    from ..inference.locator import Locator


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
    add_locator(p)
    add_threads(p)
    archive.add_options(p)
    p.set_defaults(run=run)


CHUNK = 256  # images preprocessed and classified together: one model call each


def run(args: argparse.Namespace) -> int:
    from ..inference import load_digit_model
    from ..inference.locator import load_locator
    from ..inference.result import CSV_FIELDS, csv_row, failure

    check_locator(args)
    paths = expand_paths(args.paths)
    table = functools.partial(_print_table, width=name_width(p for p, _ in paths))
    if archive.wanted(args, len(paths)):
        if args.show or args.save_processed:
            raise DigitrecError("--show and --save-processed are for a few images: not with "
                                "--jobs or --output", "bad_parameter")
        return archive.read_all(
            args, [p for p, _ in paths],
            Job("predict", args.model, min_confidence=args.min_confidence,
                locator=args.locator, locate=args.locate, settings=args.settings),
            lambda found: print_results(args, found, CSV_FIELDS, csv_row, table))
    model = load_digit_model(args.model or args.settings.model, threads=args.threads)
    locator = (load_locator(args.locator or args.settings.locator, args.threads) if args.locate
               else None)
    if args.show:  # fail before the work, not after it
        from ..evaluation import plots
    shown: list[tuple[str, Prediction]] = []
    saver = _Saver(Path(args.save_processed)) if args.save_processed else None

    def rows() -> Iterator[Row]:
        for path, found in _predictions(model, paths, locator):
            if isinstance(found, DigitrecError):
                yield {"file": path, **failure(str(found), found.code)}
                continue
            yield {"file": path, **found.to_dict(args.min_confidence, decimals=4)}
            if saver:
                saver.save(path, found)
            if args.show:
                shown.append((path, found))

    code = print_results(args, rows(), CSV_FIELDS, csv_row, table)
    if saver and saver.renamed:
        print(f"{saver.renamed} processed images renamed with -2, -3, ... where inputs share "
              f"a name; written to {saver.folder}", file=sys.stderr)
    if args.show:
        plots.prediction_figure(shown, Path(args.show))
        print(f"figure written to {args.show}", file=sys.stderr)
    return code


def _predictions(model: Model, paths: list[tuple[str, str | None]], locator: Locator | None
                 ) -> Iterator[tuple[str, Prediction | DigitrecError]]:
    """Each path's prediction or error (the digit looked for in what ``locator`` takes for
    handwriting, where given), in order, CHUNK images at a time: memory stays flat however
    many there are."""
    from ..vision import preprocess

    for start in range(0, len(paths), CHUNK):
        found: dict[str, Any] = {}
        for path, problem in paths[start : start + CHUNK]:
            try:
                if problem:
                    raise DigitrecError(f"{path}: {problem}", code="not_found")
                found[path] = preprocess(path, locator)
            except DigitrecError as exc:
                found[path] = exc
        read = [p for p in found.values() if not isinstance(p, DigitrecError)]
        predictions = iter(model.classify(read))
        for path, _ in paths[start : start + CHUNK]:
            p = found[path]
            yield path, p if isinstance(p, DigitrecError) else next(predictions)


def _print_table(rows: Iterator[Row], width: int) -> None:
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


class _Saver:
    """Writes the 28x28 image the model saw for each input into a folder, named after the
    input (x.png for x.jpg); where inputs share a name (a/x.png and b/x.png, x.png and x.jpg),
    the later ones get -2, -3, ... in the order given, so none replaces another."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: dict[str, int] = {}
        self.renamed = 0
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DigitrecError(f"{folder}: cannot make the folder ({describe(exc)})",
                                "write_failed") from None

    def save(self, path: str, prediction: Prediction) -> None:
        from PIL import Image

        from ..atomic import atomic_path

        if prediction.processed is None:
            return
        stem = Path(path).stem
        seen = self.taken.get(stem.lower(), 0)  # case-insensitive file systems too
        self.taken[stem.lower()] = seen + 1
        if seen:
            stem, self.renamed = f"{stem}-{seen + 1}", self.renamed + 1
        image = Image.fromarray((prediction.processed * 255).round().astype("uint8"))
        target = self.folder / f"{stem}.png"
        try:
            with atomic_path(target) as tmp:
                image.save(tmp, "PNG")
        except OSError as exc:
            raise DigitrecError(f"{target}: cannot write the processed image "
                                f"({describe(exc)})", "write_failed") from None
