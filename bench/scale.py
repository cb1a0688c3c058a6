"""Training on several processes: `digitrec train` alone against the same run under
`torchrun --nproc-per-node 2` (gloo on a CPU, NCCL on GPUs), side by side in one run.

    python bench/scale.py                     # --preset default, about 8 minutes on 2 cores
    python bench/scale.py --preset fast       # a quick look

Each run is the full recipe, seed 0, in a fresh process (alone: every core as torch threads;
two processes: the cores shared out between them), timed from the command's start. Reported:
training images a second (the median epoch's, counting the whole group's images), the scaling
efficiency (two processes' rate over twice one's), wall seconds, and test accuracy read back
from each exported model: the two-process run must reach the single process's accuracy.
Prints the table and writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from read import save  # bench/read.py, beside this script

import digitrec

RESULTS = Path(__file__).parent / "results" / "scale.json"


def run(processes: int, preset: str, out: Path) -> dict:
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", str(processes)]
    began = time.perf_counter()
    done = subprocess.run([*launcher, "-m", "digitrec", "train", "--preset", preset,
                           "--seed", "0", "--quiet", "--overwrite", "--out", str(out)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"{processes} process(es) failed: {done.stderr.strip()[-2000:]}")
    history = torch.load(out / "checkpoint.pt", weights_only=True)["history"]
    card = digitrec.load_model(out / "model.onnx").card
    return {"processes": processes, "wall_s": wall,
            "images_per_s": statistics.median(h["images_per_second"] for h in history),
            "test_accuracy": card.test_accuracy, "validation_accuracy": card.validation_accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(n, args.preset, Path(tmp) / f"p{n}") for n in (1, 2)]
    rows[1]["efficiency"] = rows[1]["images_per_s"] / (2 * rows[0]["images_per_s"])
    report = save({"benchmark": "scale", "preset": args.preset, "device": device,
                   "rows": rows}, args.output)
    print(f"--preset {args.preset} on {device}")
    print("| processes | images/s | scaling efficiency | wall s | test acc. |")
    print("|---|---|---|---|---|")
    for r in report["rows"]:
        eff = f"{r['efficiency']:.0%}" if "efficiency" in r else "-"
        print(f"| {r['processes']} | {r['images_per_s']:,.0f} | {eff} | {r['wall_s']:.0f} | "
              f"{r['test_accuracy']:.2%} |")
    print(f"written to {report['output']}")


if __name__ == "__main__":
    main()
