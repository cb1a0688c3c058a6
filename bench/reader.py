"""Train the sequence reader as a user would, and report how fast and how well it learns.

    python bench/reader.py                     # digitrec train --preset read, timed (~30 min)
    python bench/reader.py --run runs/read     # report a finished run's model, no training

Training is a fresh `digitrec train --preset read` process, timed from its spawn (interpreter
start, imports and data loading included). The report reads the exported model's card: the
validation exact-string accuracy after every epoch against the seconds of training so far,
strings per second, and the test accuracy (exact strings of MNIST *test* digits). Writes
bench/results/reader.json and reader_training.png; prints a table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _common import add_data_dir, results_path, write_json


def train(out: Path, data_dir: str | None) -> float:
    """Seconds from spawning `digitrec train --preset read` to its exit."""
    command = [sys.executable, "-m", "digitrec", "train", "--preset", "read", "--quiet",
               "--overwrite", "--out", str(out)] + (["--data-dir", data_dir] if data_dir else [])
    began = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a finished run's folder: report it, no training")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-read"))
    add_data_dir(parser)
    args = parser.parse_args()

    from digitrec.inference.model import load_card

    wall = None if args.run else train(args.out, args.data_dir)
    _, card = load_card((args.run or args.out) / "model.onnx")
    history = card.history or []
    elapsed, rows = 0.0, []
    for h in history:
        elapsed += h["seconds"]
        rows.append({"epoch": h["epoch"], "training_seconds": elapsed,
                     "validation_exact": h["val_accuracy"], "strings_per_second":
                     h["images_per_second"]})
    report = {"benchmark": "reader", "command": "python bench/reader.py " + " ".join(sys.argv[1:]),
              "wall_seconds": wall, "test_exact": card.test_accuracy, "recipe": card.recipe,
              "parameters": card.parameters, "epochs": rows}
    write_json(results_path("reader.json"), report, indent=1)
    print("| epoch | training s | validation exact | strings/s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['epoch']} | {r['training_seconds']:.0f} | {r['validation_exact']:.1%} | "
              f"{r['strings_per_second']:.0f} |")
    timed = f"{wall / 60:.1f} min from the command's start" if wall else "not timed (--run)"
    print(f"test exact {card.test_accuracy:.1%}; {timed}")
    _plot(rows)


def _plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["training_seconds"] / 60 for r in rows],
            [100 * r["validation_exact"] for r in rows], marker="o")
    ax.set_xlabel("minutes of training (epochs' time, 2 CPU cores)")
    ax.set_ylabel("validation strings read exactly (%)")
    ax.set_title("digitrec train --preset read")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(results_path("reader_training.png"), dpi=120)


if __name__ == "__main__":
    main()
