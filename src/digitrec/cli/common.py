"""Options and helpers several commands share."""

from __future__ import annotations

import argparse
import glob
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import DigitrecError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the MNIST files; default $DIGITREC_DATA, else "
                        "~/.cache/digitrec/mnist, downloaded there if missing")


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads to use (default: all cores available to this process)")


def add_model(p: argparse.ArgumentParser, what: str = "ONNX model") -> None:
    p.add_argument("--model", metavar="PATH",
                   help=f"{what} (default: $DIGITREC_MODEL, else the pretrained model shipped "
                        "with digitrec)")


def add_images_and_format(p: argparse.ArgumentParser, json_help: str, csv_help: str) -> None:
    """The images to read, and --json or --csv instead of the table."""
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="image files, folders of images, or glob patterns")
    add_model(p)
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help=json_help)
    output.add_argument("--csv", action="store_true", help=csv_help)


def expand_paths(patterns: list[str]) -> list[tuple[str, str | None]]:
    """(path, problem) for every image named by files, folders and glob patterns."""
    found: list[tuple[str, str | None]] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            images = sorted(str(p) for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            found += [(p, None) for p in images] or [(pattern, "no images in this folder")]
        elif path.exists():
            found.append((pattern, None))
        else:  # a pattern the shell did not expand (quoted, or on Windows)
            matches = sorted(glob.glob(pattern))
            found += [(p, None) for p in matches] or [(pattern, "no such file")]
    return found


Row = dict[str, Any]


def printable(text: str) -> str:
    """``text`` with control characters escaped: a file named "a\\nb.png" stays on one line of
    a table, a CSV file or an error message, and cannot forge another row."""
    return text if text.isprintable() else "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def name_width(paths: Iterable[str]) -> int:
    """The width of a table's file column: known before the first row is read."""
    return max([len("file"), *(len(printable(p)) for p in paths)])


def print_results(args: argparse.Namespace, rows: Iterable[Row], csv_fields: list[str],
                  csv_row: Callable[[Row], list[Any]],
                  table: Callable[[Iterable[Row]], None],
                  problems: Iterable[str] = ()) -> int:
    """Print each row as it comes, as JSON, CSV or a table, then each image's error and each
    of ``problems`` (filled while the rows are read) as one line; the exit code. Nothing is
    held: a folder of 60,000 images prints as it is read."""
    errors: list[str] = []

    def watched() -> Iterable[Row]:
        for row in rows:
            if row.get("status") == "error":
                errors.append(row["error"])
            if args.json:
                yield row
            else:
                yield {**row, **{k: printable(row[k]) for k in ("file", "error")
                                 if isinstance(row.get(k), str)}}

    if args.json:  # one JSON array, written an element at a time
        first = True
        for row in watched():
            text = json.dumps(row, indent=2).replace("\n", "\n  ")
            sys.stdout.write(("[\n  " if first else ",\n  ") + text)
            first = False
        print("[]" if first else "\n]")
    elif args.csv:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(csv_fields)
        for row in watched():
            writer.writerow(csv_row(row))
    else:
        table(watched())
    shown = [*errors, *problems]
    for problem in shown:
        print(f"digitrec: error: {printable(problem)}", file=sys.stderr)
    return 1 if shown else 0


def refuse_existing(out: Path, overwrite: bool) -> None:
    """Refuse to replace a file the user did not ask to replace."""
    if out.exists() and not overwrite:
        raise DigitrecError(f"{out} exists: choose another --out, or --overwrite",
                            "bad_parameter")
