"""What each other writers' source adds to a digit network: one recipe trained on MNIST alone, on
MNIST and every source in data/writers, and on MNIST and every source but one, each measured on
digits by writers none of them learned from.

    python bench/writers.py                  # the default recipe, 6 runs: about 25 minutes
    python bench/writers.py --preset fast    # a quick look

Each run is `digitrec train --preset P --seed S [--writers DIR]` in its own process, its model
kept in --out/NAME (a rerun measures a model already there instead of training it again). Every
model is measured the same way: MNIST's test set; NSYSU's held-out writers (15% of its exam
sheets, held out of every run that learns NSYSU, and never seen by the others); scikit-learn's
8x8 UCI digits (optdigits' writer-independent test file: other writers than its training files,
the same forms and scanner); and bench/realworld.py's renders of MNIST test digits (photos,
scans, boards, canvases), both through `predict`'s pipeline with the handwriting locator.
Prints a table and writes bench/results/writers.json. Needs the files `python
data/writers/build.py --mirrors DIR` makes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import add_data_dir, results_path, write_json
from realworld import test_digits, uci_accuracy

import digitrec
from digitrec.contract import DIGITS
from digitrec.inference.locator import Locator, load_locator
from digitrec.synthetic import render
from digitrec.writers import load_writers

RESULTS = results_path("writers.json")
WRITERS = Path(__file__).parents[1] / "data" / "writers"


def train(name: str, sources: list[str] | None, args: argparse.Namespace) -> Path:
    """The model of one run: trained now unless --out/NAME already holds it."""
    out = args.out / name
    model = out / "model.onnx"
    if model.exists():
        return model
    # A run stopped part-way continues from its last epoch.
    again = ["--resume"] if (out / "checkpoint.pt").exists() else []
    command = [sys.executable, "-m", "digitrec", "train", "--preset", args.preset, "--seed",
               str(args.seed), "--out", str(out), *again, "--quiet"]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    with tempfile.TemporaryDirectory() as chosen:
        if sources is not None:
            for source in sources:
                (Path(chosen) / f"{source}.npz").symlink_to((args.writers / f"{source}.npz")
                                                            .resolve())
            command += ["--writers", chosen]
        print(f"{name}: training", file=sys.stderr)
        subprocess.run(command, check=True)
    return model


def measure(path: Path, locator: Locator | None, held: tuple[np.ndarray, np.ndarray],
            renders: list[tuple[bytes, int]]) -> dict[str, float]:
    model = digitrec.inference.load_digit_model(path)
    uci = uci_accuracy(model, locator)
    found = [model.predict(data, locator).digit for data, _ in renders]
    return {"mnist_test": model.card.test_accuracy or 0.0,
            "nsysu_held_out": float((model.probabilities(held[0]).argmax(1) == held[1]).mean()),
            "uci": uci["ours"] if uci else float("nan"),
            "renders": float(np.mean([f == label for f, (_, label) in zip(found, renders,
                                                                          strict=True)]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--writers", type=Path, default=WRITERS)
    parser.add_argument("--out", type=Path, default=Path("runs/writers-ablation"))
    parser.add_argument("-n", "--count", type=int, default=1000, help="renders")
    add_data_dir(parser)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    writers = load_writers(args.writers).only(DIGITS)
    sources = sorted({str(w).partition(":")[0] for w in writers.writers})
    nsysu = writers.held_out() & np.char.startswith(writers.writers.astype(str), "nsysu:")
    held = (writers.images[nsysu], np.array([int(c) for c in writers.labels[nsysu]]))
    digits, labels = test_digits(args.count, args.seed, args.data_dir)
    rng = np.random.default_rng(args.seed + 1)
    renders = [(render(d, rng).data, int(label)) for d, label in zip(digits, labels, strict=True)]

    runs: dict[str, list[str] | None] = {"MNIST alone": None, "every source": sources}
    runs.update({f"all but {s}": [o for o in sources if o != s] for s in sources})
    locator = load_locator()
    results: dict[str, dict[str, float]] = {}
    for name, chosen in runs.items():
        folder = name.replace(" ", "-")
        results[name] = measure(train(folder, chosen, args), locator, held, renders)
        # Saved after every run: a long ablation stopped part-way keeps what it measured.
        write_json(args.output, {"benchmark": "writers", "preset": args.preset,
                                 "seed": args.seed, "nsysu_held_out": len(held[1]),
                                 "sources": {s: writers.sources[s]["characters"]
                                             for s in sources},
                                 "renders": len(renders), "results": results})
    print(f"| `{args.preset}` preset, seed {args.seed} | MNIST test | NSYSU held-out writers "
          f"({len(held[1])}) | UCI 8x8 | renders ({len(renders):,}) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['mnist_test']:.2%} | {r['nsysu_held_out']:.1%} | {r['uci']:.1%} "
              f"| {r['renders']:.1%} |")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
