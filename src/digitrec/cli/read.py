"""`digitrec read`: read whole numbers, one line of text per line of writing."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..batch import Job
from ..errors import DigitrecError
from ..reading.picture import check_picture
from ..reading.search import check_pattern, parse_digits
from . import archive
from .common import Row, add_images_and_format, add_threads, expand_paths, name_width, print_results


def _argument(check: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse type from a checker that raises DigitrecError: a usage error, exit 2."""
    def parse(text: str) -> object:
        try:
            return check(text)
        except DigitrecError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None

    return parse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "read", help="read whole numbers: several digits, decimal points, minus signs",
        description="Read every number in each image, one line of text per line of writing, "
                    "top to bottom: digits, '.', ',' and '-'. Each character's box is given in "
                    "the image's pixels.")
    add_images_and_format(p, "print JSON, one object per image, with every character",
                          "print CSV, one row per image")
    p.add_argument("--digits", type=_argument(parse_digits), metavar="N",
                   help="each line has N digits, or N-M: the best reading with that many")
    p.add_argument("--pattern", type=_argument(check_pattern), metavar="REGEX",
                   help=r"each line matches this regular expression in full, e.g. '\d{5}' or "
                        r"'\d\d/\d\d/\d{4}': the best reading that does")
    p.add_argument("--math", action="store_true",
                   help="read sums and work them out, as `digitrec calc` does")
    add_show_and_threads(p)
    add_calc_model(p)
    archive.add_options(p)
    p.set_defaults(run=run)


def add_show_and_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--show", type=_argument(check_picture), metavar="OUT.png",
                   help="draw each image with its characters' boxes and readings, and the "
                        "28x28 inputs the model saw, what was taken for handwriting tinted blue, "
                        "into OUT.png (several images: "
                        "OUT-1-NAME.png, OUT-2-NAME.png, ...)")
    add_threads(p)


def add_calc_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calc-model", metavar="PATH",
                   help="the calculator's model, which knows the operators (default: "
                        "$DIGITREC_CALC_MODEL, else the one shipped with digitrec)")
    add_locator(p)


def add_locator(p: argparse.ArgumentParser) -> None:
    p.add_argument("--locator", metavar="PATH",
                   help="the handwriting locator, which tells writing from print, rules, "
                        "borders and backgrounds (default: $DIGITREC_LOCATOR, else the one "
                        "shipped with digitrec)")
    p.add_argument("--no-locator", dest="locate", action="store_false",
                   help="find ink by thresholds and rules alone, without the locator")


def check_locator(args: argparse.Namespace) -> None:
    if args.locator and not args.locate:
        raise DigitrecError("--locator names a locator, --no-locator reads without one: "
                            "give one of them", "bad_parameter")


def run(args: argparse.Namespace) -> int:
    from ..reading import calc, result
    from ..reading.picture import picture, save_picture

    math = args.math
    if math and (args.digits or args.pattern):
        raise DigitrecError("--digits and --pattern constrain numbers, not sums: drop them "
                            "with --math", "bad_parameter")
    csv_fields, csv_row = (calc.CSV_FIELDS, calc.csv_row) if math else (result.CSV_FIELDS,
                                                                        result.csv_row)
    paths = expand_paths(args.paths)
    width = name_width(p for p, _ in paths)
    table = functools.partial(_print_sums if math else _print_table, width=width)
    check_locator(args)
    job = Job("calc" if math else "read", args.model, args.calc_model, digits=args.digits,
              pattern=args.pattern, locator=args.locator, locate=args.locate,
              settings=args.settings)
    if archive.wanted(args, len(paths)):
        if args.show:
            raise DigitrecError("--show draws each image: not with --jobs or --output",
                                "bad_parameter")
        return archive.read_all(
            args, [p for p, _ in paths], job,
            lambda found: print_results(args, found, csv_fields, csv_row, table))
    model = job.load(args.threads)
    problems: list[str] = []  # pictures that could not be written; each image's own are rows

    def rows() -> Iterator[Row]:
        many = len(paths) > 1
        for k, (path, problem) in enumerate(paths, 1):
            try:
                if problem:
                    raise DigitrecError(f"{path}: {problem}", code="not_found")
                found = job.result(model, path)
            except DigitrecError as exc:
                yield {"file": path, **job.failure(exc)}
                continue
            yield {"file": path, **found.to_dict(decimals=4)}
            if args.show:  # a picture that cannot be written is a problem; the reading stands
                try:
                    captions = ([f"{s.text}  ({s.line.confidence:.1%})" for s in found.sums]
                                if math else None)
                    drawn = picture(path, found.reading if math else found, captions,
                                    model.ink(path))
                    save_picture(drawn, picture_path(args.show, path, k, many))
                except DigitrecError as exc:
                    problems.append(str(exc))

    return print_results(args, rows(), csv_fields, csv_row, table, problems)


def picture_path(out: Path, image: str, k: int, many: bool) -> Path:
    """Where the picture of the k-th image goes: OUT itself for one image."""
    return out.with_name(f"{out.stem}-{k}-{Path(image).stem}{out.suffix}") if many else out


def _print_table(rows: Iterable[Row], width: int) -> None:
    print(f"{'file':<{width}}  {'number':>12}  confidence  characters (left edge, x)")
    for r in rows:
        if not r["lines"]:
            shown = r["reason"] or "error: " + r["error"]
            print(f"{r['file']:<{width}}  {'-':>12}  {'':>10}  {shown}")
            continue
        for k, line in enumerate(r["lines"]):
            name = r["file"] if k == 0 else ""
            where = " ".join(f"{c['char']}@{c['box'][0]}" for c in line["characters"])
            print(f"{name:<{width}}  {line['text']:>12}  {line['confidence']:>10.1%}  {where}")


def _print_sums(rows: Iterable[Row], width: int) -> None:
    print(f"{'file':<{width}}  {'confidence':>10}  sum")
    for r in rows:
        if not r["sums"]:
            print(f"{r['file']:<{width}}  {'':>10}  {r['reason'] or 'error: ' + r['error']}")
            continue
        for k, (line, shown) in enumerate(zip(r["sums"], r["text"].split("\n"), strict=True)):
            name = r["file"] if k == 0 else ""
            print(f"{name:<{width}}  {line['confidence']:>10.1%}  {shown}")
