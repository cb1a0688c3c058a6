"""`digitrec predict FOLDER` on large folders: peak memory, time to the first row, and time.

    python bench/folder.py                      # 1,000, 8,000 and 60,000 images
    python bench/folder.py --counts 2000        # one size

The folder holds MNIST test digits as 28x28 PNGs (written once, then hard-linked to reach the
count). Each size runs `python -m digitrec predict FOLDER --json` in one process (--jobs 1) and
with every core (the default beyond 64 images), stdout read by this script line by line; memory
is the peak resident set of the command and its workers. Prints a table and writes
bench/results/folder.json.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import results_path, tree_rss_mb, write_json
from PIL import Image

RESULTS = results_path("folder.json")
DISTINCT = 1000  # images written; the rest are hard links to them
GOAL_MB = 300


def make_folder(folder: Path, count: int, data_dir: str | None) -> None:
    from digitrec.data import load_mnist

    mnist = load_mnist(data_dir, allow_download=False, progress=False)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(min(count, DISTINCT)):
        out = io.BytesIO()
        Image.fromarray(255 - mnist.test_images[k]).save(out, "PNG")  # dark ink on paper
        (folder / f"{k:06d}.png").write_bytes(out.getvalue())
    for k in range(DISTINCT, count):
        os.link(folder / f"{k % DISTINCT:06d}.png", folder / f"{k:06d}.png")


def run(folder: Path, jobs: list[str]) -> dict:
    """One run of predict on the folder: peak memory, first row, rows, seconds."""
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "digitrec", "predict", str(folder), "--json",
                             *jobs], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    peak, done = 0.0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    first, rows = None, 0
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith('    "file"'):
            rows += 1
            first = first or time.perf_counter() - began
    proc.wait()
    done.set()
    sampler.join()
    return {"jobs": jobs[1] if jobs else "all cores", "rows": rows, "exit": proc.returncode,
            "peak_mb": round(peak, 1), "first_row_s": round(first or 0, 2),
            "seconds": round(time.perf_counter() - began, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 8000, 60000])
    parser.add_argument("--data-dir", default=os.environ.get("DIGITREC_DATA"))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.counts:
            folder = Path(tmp) / str(count)
            make_folder(folder, count, args.data_dir)
            for jobs in (["--jobs", "1"], []):
                results.append({"images": count, **run(folder, jobs)})
                print(results[-1], file=sys.stderr)
    print(f"goal: at most {GOAL_MB} MB for 60,000 images")
    print("| images | processes | rows | peak MB | first row s | seconds |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['images']:,} | {r['jobs']} | {r['rows']:,} | {r['peak_mb']} | "
              f"{r['first_row_s']} | {r['seconds']} |")
    write_json(args.output, {"goal_mb": GOAL_MB, "runs": results})
    return 0 if all(r["exit"] == 0 and r["rows"] == r["images"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
