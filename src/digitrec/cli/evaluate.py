"""`digitrec evaluate`: test a model on MNIST's test set, print the tables, write the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_data_dir, add_model, add_threads


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate", help="test a model on MNIST's 10,000 test images and write a report",
        description="Print test accuracy, per-class precision/recall/F1 and the confusion "
                    "matrix; write report.json and figures into the report folder.")
    add_model(p, "ONNX model to test")
    p.add_argument("--report-dir", metavar="DIR", default="report",
                   help="folder for report.json and the PNG figures (default: report)")
    add_data_dir(p)
    add_threads(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..data import load_mnist
    from ..evaluation.metrics import evaluate, format_tables
    from ..evaluation.report import write_report
    from ..inference import load_digit_model

    model = load_digit_model(args.model or args.settings.model, threads=args.threads)
    mnist = load_mnist(args.data_dir, settings=args.settings)
    ev = evaluate(model, mnist.test_images, mnist.test_labels)
    print(f"model: {model.path}")
    print(format_tables(ev))
    written = write_report(ev, mnist.test_images, model, Path(args.report_dir))
    print(f"\nreport written to {args.report_dir}: " + ", ".join(p.name for p in written))
    return 0
