"""Scaling out: training under torchrun, and reading an archive with worker processes, each
against one process, side by side in one run.

    python bench/scale.py                     # about 12 minutes on 2 cores
    python bench/scale.py --preset fast --images 1000    # a quick look
    python bench/scale.py --reading-only      # the archive's rows alone, about 4 minutes
    python bench/scale.py --processes 1 --torchrun-one --jobs 1 4 16 --no-dask   # one GPU

Training: `digitrec train` alone against the same run under `torchrun --nproc-per-node 2`
(gloo on a CPU, NCCL on GPUs). Each run is the full recipe, seed 0, in a fresh process (alone:
every core as torch threads; two processes: the cores shared out between them), timed from the
command's start. Reported: training images a second (the median epoch's, counting the whole
group's images), the scaling efficiency (two processes' rate over twice one's), wall seconds,
and test accuracy read back from each exported model: the two-process run must reach the
single process's accuracy.

Reading: ``--images`` photo-like images (MNIST test digits through `digitrec.synthetic.render`:
photos, scans, boards and canvases, PNG and JPEG) read by `digitrec predict DIR --output
FILE.jsonl` with 1 and 2 worker processes, and by `digitrec.cluster.read_paths` on a Dask
LocalCluster of 2 single-thread workers started by the script (whose rows must equal the
CLI's): images a second from the command's start (model loading and the cluster's start
included) and the speed-up. Prints both tables and writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import add_data_dir, results_path, save

import digitrec

RESULTS = results_path("scale.json")


def run(processes: int, preset: str, out: Path, data_dir: str | None,
        torchrun: bool = False) -> dict:
    """One training run in a fresh process, or ``processes`` under torchrun (also one, with
    ``torchrun``: a group of one, the distributed path where a machine has one GPU)."""
    torchrun = torchrun or processes > 1
    launcher = [sys.executable] if not torchrun else [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", str(processes)]
    data = ["--data-dir", data_dir] if data_dir else []
    began = time.perf_counter()
    done = subprocess.run([*launcher, "-m", "digitrec", "train", "--preset", preset,
                           "--seed", "0", "--quiet", "--overwrite", "--out", str(out), *data],
                          capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"{processes} process(es) failed: {done.stderr.strip()[-2000:]}")
    history = torch.load(out / "checkpoint.pt", weights_only=True)["history"]
    card = digitrec.load_model(out / "model.onnx").card
    return {"processes": processes, "torchrun": torchrun, "wall_s": wall,
            "images_per_s": statistics.median(h["images_per_second"] for h in history),
            "test_accuracy": card.test_accuracy, "validation_accuracy": card.validation_accuracy}


def make_archive(folder: Path, count: int, data_dir: str | None) -> None:
    from digitrec.data import load_mnist
    from digitrec.synthetic import render

    mnist = load_mnist(data_dir, progress=False)
    rng = np.random.default_rng(0)
    for k in range(count):
        rendered = render(mnist.test_images[k % len(mnist.test_images)], rng)
        (folder / f"{k:05d}{rendered.suffix}").write_bytes(rendered.data)


def read_archive(folder: Path, jobs: int, output: Path) -> dict:
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "digitrec", "predict", str(folder), "--jobs",
                           str(jobs), "--output", str(output)], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode not in (0, 1):  # 1: some images could not be read
        sys.exit(f"reading with {jobs} jobs failed: {done.stderr.strip()[-2000:]}")
    images = sum(1 for _ in output.open())
    return {"jobs": jobs, "images": images, "wall_s": wall, "images_per_s": images / wall,
            "summary": done.stdout.strip()}


# A fresh process, as a user's script would run: start a cluster of 2 single-thread worker
# processes on this machine, read the archive on it, write the rows as JSON lines. Dask's
# nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which hands freed memory back at
# once; for images (megabyte arrays made and freed for every one) that costs page faults: the
# second row raises it (README: On a Dask cluster).
_DASK = """
import json, sys
import dask
from dask.distributed import Client, LocalCluster
from digitrec.cluster import read_paths
if sys.argv[3] != "default":
    trim = int(sys.argv[3])
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": trim})
paths = sorted(json.loads(line)["file"] for line in open(sys.argv[1]))
with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \\
        Client(cluster) as client:
    rows = read_paths(paths, client=client)
with open(sys.argv[2], "w") as out:
    out.writelines(json.dumps(row) + "\\n" for row in rows)
"""


def read_on_dask(reference: Path, output: Path, trim: int | None = None) -> dict:
    """The archive read on a Dask LocalCluster of 2 workers, with glibc's trim threshold
    ``trim`` in the workers (else Dask's); its rows must equal the CLI's."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _DASK, str(reference), str(output),
                           str(trim or "default")], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        sys.exit(f"reading on Dask failed: {done.stderr.strip()[-2000:]}")
    rows, expected = output.read_text().splitlines(), reference.read_text().splitlines()
    how = f"MALLOC_TRIM_THRESHOLD_ {trim >> 20} MiB" if trim else "Dask's defaults"
    return {"jobs": f"dask, 2 workers, {how}", "images": len(rows), "wall_s": wall,
            "images_per_s": len(rows) / wall, "same_rows_as_cli": rows == expected}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--images", type=int, default=10_000)
    add_data_dir(parser)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2],
                        help="training runs: 1 alone, more under torchrun (none: skip)")
    parser.add_argument("--torchrun-one", action="store_true",
                        help="add a run of one process under torchrun (on a one-GPU machine, "
                             "the NCCL path)")
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2],
                        help="reading runs: worker processes (none: skip reading)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask rows")
    parser.add_argument("--reading-only", action="store_true",
                        help="skip the training runs (about 8 of the 12 minutes)")
    args = parser.parse_args()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    runs = [] if args.reading_only else [(n, False) for n in args.processes]
    runs += [(1, True)] if args.torchrun_one else []
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(n, args.preset, Path(tmp) / f"p{k}", args.data_dir, torchrun)
                for k, (n, torchrun) in enumerate(runs)]
        reading = []
        if args.jobs:
            archive = Path(tmp) / "archive"
            archive.mkdir()
            make_archive(archive, args.images, args.data_dir)
            reading = [read_archive(archive, jobs, Path(tmp) / f"read-{jobs}.jsonl")
                       for jobs in args.jobs]
            if not args.no_dask:
                reference = Path(tmp) / f"read-{args.jobs[-1]}.jsonl"
                reading += [read_on_dask(reference, Path(tmp) / "dask.jsonl", trim)
                            for trim in (None, 128 << 20)]
    for r in rows[1:]:
        r["efficiency"] = r["images_per_s"] / (r["processes"] * rows[0]["images_per_s"])
    for r in reading[1:]:
        r["speed_up"] = r["images_per_s"] / reading[0]["images_per_s"]
    report = save({"benchmark": "scale", "preset": args.preset, "device": device,
                   "rows": rows, "reading": reading}, args.output)
    if rows:
        print(f"--preset {args.preset} on {device}")
    print("| processes | images/s | scaling efficiency | wall s | test acc. |")
    print("|---|---|---|---|---|")
    for r in report["rows"]:
        eff = f"{r['efficiency']:.0%}" if "efficiency" in r else "-"
        name = f"{r['processes']}{' (torchrun)' if r['torchrun'] and r['processes'] == 1 else ''}"
        print(f"| {name} | {r['images_per_s']:,.0f} | {eff} | {r['wall_s']:.0f} | "
              f"{r['test_accuracy']:.2%} |")
    print(f"\nreading {args.images:,} photo-like images (digitrec predict DIR --output, and "
          f"digitrec.cluster.read_paths)")
    print("| jobs | images/s | speed-up | wall s |")
    print("|---|---|---|---|")
    for r in report["reading"]:
        up = f"{r['speed_up']:.2f}x" if "speed_up" in r else "-"
        print(f"| {r['jobs']} | {r['images_per_s']:,.0f} | {up} | {r['wall_s']:.1f} |")
    print(f"written to {report['output']}")


if __name__ == "__main__":
    main()
