"""What the benchmarks share: where results go and how they are written, the --data-dir
option, timers, a `digitrec serve` on a loopback port, and an edit distance to score readings.

The scripts import it from beside them (`python bench/X.py` puts bench/ first on the path);
tests/conftest.py puts bench/ on the path to start servers with the same code. Only the
standard library is imported up here: bench/versions.py and bench/train_cli.py run other
checkouts' digitrec, and must start even where this checkout's does not import.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"


def results_path(name: str) -> Path:
    """A benchmark's default report, ``name`` in bench/results/."""
    return RESULTS_DIR / name


def write_json(path: Path, data: object, *, indent: int = 2, ensure_ascii: bool = True) -> None:
    """``data`` as JSON (UTF-8, a newline at the end) at ``path``, its folder made if missing.

    All or nothing: a run killed while writing leaves the previous report whole, since the
    text goes to a temporary file beside ``path`` (the same file system, so the rename is
    atomic) that then replaces it.
    """
    text = json.dumps(data, indent=indent, ensure_ascii=ensure_ascii) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save(report: dict, output: Path) -> dict:
    """``report`` with the command that made it, the version and where it went, written
    there as JSON."""
    from digitrec import __version__  # here, not above: see the module's docstring

    report = {**report, "command": f"python {sys.argv[0]} " + " ".join(sys.argv[1:]),
              "versions": {"digitrec": __version__}, "output": str(output)}
    write_json(output, report, indent=1)
    return report


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    """--data-dir, unset by default: `load_mnist(None)` then looks in $DIGITREC_DATA itself."""
    parser.add_argument("--data-dir", help="MNIST folder (default: $DIGITREC_DATA or cache)")


def timings(fn: Callable[[], object], calls: int, warmup: int = 0) -> list[float]:
    """Seconds each of ``calls`` calls of ``fn`` took, after ``warmup`` calls left untimed."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return times


def median_seconds(fn: Callable[[], object], calls: int, warmup: int = 0) -> float:
    """Median seconds of ``calls`` calls of ``fn``, after ``warmup`` calls left untimed."""
    return statistics.median(timings(fn, calls, warmup))


def percentile(ordered: Sequence[float], share: float, *, lower: bool = False) -> float:
    """The sample ``share`` of the way into ``ordered`` (ascending), not interpolated: at
    ``int(share * n)``, or with ``lower`` at ``int(share * (n - 1))`` (numpy's "lower").

    bench/real.py reports its p95 the second way, the others their p50 and p99 the first:
    each keeps its own, so new figures stay comparable with those already published.
    """
    n = len(ordered)
    return ordered[int(share * (n - 1))] if lower else ordered[int(share * n)]


def edit_distance(a: str, b: str) -> int:
    """Characters inserted, deleted or replaced to turn ``a`` into ``b`` (Levenshtein)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*flags: str, preexec_fn: Callable[[], None] | None = None,
                 stderr: int = subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """`digitrec serve` with ``flags`` on a free loopback port, once /healthz answers; the
    process and its base URL. Raises RuntimeError if it exits or is silent for 90 s.

    ``stderr`` stays DEVNULL for the benchmarks: a pipe nobody reads would stall a server
    that logs warnings under load. The tests pass subprocess.PIPE, to show why a start failed.
    """
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "digitrec", "serve", "--port", str(port),
                             *flags], stdout=subprocess.DEVNULL, stderr=stderr,
                            preexec_fn=preexec_fn)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                said = f": {proc.stderr.read().decode()}" if proc.stderr else ""
                raise RuntimeError(f"the server did not start{said}") from None
            time.sleep(0.1)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers)."""
    pids, total = [pid], 0
    while pids:
        p = pids.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            pids += [int(c) for t in Path(f"/proc/{p}/task").iterdir()
                     for c in (t / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total / 1024
