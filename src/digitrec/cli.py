"""The `digitrec` command. Each subcommand imports what it needs only when it runs,
so `digitrec info` or `--help` never pay for torch or matplotlib."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import DigitrecError
from .inference import MODEL_ENV
from .recipes import PRESETS, SCHEDULES

if TYPE_CHECKING:
    from .inference import Prediction

# Recipe fields settable from the command line, with their help; the defaults come from the preset.
_RECIPE_FLAGS = {
    "arch": (str, "network architecture: digitnet, digitnet-wide (twice the channels), tiny "
                  "(10k weights, for microcontrollers) or seed (the Keras tutorial's CNN)"),
    "epochs": (int, "passes over the training images"),
    "batch_size": (int, "images per optimiser step"),
    "lr": (float, "learning rate (the peak rate for the onecycle schedule)"),
    "schedule": (str, "learning-rate schedule: " + " or ".join(SCHEDULES)),
    "weight_decay": (float, "AdamW weight decay"),
    "label_smoothing": (float, "label smoothing of the cross-entropy loss, 0 for none"),
    "augment_strength": (float, "scale of every augmentation range, 1 for the full ranges"),
    "variants": (float, "share of training 1s given a European flag and of 7s a crossbar, "
                        "which MNIST rarely has"),
    "seed": (int, "random seed for weights, shuffling and augmentation"),
}
_RECIPE_SWITCHES = {
    "augment": "random rotation, scaling, shifts and elastic distortion of training images",
    "standardize": "standardise pixels to MNIST's mean and standard deviation inside the model",
}


def _preset_values(field: str) -> str:
    return "preset values: " + ", ".join(
        f"{name} {getattr(recipe, field)}" for name, recipe in PRESETS.items())


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the MNIST files; default $DIGITREC_DATA, else "
                        "~/.cache/digitrec/mnist, downloaded there if missing")


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads to use (default: all cores available to this process)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitrec", description="Recognise handwritten digits with a CNN trained on MNIST.")
    parser.add_argument("--version", action="version", version=f"digitrec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train", help="train a network on MNIST and export it to ONNX",
        description="Train on MNIST's 60,000 training images less a 5,000-image validation "
                    "split, checkpoint every epoch, then test once and export an ONNX model. "
                    "Ctrl-C stops after saving the last completed epoch; --resume continues.")
    train.add_argument("--preset", choices=list(PRESETS),
                       help="recipe to start from (default: the --arch's own recipe if it has "
                            "one, else 'default'); the options below override its values")
    for name, (kind, text) in _RECIPE_FLAGS.items():
        train.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind,
                           metavar=kind.__name__.upper(), help=f"{text} ({_preset_values(name)})")
    for name, text in _RECIPE_SWITCHES.items():
        train.add_argument(f"--{name}", dest=name, action=argparse.BooleanOptionalAction,
                           help=f"{text} ({_preset_values(name)})")
    train.add_argument("--out", metavar="DIR",
                       help="folder for checkpoint.pt and model.onnx (default: runs/PRESET)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run saved in --out from its last completed epoch")
    train.add_argument("--overwrite", action="store_true",
                       help="start afresh even if --out holds a checkpoint of an earlier run")
    train.add_argument("--ensemble", type=int, default=1, metavar="N",
                       help="train N networks (seeds SEED to SEED+N-1, each in OUT/member-K) "
                            "and export one model that averages their probabilities")
    train.add_argument("--subset", type=int, metavar="N",
                       help="train on only the first N training images (a quick check)")
    train.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    _add_data_dir(train)
    _add_threads(train)

    evaluate = sub.add_parser(
        "evaluate", help="test a model on MNIST's 10,000 test images and write a report",
        description="Print test accuracy, per-class precision/recall/F1 and the confusion "
                    "matrix; write report.json and figures into the report folder.")
    evaluate.add_argument("--model", metavar="PATH",
                          help="ONNX model to test (default: $DIGITREC_MODEL, else the "
                               "pretrained model shipped with digitrec)")
    evaluate.add_argument("--report-dir", metavar="DIR", default="report",
                          help="folder for report.json and the PNG figures (default: report)")
    _add_data_dir(evaluate)
    _add_threads(evaluate)

    predict = sub.add_parser(
        "predict", help="read the digit in each image",
        description="Read the handwritten digit in each image: photos of paper, scans, canvas "
                    "drawings, MNIST-style images. Each is turned into MNIST's form first (ink "
                    "white on black, cropped, fitted to 20x20, centred by mass in 28x28).")
    predict.add_argument("paths", nargs="+", metavar="PATH",
                         help="image files, folders of images, or glob patterns")
    predict.add_argument("--model", metavar="PATH",
                         help="ONNX model (default: $DIGITREC_MODEL, else the pretrained model "
                              "shipped with digitrec)")
    output = predict.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON, one object per image")
    output.add_argument("--csv", action="store_true", help="print CSV with all probabilities")
    predict.add_argument("--min-confidence", type=float, default=0.5, metavar="P",
                         help="mark answers below this probability as uncertain (default 0.5); "
                              "images unlike any digit the model learned (a letter, a scribble) "
                              "are marked too")
    predict.add_argument("--save-processed", metavar="DIR",
                         help="write the 28x28 image the model saw for each input into DIR")
    predict.add_argument("--show", metavar="OUT.png",
                         help="write a figure: each image, what the model saw, probabilities")
    _add_threads(predict)

    serve = sub.add_parser(
        "serve", help="start the web page and JSON API",
        description="Serve a page to draw or upload a digit and see the answer live, and a JSON "
                    "API (POST /api/predict, /api/predict/batch; GET /api/model, /healthz; "
                    "OpenAPI at /docs). Needs the serve extra.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; "
                            "0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--model", metavar="PATH",
                       help="ONNX model (default: $DIGITREC_MODEL, else the pretrained model "
                              "shipped with digitrec)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="server processes, each with its own copy of the model (default 1)")

    export = sub.add_parser(
        "export", help="write a smaller copy of a model: int8, fp16, or C for firmware",
        description="Write an int8 (static quantisation, calibrated on training images only) "
                    "or fp16 copy of an exported model, with its metadata; predict, serve and "
                    "evaluate load it like any other model. --c-header writes the int8 model "
                    "as C: a header with its weights and forward pass, and the kernels header "
                    "it includes. Needs the train extra (onnx).")
    export.add_argument("model", metavar="MODEL", help="ONNX model made by digitrec train")
    precision = export.add_mutually_exclusive_group(required=True)
    precision.add_argument("--int8", action="store_const", dest="precision", const="int8",
                           help="int8 weights and activations (about 4x smaller weights)")
    precision.add_argument("--fp16", action="store_const", dest="precision", const="fp16",
                           help="fp16 weights (2x smaller); inputs and outputs stay float32")
    precision.add_argument("--c-header", action="store_const", dest="precision", const="c",
                           help="C99 source of the int8 model for firmware (MODEL is quantised "
                                "first unless it is int8 already)")
    export.add_argument("--out", metavar="PATH",
                        help="where to write it (default: MODEL's name with -int8, -fp16, "
                             "or -int8.h)")
    _add_data_dir(export)

    info = sub.add_parser("info", help="print a model file's metadata",
                          description="Print what a digitrec ONNX model says about itself: "
                                      "architecture, recipe, data, accuracies, history.")
    info.add_argument("model", metavar="MODEL", nargs="?",
                      help="ONNX model file (default: $DIGITREC_MODEL, else the shipped "
                           "pretrained model)")
    info.add_argument("--json", action="store_true", help="print the metadata as JSON")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from . import train as training
    from . import workflow
    from .data import VALIDATION_SIZE, load_mnist
    from .models import check_arch

    threads = training.set_threads(args.threads)
    overrides = {name: getattr(args, name) for name in [*_RECIPE_FLAGS, *_RECIPE_SWITCHES]
                 if getattr(args, name) is not None}
    preset = args.preset or (args.arch if args.arch in PRESETS else "default")
    out = Path(args.out or f"runs/{preset}")
    if args.ensemble < 1:
        raise DigitrecError("--ensemble must be at least 1")
    # Member k of an ensemble is the same recipe with seed + k, in a folder of its own.
    dirs = [out] if args.ensemble == 1 else [out / f"member-{k + 1}" for k in range(args.ensemble)]
    ckpt_paths = [d / training.CHECKPOINT_NAME for d in dirs]
    if args.resume:
        recipe = training.resume_recipe(training.read_checkpoint(ckpt_paths[0]), ckpt_paths[0],
                                        overrides)
    else:
        for path in ckpt_paths:
            if path.exists() and not args.overwrite:
                raise DigitrecError(f"{path} holds an earlier run: continue it with --resume, "
                                    f"or start afresh with --overwrite or another --out")
        for path in ckpt_paths:
            path.unlink(missing_ok=True)
        recipe = dataclasses.replace(PRESETS[preset], **overrides)
    check_arch(recipe.arch)  # before loading data, so a typo fails at once

    mnist = load_mnist(args.data_dir, progress=not args.quiet)
    images = min(args.subset or len(mnist.train_labels), len(mnist.train_labels) - VALIDATION_SIZE)
    members = []
    for k, (folder, ckpt_path) in enumerate(zip(dirs, ckpt_paths, strict=True)):
        member = dataclasses.replace(recipe, seed=recipe.seed + k)
        ckpt = None
        if args.resume and ckpt_path.exists():
            ckpt = training.read_checkpoint(ckpt_path)
            training.resume_recipe(ckpt, ckpt_path, dataclasses.asdict(member))
        if not args.quiet:
            which = f"member {k + 1} of {len(dirs)}: " if len(dirs) > 1 else ""
            print(f"{which}training {member.arch} for {member.epochs} epochs on "
                  f"{images:,} images (validation {VALIDATION_SIZE:,}) "
                  f"on {training.pick_device()} with {threads} threads", file=sys.stderr)
        try:
            members.append(workflow.train_and_export(
                member, mnist, folder, resume=ckpt, subset=args.subset,
                progress=not args.quiet))
        except KeyboardInterrupt:
            again = f" --ensemble {args.ensemble}" if args.ensemble > 1 else ""
            print(f"\ninterrupted: completed epochs are saved in {out}; continue with: "
                  f"digitrec train --resume --out {out}{again}", file=sys.stderr)
            return 130
    final = members[0] if len(members) == 1 else workflow.export_ensemble(
        [m.result for m in members], mnist, out)
    for m in members if len(members) > 1 else []:
        print(f"member seed {m.result.recipe.seed}: validation accuracy "
              f"{m.validation_accuracy:.2%}, test accuracy {m.test_accuracy:.2%}")
    print(f"validation accuracy {final.validation_accuracy:.2%}, "
          f"test accuracy {final.test_accuracy:.2%}")
    print(f"model saved to {final.path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data import load_mnist
    from .evaluate import evaluate, format_tables, write_report
    from .inference import load_model

    model = load_model(args.model, threads=args.threads)
    mnist = load_mnist(args.data_dir)
    ev = evaluate(model, mnist.test_images, mnist.test_labels)
    print(f"model: {model.path}")
    print(format_tables(ev))
    written = write_report(ev, mnist.test_images, model, Path(args.report_dir))
    print(f"\nreport written to {args.report_dir}: " + ", ".join(p.name for p in written))
    return 0


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def expand_paths(patterns: list[str]) -> list[tuple[str, str | None]]:
    """(path, problem) for every image named by files, folders and glob patterns."""
    import glob

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


def cmd_predict(args: argparse.Namespace) -> int:
    from .inference import load_model
    from .preprocess import Processed, preprocess

    model = load_model(args.model, threads=args.threads)
    if args.show:  # fail before the work, not after it
        from . import plots
    paths = expand_paths(args.paths)
    processed: dict[str, Processed] = {}
    problems: dict[str, str] = {}
    for path, problem in paths:
        try:
            if problem:
                raise DigitrecError(f"{path}: {problem}")
            processed[path] = preprocess(path)
        except DigitrecError as exc:
            problems[path] = str(exc)
    predictions: dict[str, Prediction] = dict(zip(processed, model.classify(
        list(processed.values())), strict=True))

    rows = [_result_row(path, predictions.get(path), problems.get(path), args.min_confidence)
            for path, _ in paths]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.csv:
        _print_csv(rows)
    else:
        _print_table(rows)
    for problem in problems.values():
        print(f"digitrec: error: {problem}", file=sys.stderr)
    if args.save_processed:
        _save_processed(predictions, Path(args.save_processed))
    if args.show:
        plots.prediction_figure([(p, pred) for p, pred in predictions.items()], Path(args.show))
        print(f"figure written to {args.show}", file=sys.stderr)
    return 1 if problems else 0


def _result_row(path: str, prediction: Prediction | None, problem: str | None,
                min_confidence: float) -> dict:
    if problem is not None:
        return {"file": path, "digit": None, "status": "error", "error": problem}
    if prediction.digit is None:
        return {"file": path, "digit": None, "status": "no digit", "error": prediction.reason}
    return {
        "file": path,
        "digit": prediction.digit,
        "confidence": round(prediction.confidence, 4),
        "status": "ok" if prediction.confidence >= min_confidence else "uncertain",
        "unusual": prediction.unusual,
        "top3": [[d, round(p, 4)] for d, p in prediction.top(3)],
        "probabilities": [round(float(p), 4) for p in prediction.probabilities],
    }


def _print_table(rows: list[dict]) -> None:
    width = max(len("file"), *(len(r["file"]) for r in rows))
    print(f"{'file':<{width}}  digit  confidence  top-3")
    for r in rows:
        if r["status"] in ("error", "no digit"):
            shown = r["error"] if r["status"] == "no digit" else "error: " + r["error"]
            print(f"{r['file']:<{width}}  {'-':>5}  {'':>10}  {shown}")
            continue
        top = "  ".join(f"{d} {p:.0%}" for d, p in r["top3"])
        flag = ("  (uncertain)" if r["status"] == "uncertain" else "") + (
            "  (unlike any digit)" if r["unusual"] else "")
        print(f"{r['file']:<{width}}  {r['digit']:>5}  {r['confidence']:>10.1%}  {top}{flag}")


def _print_csv(rows: list[dict]) -> None:
    import csv

    writer = csv.writer(sys.stdout)
    writer.writerow(["file", "digit", "confidence", "status", "unusual",
                     *(f"p{d}" for d in range(10)), "error"])
    for r in rows:
        probs = r.get("probabilities") or [""] * 10
        writer.writerow([r["file"], "" if r["digit"] is None else r["digit"],
                         r.get("confidence", ""), r["status"], r.get("unusual", ""), *probs,
                         r.get("error", "")])


def _save_processed(predictions: dict, folder: Path) -> None:
    from PIL import Image

    from .atomic import atomic_path

    folder.mkdir(parents=True, exist_ok=True)
    for path, prediction in predictions.items():
        if prediction.processed is None:
            continue
        with atomic_path(folder / f"{Path(path).stem}.png") as tmp:
            Image.fromarray((prediction.processed * 255).round().astype("uint8")).save(tmp, "PNG")


def cmd_serve(args: argparse.Namespace) -> int:
    missing = [m for m in ("fastapi", "uvicorn", "multipart") if not importlib.util.find_spec(m)]
    if missing:
        raise DigitrecError(f"digitrec serve needs the serve extra ({', '.join(missing)} "
                            "missing): pip install 'digitrec[serve]'")
    if args.workers < 1:
        raise DigitrecError("--workers must be at least 1")
    import uvicorn

    if args.workers == 1:
        from .server import create_app

        app = create_app(args.model)  # loads the model: a bad one fails here, in one line
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
        return 0
    # Each worker process loads its own copy. Check the model once, in a child process, so a
    # bad file fails in one line here rather than in every worker, and this supervisor holds
    # neither a model nor the web framework (memory is what limits workers on a small server).
    check = subprocess.run([sys.executable, "-m", "digitrec", "info",
                            *([args.model] if args.model else [])], capture_output=True, text=True)
    if check.returncode:
        raise DigitrecError(check.stderr.strip().removeprefix("digitrec: error: "))
    if args.model:
        os.environ[MODEL_ENV] = str(Path(args.model).resolve())
    uvicorn.run("digitrec.server:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="info")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from . import quantize

    source = Path(args.model)
    if args.precision == "c":
        return _export_c(source, args)
    target = Path(args.out or source.with_name(f"{source.stem}-{args.precision}.onnx"))
    if args.precision == "int8":
        from .data import load_mnist

        (train_images, _), _ = load_mnist(args.data_dir).split()
        quantize.quantize_int8(source, target, train_images)
    else:
        quantize.convert_fp16(source, target)
    print(f"{args.precision} model written to {target} "
          f"({target.stat().st_size / 1000:,.0f} kB, from {source.stat().st_size / 1000:,.0f} kB)")
    return 0


def _export_c(source: Path, args: argparse.Namespace) -> int:
    from .firmware import write_c_header
    from .inference import load_model

    if load_model(source, threads=1).metadata.get("precision") != "int8":
        int8 = (Path(args.out).with_suffix(".onnx") if args.out
                else source.with_name(f"{source.stem}-int8.onnx"))
        cmd_export(argparse.Namespace(**{**vars(args), "precision": "int8", "out": int8}))
        source = int8
    header, kernels = write_c_header(source, Path(args.out or source.with_suffix(".h")))
    print(f"C header written to {header} ({header.stat().st_size / 1000:,.0f} kB), "
          f"with {kernels.name} beside it; the ONNX model it matches is {source}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .inference import load_model

    model = load_model(args.model, threads=1)
    info = model.info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{'model:':<21}{model.path}")
    history = info.pop("history", [])
    # Most telling first; ONNX Runtime returns the keys in no particular order.
    first = ["architecture", "parameters", "validation_accuracy", "test_accuracy", "recipe"]
    for key in sorted(info, key=lambda k: (first.index(k) if k in first else len(first), k)):
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
    if history:
        print("\nepoch  train_loss  train_acc  val_loss  val_acc  seconds")
        for h in history:
            print(f"{h['epoch']:>5}  {h['train_loss']:>10.4f}  {h['train_accuracy']:>9.2%}  "
                  f"{h['val_loss']:>8.4f}  {h['val_accuracy']:>7.2%}  {h['seconds']:>7.1f}")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "serve": cmd_serve, "export": cmd_export, "info": cmd_info}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DigitrecError as exc:
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
