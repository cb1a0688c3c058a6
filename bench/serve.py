"""Load on `digitrec serve`: requests/s, latency and memory with 32 concurrent clients.

    python bench/serve.py                       # 1 and 2 server workers, 3 rounds each
    python bench/serve.py --workers 1 --seconds 5
    python bench/serve.py --workers 2 --feedback --output bench/results/serve-feedback.json

Starts the real server (`python -m digitrec serve`) on a loopback port, then keeps N clients
busy, each on its own keep-alive connection, posting 28x28 PNGs of MNIST test digits to
/api/predict and reading the JSON answer, for a fixed time or request count, whichever ends
first. The load generator is a bare asyncio HTTP/1.1 client, cheap enough to leave the cores to
the server: it shares this 2-core machine with it. Memory is the resident set of the server's
processes (all workers), sampled through the run; the peak is reported. With --feedback, each
worker count also runs with `serve --feedback` (every reading remembered in the corrections
database for a correction that never comes), interleaved with the run without. Prints a table
and writes bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from _common import (
    add_data_dir,
    percentile,
    results_path,
    start_server,
    stop_server,
    tree_rss_mb,
    write_json,
)
from PIL import Image

from digitrec.cpus import available_cores

RESULTS = results_path("serve.json")


def _request(port: int, body: bytes) -> bytes:
    head = (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: image/png\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _client(port: int, requests: list[bytes], stop: float, budget: list[int],
                  latencies: list[float], failures: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.perf_counter() < stop and budget[0] > 0:
            budget[0] -= 1
            began = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            payload = await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if not head.startswith(b"HTTP/1.1 200") or b'"digit"' not in payload:
                failures.append(head.split(b"\r\n")[0].decode())
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], clients: int, seconds: float,
                max_requests: int) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    failures: list[str] = []
    budget = [max_requests]
    began = time.perf_counter()
    stop = began + seconds
    await asyncio.gather(*(_client(port, requests, stop, budget, latencies, failures)
                           for _ in range(clients)))
    return latencies, failures, time.perf_counter() - began


def measure(workers: int, bodies: list[bytes], clients: int, seconds: float,
            max_requests: int, feedback: Path | None = None) -> dict:
    proc, url = start_server("--workers", str(workers),
                             *(["--feedback", str(feedback)] if feedback else []))
    port = urlsplit(url).port
    try:
        requests = [_request(port, b) for b in bodies]
        asyncio.run(_load(port, requests, clients, 1.0, 10**9))  # warm-up, not measured
        peak = [tree_rss_mb(proc.pid)]

        async def sampled() -> tuple[list[float], list[str], float]:
            task = asyncio.create_task(_load(port, requests, clients, seconds, max_requests))
            while not task.done():
                peak.append(tree_rss_mb(proc.pid))
                await asyncio.sleep(0.2)
            return await task

        latencies, failures, wall = asyncio.run(sampled())
    finally:
        stop_server(proc)
    latencies.sort()
    return {
        "workers": workers, "feedback": feedback is not None, "clients": clients,
        "requests": len(latencies),
        "failures": len(failures), "seconds": wall,
        "requests_per_s": len(latencies) / wall,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "peak_rss_mb": max(peak),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="per round")
    parser.add_argument("--max-requests", type=int, default=50_000, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--feedback", action="store_true",
                        help="also run each worker count with serve --feedback")
    add_data_dir(parser)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from digitrec.data import load_mnist

    mnist = load_mnist(args.data_dir, progress=False)
    bodies = []
    for image in mnist.test_images[:100]:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        bodies.append(buf.getvalue())

    configurations = [(w, f) for w in args.workers for f in (False, True)[:1 + args.feedback]]
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            # Interleaved, so drift in machine load hits every configuration alike.
            for workers, feedback in configurations:
                db = Path(tmp) / f"feedback-{r}-{workers}.db" if feedback else None
                rounds.append(measure(workers, bodies, args.clients, args.seconds,
                                      args.max_requests, db))
                last = rounds[-1]
                print(f"round {r + 1}, {workers} worker(s){', feedback' * feedback}: "
                      f"{last['requests_per_s']:.0f} req/s, p99 {last['p99_ms']:.1f} ms",
                      file=sys.stderr)
    rows = []
    for workers, feedback in configurations:
        mine = [x for x in rounds if (x["workers"], x["feedback"]) == (workers, feedback)]
        rows.append({
            "workers": workers, "feedback": feedback, "clients": args.clients,
            "rounds": len(mine),
            "requests": sum(x["requests"] for x in mine),
            "failures": sum(x["failures"] for x in mine),
            **{k: statistics.median(x[k] for x in mine)
               for k in ("requests_per_s", "p50_ms", "p99_ms")},
            "peak_rss_mb": max(x["peak_rss_mb"] for x in mine),
        })
    result = {"benchmark": "serve", "command": "python bench/serve.py " + " ".join(sys.argv[1:]),
              "cpus": available_cores(), "rows": rows, "rounds": rounds}
    write_json(args.output, result)
    print("| server workers | feedback | clients | requests | failures | requests/s | p50 ms "
          "| p99 ms | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['workers']} | {'on' if row['feedback'] else 'off'} | {row['clients']} "
              f"| {row['requests']:,} | {row['failures']} "
              f"| {row['requests_per_s']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
              f"| {row['peak_rss_mb']:.0f} |")
    print(f"\nmedians of {args.rounds} rounds of {args.seconds:.0f} s; written to {args.output}")


if __name__ == "__main__":
    main()
