"""Train the `seed` recipe and the default recipe side by side and compare them.

    python bench/train.py                 # 3 runs of each, interleaved (about 5 minutes)
    python bench/train.py --repeats 1     # quicker, noisier

Each run trains in a fresh worker process (so peak memory is its own) with a different seed,
and follows test accuracy after every epoch; the test set is only observed here, never used to
choose anything. Prints a Markdown table and writes bench/results/train.json.
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

RESULTS = Path(__file__).parent / "results" / "train.json"


def worker(preset: str, seed: int, data_dir: str | None) -> None:
    """Train one preset and print its measurements as JSON on stdout."""
    import dataclasses

    from digitrec import train
    from digitrec.data import load_mnist
    from digitrec.recipes import PRESETS

    threads = train.set_threads()
    began = time.perf_counter()
    mnist = load_mnist(data_dir, progress=False)
    train_set, val_set = mnist.split()
    recipe = dataclasses.replace(PRESETS[preset], seed=seed)
    test_curve: list[float] = []

    def follow_test_accuracy(stats: train.EpochStats, model: object) -> None:
        test_curve.append(train.accuracy(model, mnist.test_images, mnist.test_labels))

    result = train.fit(recipe, train_set, val_set, progress=False,
                       on_epoch=follow_test_accuracy)
    print(json.dumps({
        "preset": preset,
        "arch": recipe.arch,
        "seed": seed,
        "threads": threads,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "epoch_seconds": [h.seconds for h in result.history],
        "images_per_second": [h.images_per_second for h in result.history],
        "val_accuracy": [h.val_accuracy for h in result.history],
        "test_accuracy": test_curve,
        "wall_seconds": time.perf_counter() - began,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


def summarise(runs: list[dict], presets: list[str]) -> dict[str, dict]:
    summary = {}
    for preset in presets:
        mine = [r for r in runs if r["preset"] == preset]
        summary[preset] = {
            "arch": mine[0]["arch"],
            "epochs": mine[0]["epochs"],
            "batch_size": mine[0]["batch_size"],
            "runs": len(mine),
            "seconds_per_epoch": statistics.median(s for r in mine for s in r["epoch_seconds"]),
            "images_per_second": statistics.median(
                v for r in mine for v in r["images_per_second"]),
            "test_accuracy": statistics.median(r["test_accuracy"][-1] for r in mine),
            "test_accuracy_min": min(r["test_accuracy"][-1] for r in mine),
            "test_accuracy_max": max(r["test_accuracy"][-1] for r in mine),
            "test_accuracy_by_epoch": [statistics.median(col) for col in
                                       zip(*(r["test_accuracy"] for r in mine), strict=True)],
            "wall_seconds": statistics.median(r["wall_seconds"] for r in mine),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
        }
    return summary


def table(summary: dict[str, dict]) -> str:
    rows = ["| preset | arch | epochs x batch | s/epoch | images/s | test acc. (min-max) "
            "| test acc. after each epoch | wall s | peak MB |",
            "|---|---|---|---|---|---|---|---|---|"]
    for preset, s in summary.items():
        curve = " ".join(f"{100 * a:.2f}" for a in s["test_accuracy_by_epoch"])
        rows.append(
            f"| {preset} | {s['arch']} | {s['epochs']} x {s['batch_size']} "
            f"| {s['seconds_per_epoch']:.2f} | {s['images_per_second']:,.0f} "
            f"| {100 * s['test_accuracy']:.2f}% ({100 * s['test_accuracy_min']:.2f}-"
            f"{100 * s['test_accuracy_max']:.2f}) | {curve} | {s['wall_seconds']:.0f} "
            f"| {s['peak_rss_mb']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["seed", "default"])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each preset")
    parser.add_argument("--data-dir", help="MNIST folder (default: $DIGITREC_DATA or cache)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", nargs=2, metavar=("PRESET", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), args.data_dir)
        return

    runs = []
    for repeat in range(args.repeats):
        for preset in args.presets:  # interleaved, so drift in machine load hits both alike
            cmd = [sys.executable, __file__, "--worker", preset, str(repeat)]
            if args.data_dir:
                cmd += ["--data-dir", args.data_dir]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            last = runs[-1]
            print(f"{preset} seed {repeat}: test {last['test_accuracy'][-1]:.2%}, "
                  f"{statistics.median(last['epoch_seconds']):.2f} s/epoch", file=sys.stderr)
    summary = summarise(runs, args.presets)
    ratios = {}
    if "seed" in summary:
        base = summary["seed"]["seconds_per_epoch"]
        ratios = {p: s["seconds_per_epoch"] / base for p, s in summary.items() if p != "seed"}
    import torch

    from digitrec import __version__

    result = {
        "benchmark": "train",
        "command": "python bench/train.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": len(__import__("os").sched_getaffinity(0)),
                    "platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__, "digitrec": __version__},
        "summary": summary,
        "seconds_per_epoch_vs_seed": ratios,
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(table(summary))
    for preset, ratio in ratios.items():
        print(f"\n{preset}: {ratio:.2f}x the seed's seconds per epoch (medians, same run)")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
