"""What one hostile client can cost `digitrec serve`: memory held, other users' latency, and
connections held open.

    python bench/limits.py                 # the issue's attacks, full size
    python bench/limits.py --smoke         # smaller, for the tests

Starts the real server with a low file-descriptor limit (256, as a small container may give),
warms it up, and takes its resident memory at rest. Then, while one well-behaved user posts a
small drawing every 100 ms and times the answers:
  1. four uploads at once of the largest image the server accepts (a 16-megapixel PNG with
     transparency: the costliest to decode) to /api/predict, and one each to /api/read and
     /api/calc;
  2. two batch requests at once of 8 such images each;
  3. an image over the server's pixel cap (7000x7000), which must be refused (413);
  4. 300 connections that never finish their request headers (slowloris), some sending
     nothing, some a byte at a time, which must be closed while the user is still answered;
  5. reads of a 12-digit number with patterns a backtracking engine takes minutes on
     (``((\\d*)*)*x`` and others), 16 at once (4 in the smoke run).
Memory is sampled every 20 ms through the attacks; peak and after are reported beyond rest.
Prints a table and writes bench/results/limits.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
from _common import results_path, start_server, stop_server, tree_rss_mb, write_json
from PIL import Image, ImageDraw

RESULTS = results_path("limits.json")
GOAL_MB = 300
FILES = 256  # the server's file-descriptor limit, soft and hard


def _png(side: int, mode: str = "RGBA") -> bytes:
    image = Image.new(mode, (side, side), (255, 255, 255, 0) if mode == "RGBA" else 255)
    ImageDraw.Draw(image).line((side // 3, side // 4, side // 2, 3 * side // 4),
                               fill="black", width=max(2, side // 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# Patterns of nested repeats: Python's `re` took minutes on a 12-digit line with the first.
HOSTILE = (r"((\d*)*)*x", r"(\d*\d*)*x", r"((\d+)*)+x", r"(\d?){30}\d{30}")


def _number_png() -> bytes:
    """A 12-digit number, dark on light, as a PNG."""
    from PIL import ImageFont

    image = Image.new("L", (720, 120), 255)
    ImageDraw.Draw(image).text((20, 20), "314159265358", fill=0,
                               font=ImageFont.load_default(size=64))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _start(header_timeout: float) -> tuple[subprocess.Popen, str]:
    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FILES, FILES))

    return start_server("--header-timeout", str(header_timeout), preexec_fn=few_files)


class Sampler(threading.Thread):
    """The server's resident memory, every 20 ms, until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            time.sleep(0.02)


class User(threading.Thread):
    """A well-behaved user: a small drawing every 100 ms; each answer's time and status."""

    def __init__(self, url: str, drawing: bytes) -> None:
        super().__init__(daemon=True)
        self.url, self.drawing, self.done = url, drawing, threading.Event()
        self.times: list[float] = []
        self.failures = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as http:
            while not self.done.is_set():
                began = time.perf_counter()
                try:
                    ok = http.post("/api/predict", content=self.drawing).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.times.append(time.perf_counter() - began)
                self.failures += not ok
                time.sleep(0.1)


def _latency(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"n": len(ordered), "median_ms": round(1000 * statistics.median(ordered), 1),
            "max_ms": round(1000 * ordered[-1], 1)}


def attack(url: str, pid: int, drawing: bytes, name: str, requests: list) -> dict:
    """Send ``requests`` (path, files or body) at once, with the user and the sampler on."""
    sampler, user = Sampler(pid), User(url, drawing)
    sampler.start(), user.start()
    time.sleep(0.5)
    began = time.perf_counter()

    def send(request: tuple) -> int:
        path, payload = request
        with httpx.Client(base_url=url, timeout=300) as http:
            if payload is None:
                return http.get(path).status_code
            if isinstance(payload, list):
                return http.post(path, files=[("files", (f"{k}.png", data, "image/png"))
                                              for k, data in enumerate(payload)]).status_code
            return http.post(path, content=payload).status_code

    with ThreadPoolExecutor(len(requests)) as pool:
        statuses = list(pool.map(send, requests))
    seconds = time.perf_counter() - began
    time.sleep(0.5)
    user.done.set(), sampler.done.set()
    user.join(), sampler.join()
    return {"attack": name, "statuses": statuses, "seconds": round(seconds, 2),
            "peak_mb": round(sampler.peak, 1), "after_mb": round(tree_rss_mb(pid), 1),
            "user": _latency(user.times), "user_failures": user.failures}


def slowloris(url: str, drawing: bytes, connections: int, header_timeout: float) -> dict:
    """Open ``connections`` that never finish their headers (a third send nothing, the others
    a byte every half second); the user's answers meanwhile, and how many are closed."""
    port = int(url.rsplit(":", 1)[1])
    held: list[socket.socket] = []
    for k in range(connections):
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
        if k % 3:
            held[-1].sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\n")
    user = User(url, drawing)
    user.start()
    stop = time.monotonic() + header_timeout + 2
    while time.monotonic() < stop:  # trickle: each open one sends a byte of a header
        for s in held:
            with contextlib.suppress(OSError):
                s.sendall(b"X")
        time.sleep(0.5)
    user.done.set()
    user.join()
    closed = 0
    for s in held:  # closed: the server hung up, after a 400 for garbage or without a word
        s.settimeout(0.05)
        try:
            while s.recv(4096):
                pass
            closed += 1
        except TimeoutError:
            pass
        except OSError:
            closed += 1
        s.close()
    return {"attack": f"{connections} slow connections", "opened": len(held), "closed": closed,
            "seconds": round(header_timeout + 2, 1), "user": _latency(user.times),
            "user_failures": user.failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="fewer, smaller requests")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    side, batch, slow = (2000, 2, 60) if args.smoke else (4000, 8, 300)
    header_timeout = 2.0 if args.smoke else 5.0
    big, over, drawing = _png(side), _png(7000, "L"), _png(280, "L")
    number = _number_png()
    proc, url = _start(header_timeout)
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            for path in ("/api/predict", "/api/read", "/api/calc"):  # warm: every model loaded
                for _ in range(3):
                    http.post(path, content=drawing).raise_for_status()
            http.post("/api/predict", content=_png(1000)).raise_for_status()
        time.sleep(1)
        rest = tree_rss_mb(proc.pid)
        runs = [
            attack(url, proc.pid, drawing, f"4 x {side}x{side} + read + calc",
                   [("/api/predict", big)] * 4 + [("/api/read", big), ("/api/calc", big)]),
            attack(url, proc.pid, drawing, f"2 batches of {batch} x {side}x{side}",
                   [("/api/predict/batch", [big] * batch)] * 2),
            attack(url, proc.pid, drawing, "7000x7000 (over the cap)", [("/api/predict", over)]),
            slowloris(url, drawing, slow, header_timeout),
            attack(url, proc.pid, drawing, "hostile patterns on a 12-digit number",
                   [(f"/api/read?pattern={quote(pattern)}", number)
                    for pattern in HOSTILE * (1 if args.smoke else 4)]),
        ]
        calm = attack(url, proc.pid, drawing, "no attack (the user alone)", [("/healthz", None)])
    finally:
        stop_server(proc)
    print(f"server at rest: {rest:.0f} MB; file descriptors {FILES}; goal: at most {GOAL_MB} MB "
          "beyond rest")
    print("| attack | statuses | seconds | peak beyond rest MB | after beyond rest MB "
          "| user median / max ms | user failures |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for run in [*runs, calm]:
        statuses = run.get("statuses") or f"{run['closed']}/{run['opened']} closed"
        peak = f"{run['peak_mb'] - rest:.0f}" if "peak_mb" in run else "-"
        after = f"{run['after_mb'] - rest:.0f}" if "after_mb" in run else "-"
        print(f"| {run['attack']} | {statuses} | {run['seconds']} | {peak} | {after} | "
              f"{run['user']['median_ms']} / {run['user']['max_ms']} | {run['user_failures']} |")
    report = {"rest_mb": round(rest, 1), "files": FILES, "goal_mb": GOAL_MB,
              "header_timeout": header_timeout, "image_side": side, "runs": runs, "calm": calm}
    write_json(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
