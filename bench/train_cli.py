"""What `digitrec train` costs a user from the command line, the calibration that ends every
training included: the `fast` preset against the `seed` recipe, side by side in one run.

    python bench/train_cli.py                       # fast (cache cold), seed, fast (cache warm)
    python bench/train_cli.py --baseline OTHER/src  # the same with another checkout, first

Each run is `digitrec train --preset P --quiet` in a fresh process into an empty folder, timed
from spawn to exit. The calibration cache ($XDG_CACHE_HOME/digitrec/calibration) starts empty
in a folder of its own, so the first run renders what calibration fits on, as a user's first
training does, and later runs find it. Prints a table and writes bench/results/train_cli.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import results_path, write_json

RESULTS = results_path("train_cli.json")
GOAL = 0.35  # the fast preset's time as a share of the seed recipe's


def train(preset: str, work: Path, cache: Path, data_dir: str | None,
          pythonpath: str | None = None) -> float:
    """Seconds for one `digitrec train --preset PRESET`, from spawn to exit."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    if data_dir:
        env["DIGITREC_DATA"] = data_dir
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = Path(tempfile.mkdtemp(dir=work)) / "run"
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "digitrec", "train", "--preset", preset,
                           "--out", str(out), "--quiet"], env=env, capture_output=True,
                          text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"digitrec train --preset {preset} failed: {done.stderr.strip()}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("DIGITREC_DATA"))
    parser.add_argument("--baseline", metavar="SRC",
                        help="another checkout's src folder, run first (fast, then seed) with "
                             "a cache of its own")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    runs = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        plan = [("this", "fast", "cold"), ("this", "seed", "warm"), ("this", "fast", "warm")]
        if args.baseline:
            plan = [("baseline", "fast", "none"), ("baseline", "seed", "none"), *plan]
        for code, preset, cache in plan:
            seconds = train(preset, work, work / f"cache-{code}", args.data_dir,
                            args.baseline if code == "baseline" else None)
            runs.append({"code": code, "preset": preset, "cache": cache,
                         "seconds": round(seconds, 1)})
            print(f"{code} {preset} ({cache} cache): {seconds:.1f} s", file=sys.stderr)
    print("| code | preset | calibration cache | seconds | share of the seed recipe's |")
    print("|---|---|---|---:|---:|")
    for run in runs:
        seed = next(r["seconds"] for r in runs if r["code"] == run["code"]
                    and r["preset"] == "seed")
        run["share_of_seed"] = round(run["seconds"] / seed, 3)
        print(f"| {run['code']} | {run['preset']} | {run['cache']} | {run['seconds']} | "
              f"{run['share_of_seed']:.2f}x |")
    write_json(args.output, {"goal_share": GOAL, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
