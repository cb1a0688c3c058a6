"""Two versions of digitrec side by side: is the newer one slower to start or to read an image?

    git worktree add /tmp/before <commit>
    python bench/versions.py /tmp/before/src            # against this checkout's src/
    python bench/versions.py /tmp/before/src OTHER/src --rounds 7

For refactors that must not cost speed. Each round runs, for each version in turn (the order
alternating from round to round, so drift in the machine's speed falls on both), a fresh
process that times what bench/predict.py times for the shipped model: `digitrec predict` on
one PNG from the command's start (median of 5 starts), one 28x28 PNG end to end and one
640x480 photo end to end (medians of 300 and 100 calls), and preprocessing alone. Reports the
median over rounds and the ratio newer / older. Writes bench/results/versions.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import results_path, write_json

RESULTS = results_path("versions.json")
HERE = Path(__file__).resolve().parents[1] / "src"

# Runs inside each version: only APIs both old and new layouts have (load_model, predict,
# digitrec.synthetic.render, and the module that holds preprocess in that version).
PROBE = r"""
import io, json, statistics, subprocess, sys, tempfile, time
import numpy as np
from PIL import Image
import digitrec
from digitrec.data import load_mnist
from digitrec.synthetic import render
try:
    from digitrec.vision import preprocess
except ImportError:
    from digitrec.preprocess import preprocess

def median_ms(fn, n):
    for _ in range(5):
        fn()
    times = []
    for _ in range(n):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)

mnist = load_mnist(progress=False)
png = tempfile.NamedTemporaryFile(suffix=".png", delete=False).name
Image.fromarray(mnist.test_images[0]).save(png)
png_bytes = open(png, "rb").read()
for seed in range(100):
    photo = render(mnist.test_images[1], np.random.default_rng(seed), "photo")
    if Image.open(io.BytesIO(photo.data)).size == (640, 480):
        break
starts = []
for _ in range(5):
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "digitrec", "predict", png], check=True,
                   capture_output=True)
    starts.append(time.perf_counter() - t)
model = digitrec.load_model()
print(json.dumps({
    "cold_start_s": statistics.median(starts),
    "e2e_28x28_ms": median_ms(lambda: model.predict(png_bytes), 300),
    "e2e_photo_ms": median_ms(lambda: model.predict(photo.data), 100),
    "preprocess_28x28_ms": median_ms(lambda: preprocess(png_bytes), 300),
    "preprocess_photo_ms": median_ms(lambda: preprocess(photo.data), 100),
}))
"""


def probe(src: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("older", type=Path, help="the older version's src/ folder")
    parser.add_argument("newer", type=Path, nargs="?", default=HERE,
                        help="the newer version's src/ folder (default: this checkout's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"older": [], "newer": []}
    for k in range(args.rounds):
        order = ["older", "newer"] if k % 2 == 0 else ["newer", "older"]
        for which in order:
            runs[which].append(probe(getattr(args, which)))
        print(f"round {k + 1}/{args.rounds} done", file=sys.stderr)
    medians = {which: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
               for which, rs in runs.items()}
    print("| measure | older | newer | newer / older |")
    print("|---|---|---|---|")
    for key in medians["older"]:
        old, new = medians["older"][key], medians["newer"][key]
        print(f"| {key} | {old:.3f} | {new:.3f} | {new / old:.2f} |")
    write_json(args.output, {
        "benchmark": "versions", "command": "python bench/versions.py " + " ".join(sys.argv[1:]),
        "older": str(args.older), "newer": str(args.newer), "rounds": runs,
        "medians": medians}, indent=1)


if __name__ == "__main__":
    main()
