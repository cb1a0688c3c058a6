"""`digitrec info`: what a model file says about itself, from its card."""

from __future__ import annotations

import argparse
import json

# Most telling first; the rest follow in name order.
_FIRST = ["architecture", "parameters", "validation_accuracy", "test_accuracy", "recipe"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print a model file's metadata",
                       description="Print what a digitrec ONNX model says about itself: "
                                   "architecture, recipe, data, accuracies, history.")
    p.add_argument("model", metavar="MODEL", nargs="?",
                   help="ONNX model file (default: $DIGITREC_MODEL, else the shipped "
                        "pretrained model)")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..inference.model import load_card

    path, card = load_card(args.model)  # a digit model or a sequence reader
    info = card.to_dict()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{'model:':<21}{path}")
    history = info.pop("history", [])
    learned = info.pop("training_data", [])
    for key in sorted(info, key=lambda k: (_FIRST.index(k) if k in _FIRST else len(_FIRST), k)):
        value = info[key]
        if isinstance(value, dict):
            value = "\n".join(f"  {k}: {v}" for k, v in value.items())
            print(f"{key}:\n{value}")
        elif isinstance(value, list):  # an ensemble's members
            rows = "\n".join("  " + ", ".join(f"{k} {v}" for k, v in item.items())
                             for item in value)
            print(f"{key}:\n{rows}")
        else:
            print(f"{key + ':':<21}{value}")
    if learned:
        print("\nlearned from:")
        for entry in learned:
            print(f"{entry['count']:>10,}  {entry['data']}; licence: {entry['licence']}")
    if history:
        print("\nepoch  train_loss  train_acc  val_loss  val_acc  seconds")
        for h in history:
            print(f"{h['epoch']:>5}  {h['train_loss']:>10.4f}  {h['train_accuracy']:>9.2%}  "
                  f"{h['val_loss']:>8.4f}  {h['val_accuracy']:>7.2%}  {h['seconds']:>7.1f}")
    return 0
