"""The correction loop end to end through the real server: a writer the shipped model reads
poorly uses the page's API, corrects what it gets wrong, and `digitrec finetune --feedback`
builds a model for them; then the database under load and under a killed server.

    python bench/feedback.py                     # two writers, load and kill; about 10 minutes
    python bench/feedback.py --writers kristi --no-load

A writer is one of bench/adapt.py's handwriting fonts (the two the shipped model read worst
there), rendered as photos, scans, boards and canvases. The loop: `digitrec serve --feedback DB`
on a loopback port; the writer's images go to POST /api/predict one by one; each one read wrong
is corrected through POST /api/feedback with the writer's tag. After 50, 100 and 200
corrections the sending pauses and `digitrec finetune default --feedback DB --writer W
--val-share 0` runs as a user runs it (a fresh process, MNIST from $DIGITREC_DATA); the new
model reads the writer's 500 unseen test images (adapt.py's, so the two benchmarks compare) and
MNIST's test set. The loop's time is the sending and correcting plus the fine-tuning.

Load: 16 client threads, each reading an image and correcting the reading, as fast as the
server answers, for 30 s; every acknowledged correction must be in the database, and no answer
may be a 5xx. Kill: 4 clients correcting, the server SIGKILLed once 200 corrections are
acknowledged; the database must pass `PRAGMA integrity_check` and hold every acknowledged one.
Prints the tables and writes bench/results/feedback.json.
"""

from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _common import results_path, start_server, stop_server, write_json
from adapt import error, images, mnist_accuracy

import digitrec
from digitrec.data import load_mnist

RESULTS = results_path("feedback.json")
MILESTONES = (50, 100, 200)
LOOP_STREAM, TEST_STREAM, TEST = 3, 2, 500  # adapt.py's test images are stream 2
MAX_SENT = 4000  # a writer read this well cannot give 200 corrections: stop there


def serve(db: Path, workers: int = 1) -> tuple[subprocess.Popen, str]:
    return start_server("--feedback", str(db), "--workers", str(workers))


def loop(writer: str, mnist, shipped: digitrec.inference.Model, folder: Path) -> list[dict]:
    """One writer's corrections and fine-tunes; a row per milestone."""
    db = folder / f"{writer}.db"
    test = images(writer, TEST, TEST_STREAM)
    before, missing = error(shipped, test)
    mnist_before = mnist_accuracy(shipped, mnist)
    proc, url = serve(db)
    rows, sent, corrected, sending = [], 0, 0, 0.0
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            stream = iter(images(writer, MAX_SENT, LOOP_STREAM))
            for milestone in MILESTONES:
                began = time.perf_counter()
                while corrected < milestone and sent < MAX_SENT:
                    data, _, digit = next(stream)
                    sent += 1
                    result = http.post("/api/predict", content=data).json()
                    if result["digit"] != digit and result["id"]:
                        answer = http.post("/api/feedback", json={
                            "id": result["id"], "label": str(digit), "writer": writer})
                        answer.raise_for_status()
                        corrected += 1
                sending += time.perf_counter() - began
                if corrected < milestone:
                    break
                model = folder / f"{writer}-{milestone}.onnx"
                began = time.perf_counter()
                subprocess.run([sys.executable, "-m", "digitrec", "finetune", "default",
                                "--feedback", str(db), "--writer", writer, "--out", str(model),
                                "--val-share", "0", "--quiet"],
                               check=True, stdout=subprocess.DEVNULL)
                tuning = time.perf_counter() - began
                tuned = digitrec.inference.load_digit_model(model)
                rows.append({
                    "writer": writer, "corrections": milestone, "images_sent": sent,
                    "error_before": before, "error_after": error(tuned, test)[0],
                    "no_digit": missing, "mnist_before": mnist_before,
                    "mnist_after": mnist_accuracy(tuned, mnist),
                    "sending_seconds": sending, "finetune_seconds": tuning})
                r = rows[-1]
                print(f"{writer:<16}{milestone:>6}{sent:>7}{before:>9.1%}{r['error_after']:>8.1%}"
                      f"{missing:>10.1%}{mnist_before:>9.2%}{r['mnist_after']:>8.2%}"
                      f"{sending:>9.1f}{tuning:>9.1f}", flush=True)
    finally:
        stop_server(proc)
    return rows


def clients(url: str, count: int, image: bytes, stop: threading.Event
            ) -> tuple[list[threading.Thread], list[int], list[int]]:
    """``count`` threads reading ``image`` and correcting each reading until ``stop``; the
    acknowledged corrections' ids and the status of every answer that was not 200."""
    acknowledged: list[int] = []
    refused: list[int] = []

    def run() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while not stop.is_set():
                try:
                    reading = http.post("/api/predict", content=image)
                    if reading.status_code != 200:
                        refused.append(reading.status_code)
                        continue
                    answer = http.post("/api/feedback",
                                       json={"id": reading.json()["id"], "label": "3"})
                except httpx.HTTPError:
                    return  # the server is gone
                if answer.status_code == 200:
                    acknowledged.append(answer.json()["correction"])
                else:
                    refused.append(answer.status_code)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    return threads, acknowledged, refused


def stored(db: Path) -> tuple[set[int], str]:
    with sqlite3.connect(db) as con:
        return ({r[0] for r in con.execute("SELECT id FROM corrections")},
                con.execute("PRAGMA integrity_check").fetchone()[0])


def load(folder: Path, image: bytes, seconds: float, count: int, workers: int = 1) -> dict:
    """``count`` clients correcting for ``seconds``: what was acknowledged, stored, lost."""
    db = folder / "load.db"
    proc, url = serve(db, workers)
    stop = threading.Event()
    threads, acknowledged, refused = clients(url, count, image, stop)
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    stop_server(proc)
    ids, integrity = stored(db)
    return {"clients": count, "workers": workers, "seconds": seconds,
            "acknowledged": len(acknowledged),
            "per_second": len(acknowledged) / seconds, "stored": len(ids),
            "lost": len(set(acknowledged) - ids), "not_200": len(refused),
            "server_errors": sum(s >= 500 for s in refused), "integrity": integrity}


def kill(folder: Path, image: bytes, after: int) -> dict:
    """The server SIGKILLed while 4 clients correct, once ``after`` were acknowledged."""
    db = folder / "kill.db"
    proc, url = serve(db)
    stop = threading.Event()
    threads, acknowledged, refused = clients(url, 4, image, stop)
    deadline = time.monotonic() + 120
    while len(acknowledged) < after:
        if time.monotonic() > deadline:
            stop.set()
            proc.kill()
            raise RuntimeError(f"only {len(acknowledged)} corrections acknowledged in 120 s; "
                               f"answers other than 200: {refused[:5]}")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join()
    ids, integrity = stored(db)
    return {"acknowledged": len(acknowledged), "stored": len(ids),
            "lost": len(set(acknowledged) - ids), "integrity": integrity,
            "server_errors": sum(s >= 500 for s in refused)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", nargs="+", default=["kristi", "dancing-script"])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--no-load", action="store_true", help="skip the load and kill runs")
    parser.add_argument("--work", type=Path,
                        help="keep the databases and models here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    shipped = digitrec.inference.load_digit_model()
    mnist = load_mnist(progress=False)
    print(f"{'writer':<16}{'fixes':>6}{'sent':>7}{'before':>9}{'after':>8}{'no digit':>10}"
          f"{'MNIST':>9}{'after':>8}{'send s':>9}{'tune s':>9}")
    results: dict = {"rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        if args.work:
            args.work.mkdir(parents=True, exist_ok=True)
            tmp = str(args.work)
        for writer in args.writers:
            results["rows"] += loop(writer, mnist, shipped, Path(tmp))
        if not args.no_load:
            image = images(args.writers[0], 1, TEST_STREAM)[0][0]
            results["load"] = load(Path(tmp), image, args.seconds, args.clients)
            print("load: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in results["load"].items()), flush=True)
            results["kill"] = kill(Path(tmp), image, 200)
            print("kill: " + ", ".join(f"{k} {v}" for k, v in results["kill"].items()))
    write_json(args.out, results)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
