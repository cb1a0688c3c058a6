"""The `digitrec` command: one module per subcommand, each owning its options, help and run.
Subcommands import what they need only when they run, so `digitrec info` or `--help` never
pay for torch or matplotlib."""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import DigitrecError
from ..settings import Settings
from . import (
    calc,
    calibrate,
    evaluate,
    export,
    feedback,
    finetune,
    form,
    imports,
    info,
    predict,
    read,
    serve,
    table,
    train,
)

_COMMANDS = (train, finetune, evaluate, predict, read, calc, table, form, serve, feedback,
             export, calibrate, imports, info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitrec", description="Recognise handwritten digits with a CNN trained on MNIST.")
    parser.add_argument("--version", action="version", version=f"digitrec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # The environment is read here, once: each command passes what it needs down.
        args.settings = Settings.from_environment()
        return args.run(args)
    except DigitrecError as exc:
        # Under torchrun every process meets the same refusal; the first one says it.
        if int(os.environ.get("RANK") or 0) == 0:
            print(f"digitrec: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`digitrec info | head`): stop quietly, and keep Python from
        # failing again while flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
