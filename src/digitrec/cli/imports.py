"""`digitrec import`: a Keras model made a digitrec model; the work is `digitrec.importing`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DigitrecError
from .common import add_data_dir, refuse_existing


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import", help="turn a Keras model (.h5 or .keras) into a digitrec model",
        description="Convert a Keras digit classifier (a Sequential model or a simple chain: "
                    "Conv2D, pooling, Flatten, Dense, BatchNormalization, Dropout, "
                    "activations, Reshape, Rescaling) into a digitrec ONNX model, so predict, "
                    "read, serve, evaluate and export work with it. Reads .h5 files from Keras "
                    "2 or 3 and .keras files; no TensorFlow needed. Needs the keras and train "
                    "extras (h5py, torch).")
    p.add_argument("source", metavar="MODEL.h5|MODEL.keras", help="the Keras model file")
    p.add_argument("--out", required=True, type=Path, metavar="MODEL.onnx",
                   help="where to write the digitrec model")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--pixels", choices=("auto", "unit", "byte"), default="auto",
                   help="what the model was fed: unit = pixels / 255, in [0, 1], as the "
                        "tutorials do; byte = 0-255; auto (default): byte when the model "
                        "starts by rescaling by 1/255, else unit")
    add_data_dir(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    refuse_existing(args.out, args.overwrite)
    from ..data import load_mnist
    from ..importing import import_keras

    try:
        mnist = load_mnist(args.data_dir, allow_download=False, progress=False,
                           settings=args.settings)
        missing = None
    except DigitrecError as exc:
        mnist, missing = None, str(exc)
    done = import_keras(args.source, args.out, mnist, args.pixels)
    card, source = done.card, done.source
    print(f"imported {source.path.name} (Keras {source.keras_version or 'version unknown'}, "
          f"{len(source.layers)} layers, {card.parameters:,} weights; fed "
          f"{card.imported['pixels']})")
    if card.test_accuracy is not None:
        print(f"MNIST test accuracy: {card.test_accuracy:.2%}")
    else:
        print(f"no MNIST ({missing}): the model has no digit-likeness score (nothing is "
              "flagged unusual) and no test accuracy; import again with --data-dir to add them")
    print(f"written to {args.out}")
    return 0
