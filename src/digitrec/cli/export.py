"""`digitrec export`: int8 and fp16 copies of a model, and the int8 model as C for firmware."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_data_dir


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="write a smaller copy of a model: int8, fp16, or C for firmware",
        description="Write an int8 (static quantisation, calibrated on training images only) "
                    "or fp16 copy of an exported model, with its metadata; predict, serve and "
                    "evaluate load it like any other model. --c-header writes the int8 model "
                    "as C: a header with its weights and forward pass, and the kernels header "
                    "it includes. Needs the train extra (onnx).")
    p.add_argument("model", metavar="MODEL", help="ONNX model made by digitrec train")
    precision = p.add_mutually_exclusive_group(required=True)
    precision.add_argument("--int8", action="store_const", dest="precision", const="int8",
                           help="int8 weights and activations (about 4x smaller weights)")
    precision.add_argument("--fp16", action="store_const", dest="precision", const="fp16",
                           help="fp16 weights (2x smaller); inputs and outputs stay float32")
    precision.add_argument("--c-header", action="store_const", dest="precision", const="c",
                           help="C99 source of the int8 model for firmware (MODEL is quantised "
                                "first unless it is int8 already)")
    p.add_argument("--out", metavar="PATH",
                   help="where to write it (default: MODEL's name with -int8, -fp16, "
                        "or -int8.h)")
    add_data_dir(p)
    p.set_defaults(run=run)


def _copy(source: Path, target: Path, precision: str, args: argparse.Namespace) -> None:
    from ..export import quantize

    if precision == "int8":
        from ..data import load_mnist

        (train_images, _), _ = load_mnist(args.data_dir, settings=args.settings).split()
        quantize.quantize_int8(source, target, train_images)
    else:
        quantize.convert_fp16(source, target)
    print(f"{precision} model written to {target} "
          f"({target.stat().st_size / 1000:,.0f} kB, from {source.stat().st_size / 1000:,.0f} kB)")


def run(args: argparse.Namespace) -> int:
    source = Path(args.model)
    if args.precision != "c":
        _copy(source, Path(args.out or source.with_name(f"{source.stem}-{args.precision}.onnx")),
              args.precision, args)
        return 0
    from ..export.c_header import write_c_header
    from ..inference import load_digit_model

    if load_digit_model(source, threads=1).card.precision != "int8":
        int8 = (Path(args.out).with_suffix(".onnx") if args.out
                else source.with_name(f"{source.stem}-int8.onnx"))
        _copy(source, int8, "int8", args)
        source = int8
    header, kernels = write_c_header(source, Path(args.out or source.with_suffix(".h")))
    print(f"C header written to {header} ({header.stat().st_size / 1000:,.0f} kB), "
          f"with {kernels.name} beside it; the ONNX model it matches is {source}")
    return 0
