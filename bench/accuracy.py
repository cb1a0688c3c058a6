"""Train every preset side by side: accuracy, wall-clock time, time to accuracy.

    python bench/accuracy.py                    # 3 seeds of each preset, interleaved (~45 min)
    python bench/accuracy.py --presets fast seed --seeds 0
    python bench/accuracy.py --smoke --seeds 0  # seconds: checks the benchmark still runs

Each run is a fresh worker process doing what `digitrec train --preset P --seed S` does (the
same `digitrec.training.run` code: load MNIST, train with a checkpoint per epoch, test once, export
ONNX). Its wall-clock time counts from the moment the process is spawned, so interpreter start,
imports and data loading are in it. To draw time-to-accuracy curves the worker also tests the
network about 50 times during training; that time is excluded from the clock, and nothing is
chosen from it. Test accuracy is read back through the exported ONNX model. Then the `best`
runs' networks are combined into one ensemble model and tested the same way.

Writes bench/results/accuracy.json and time_to_accuracy.png; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS_DIR, add_data_dir, write_json

CURVE_POINTS = 50
THRESHOLDS = (0.99, 0.995)


def onnx_test_accuracy(path: Path, mnist: object) -> float:
    from digitrec.inference import load_digit_model

    probs = load_digit_model(path).probabilities(mnist.test_images)
    return float((probs.argmax(1) == mnist.test_labels).mean())


def load(data_dir: str | None, test_images: int | None) -> object:
    """MNIST, its test set cut to the first ``test_images`` for a smoke run (which measures
    nothing: a smaller test set only makes its checks quicker)."""
    import dataclasses

    from digitrec.data import load_mnist

    mnist = load_mnist(data_dir, progress=False)
    if not test_images:
        return mnist
    return dataclasses.replace(mnist, test_images=mnist.test_images[:test_images],
                               test_labels=mnist.test_labels[:test_images])


def worker(preset: str, seed: int, spawned: float, out: Path, data_dir: str | None,
           subset: int | None, epochs: int | None, points: int,
           test_images: int | None) -> None:
    """Train one preset and print its measurements as JSON on stdout."""
    import dataclasses

    from digitrec.data import VALIDATION_SIZE
    from digitrec.training.networks import count_parameters
    from digitrec.training.recipes import PRESETS
    from digitrec.training.run import Member, train_and_export
    from digitrec.training.state import set_threads
    from digitrec.training.validation import accuracy

    threads = set_threads()
    mnist = load(data_dir, test_images)
    recipe = dataclasses.replace(PRESETS[preset], seed=seed)
    recipe = dataclasses.replace(recipe, epochs=epochs or recipe.epochs)
    n = min(subset or len(mnist.train_labels), len(mnist.train_labels) - VALIDATION_SIZE)
    total_steps = recipe.epochs * -(-n // recipe.batch_size)
    every = max(1, total_steps // points)
    curve: list[tuple[float, float]] = []
    paused = 0.0

    def follow(step: int, model: object) -> None:
        nonlocal paused
        if step % every and step != total_steps:
            return
        began = time.time()
        acc = accuracy(model, mnist.test_images, mnist.test_labels)
        curve.append((began - spawned - paused, acc))
        paused += time.time() - began

    trained = train_and_export(Member(out, recipe), mnist, subset=subset, progress=False,
                               on_step=follow)
    wall = time.time() - spawned - paused
    print(json.dumps({
        "preset": preset,
        "arch": recipe.arch,
        "seed": seed,
        "threads": threads,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "parameters": count_parameters(trained.result.model),
        "onnx_bytes": trained.path.stat().st_size,
        "model": str(trained.path),
        "wall_seconds": wall,
        "val_accuracy": trained.validation_accuracy,
        "test_accuracy": trained.test_accuracy,
        "onnx_test_accuracy": onnx_test_accuracy(trained.path, mnist),
        "curve": curve,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def seconds_to(curve: list[list[float]], target: float) -> float | None:
    return next((s for s, acc in curve if acc >= target), None)


def ensemble(runs: list[dict], out: Path, data_dir: str | None,
             test_images: int | None) -> dict:
    """One model averaging the given runs' networks, tested through ONNX like the others."""
    from digitrec.training.checkpoint import CHECKPOINT_NAME, load_result, read_checkpoint
    from digitrec.training.run import export_ensemble

    mnist = load(data_dir, test_images)
    members = [load_result(read_checkpoint(Path(r["model"]).parent / CHECKPOINT_NAME))
               for r in runs]
    trained = export_ensemble(members, mnist, out)
    return {
        "members": [r["seed"] for r in runs],
        "parameters": sum(r["parameters"] for r in runs),
        "onnx_bytes": trained.path.stat().st_size,
        "val_accuracy": trained.validation_accuracy,
        "test_accuracy": trained.test_accuracy,
        "onnx_test_accuracy": onnx_test_accuracy(trained.path, mnist),
        "wall_seconds": sum(r["wall_seconds"] for r in runs),
        "model": str(trained.path),
    }


def summarise(mine: list[dict]) -> dict:
    """One preset's runs, summarised."""
    accs = [r["onnx_test_accuracy"] for r in mine]
    to = {f"seconds_to_{t}": [seconds_to(r["curve"], t) for r in mine] for t in THRESHOLDS}
    return {
        "arch": mine[0]["arch"],
        "epochs": mine[0]["epochs"],
        "batch_size": mine[0]["batch_size"],
        "parameters": mine[0]["parameters"],
        "onnx_bytes": mine[0]["onnx_bytes"],
        "seeds": [r["seed"] for r in mine],
        "test_accuracy_mean": statistics.fmean(accs),
        "test_accuracy_min": min(accs),
        "test_accuracy_max": max(accs),
        "val_accuracy_mean": statistics.fmean(r["val_accuracy"] for r in mine),
        "wall_seconds_median": statistics.median(r["wall_seconds"] for r in mine),
        "wall_seconds_max": max(r["wall_seconds"] for r in mine),
        **{k: (statistics.median(v) if None not in v else None) for k, v in to.items()},
        "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
    }


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.0f}"


def table(summary: dict[str, dict], ens: dict | None) -> str:
    rows = ["| preset | arch | params | ONNX kB | epochs | test acc. mean (min-max) | wall s "
            "median (max) | s to 99.0% | s to 99.5% |",
            "|---|---|---|---|---|---|---|---|---|"]
    for preset, s in summary.items():
        rows.append(
            f"| {preset} | {s['arch']} | {s['parameters']:,} | {s['onnx_bytes'] / 1000:.0f} "
            f"| {s['epochs']} | {100 * s['test_accuracy_mean']:.2f}% "
            f"({100 * s['test_accuracy_min']:.2f}-{100 * s['test_accuracy_max']:.2f}) "
            f"| {s['wall_seconds_median']:.0f} ({s['wall_seconds_max']:.0f}) "
            f"| {_seconds(s['seconds_to_0.99'])} | {_seconds(s['seconds_to_0.995'])} |")
    if ens:
        rows.append(
            f"| best, ensemble of {len(ens['members'])} | ensemble | {ens['parameters']:,} "
            f"| {ens['onnx_bytes'] / 1000:.0f} | - | {100 * ens['onnx_test_accuracy']:.2f}% "
            f"| {ens['wall_seconds']:.0f} (sum) | - | - |")
    return "\n".join(rows)


def plot(runs: list[dict], presets: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    colours = dict(zip(presets, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for run in runs:
        seconds, accs = zip(*run["curve"], strict=True)
        first = run["seed"] == min(r["seed"] for r in runs if r["preset"] == run["preset"])
        ax.plot(seconds, [100 * a for a in accs], color=colours[run["preset"]], lw=1.2,
                alpha=0.9 if first else 0.45,
                label=f"{run['preset']} ({run['arch']})" if first else None)
    for target in THRESHOLDS:
        ax.axhline(100 * target, color="grey", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(97.0, 100.0)
    ax.set_xlabel("seconds since the command started (2 CPU cores; testing time excluded)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("Time to accuracy, one line per seed")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["fast", "seed", "default", "best"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--smoke", action="store_true",
                        help="1 epoch on 2,000 images, tested on 1,000: checks the script, "
                             "measures nothing")
    add_data_dir(parser)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/bench"),
                        help="where the trained models go (default runs/bench)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR)
    parser.add_argument("--report", action="store_true",
                        help="print the table and redraw the plot from the results already in "
                             "--output, without training")
    parser.add_argument("--worker", nargs=3, metavar=("PRESET", "SEED", "SPAWNED"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--subset", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--curve-points", type=int, default=CURVE_POINTS, help=argparse.SUPPRESS)
    parser.add_argument("--test-images", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        preset, seed, spawned = args.worker
        worker(preset, int(seed), float(spawned), args.runs_dir / f"{preset}-seed{seed}",
               args.data_dir, args.subset, args.epochs, args.curve_points, args.test_images)
        return
    if args.report:
        result = json.loads((args.output / "accuracy.json").read_text())
        report(result, args.output)
        return
    extra = []
    if args.smoke:
        extra = ["--subset", "2000", "--epochs", "1", "--curve-points", "2",
                 "--test-images", "1000"]
    if args.data_dir:
        extra += ["--data-dir", args.data_dir]

    runs = []
    for seed in args.seeds:
        for preset in args.presets:  # interleaved, so drift in machine load hits all alike
            cmd = [sys.executable, __file__, "--runs-dir", str(args.runs_dir), *extra,
                   "--worker", preset, str(seed), repr(time.time())]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{preset} seed {seed} failed:\n{out.stderr}")
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            last = runs[-1]
            print(f"{preset} seed {seed}: test {last['onnx_test_accuracy']:.2%} in "
                  f"{last['wall_seconds']:.0f} s", file=sys.stderr)
    summary = {p: summarise([r for r in runs if r["preset"] == p]) for p in args.presets}
    best = [r for r in runs if r["preset"] == "best"]
    ens = (ensemble(best, args.runs_dir / "best-ensemble", args.data_dir,
                    1000 if args.smoke else None) if len(best) > 1 else None)

    import torch

    from digitrec import __version__
    from digitrec.cpus import available_cores

    result = {
        "benchmark": "accuracy",
        "command": "python bench/accuracy.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": available_cores(), "platform": platform.platform(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "digitrec": __version__},
        "summary": summary,
        "ensemble": ens,
        "runs": runs,
    }
    write_json(args.output / "accuracy.json", result)
    report(result, args.output)


def report(result: dict, folder: Path) -> None:
    plot(result["runs"], list(result["summary"]), folder / "time_to_accuracy.png")
    print(table(result["summary"], result["ensemble"]))
    print(f"\nresults in {folder / 'accuracy.json'}, plot in {folder / 'time_to_accuracy.png'}")


if __name__ == "__main__":
    main()
