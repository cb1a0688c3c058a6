"""Options and helpers several commands share."""

from __future__ import annotations

import argparse
import glob
import json
import sys
from collections.abc import Callable
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


def print_results(args: argparse.Namespace, rows: list[dict[str, Any]], csv_fields: list[str],
                  csv_row: Callable[[dict[str, Any]], list[Any]],
                  table: Callable[[list[dict[str, Any]]], None], problems: list[str]) -> int:
    """Print the rows as JSON, CSV or a table, each problem as one error line; the exit code."""
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.csv:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(csv_fields)
        writer.writerows(csv_row(r) for r in rows)
    else:
        table(rows)
    for problem in problems:
        print(f"digitrec: error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def refuse_existing(out: Path, overwrite: bool) -> None:
    """Refuse to replace a file the user did not ask to replace."""
    if out.exists() and not overwrite:
        raise DigitrecError(f"{out} exists: choose another --out, or --overwrite",
                            "bad_parameter")
