"""Options and helpers several commands share."""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

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
