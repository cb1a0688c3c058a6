"""`digitrec read`: read whole numbers, one line of text per line of writing."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from ..errors import DigitrecError
from .common import add_model, add_threads, expand_paths


def _digits(text: str) -> tuple[int, int]:
    """'5' or '4-6' -> an inclusive range."""
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (5) or a range (4-6)")
    low = int(match.group(1))
    return low, int(match.group(2) or low)


def _pattern(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression: {exc}") from None
    return text


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "read", help="read whole numbers: several digits, decimal points, minus signs",
        description="Read every number in each image, one line of text per line of writing, "
                    "top to bottom: digits, '.', ',' and '-'. Each character's box is given in "
                    "the image's pixels.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="image files, folders of images, or glob patterns")
    add_model(p)
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="print JSON, one object per image, with every character")
    output.add_argument("--csv", action="store_true", help="print CSV, one row per image")
    p.add_argument("--digits", type=_digits, metavar="N",
                   help="each line has N digits, or N-M: the best reading with that many")
    p.add_argument("--pattern", type=_pattern, metavar="REGEX",
                   help=r"each line matches this regular expression in full, e.g. '\d{5}' or "
                        r"'\d\d/\d\d/\d{4}': the best reading that does")
    add_threads(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..inference import load_model
    from ..reading.result import read_failure

    model = load_model(args.model, threads=args.threads)
    rows: list[dict[str, Any]] = []
    problems = []
    for path, problem in expand_paths(args.paths):
        try:
            if problem:
                raise DigitrecError(f"{path}: {problem}", code="not_found")
            reading = model.read(path, args.digits, args.pattern)
            rows.append({"file": path, **reading.to_dict(decimals=4)})
        except DigitrecError as exc:
            rows.append({"file": path, **read_failure(str(exc), exc.code)})
            problems.append(str(exc))
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.csv:
        import csv

        from ..reading.result import CSV_FIELDS, csv_row

        writer = csv.writer(sys.stdout)
        writer.writerow(CSV_FIELDS)
        writer.writerows(csv_row(r) for r in rows)
    else:
        _print_table(rows)
    for problem in problems:
        print(f"digitrec: error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len("file"), *(len(r["file"]) for r in rows))
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
