"""`digitrec calc`: read handwritten sums and work them out (`digitrec read --math`)."""

from __future__ import annotations

import argparse

from . import archive, read
from .common import add_images_and_format


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calc", help="read handwritten sums and work them out: 12×7= -> 84",
        description="Read every sum in each image, one per line of writing (digits, + - × ÷ "
                    "= ( ) and decimal points; × also as x or a raised dot, ÷ also as / or :) "
                    "and work it out exactly. With '=' written at the end, the answer follows "
                    "it; an answer written after it is checked.")
    add_images_and_format(p, "print JSON, one object per image, with every sum, its value and "
                             "each symbol's box and probabilities", "print CSV, one row per image")
    read.add_show_and_threads(p)
    read.add_calc_model(p)
    archive.add_options(p)
    p.set_defaults(run=read.run, math=True, digits=None, pattern=None)
