"""Reading archives: many images through worker processes, each loading the model once, the
results streamed in order as JSON lines to a file that a later run can resume.

`predict` and `read` (and `calc`) hand over what to do with each image (a `digitrec.batch.Job`,
which gives the row `--json` prints); this module does the rest: the pool, the output file
(each line flushed as it comes, so an interrupted run loses at most a line, which the next
`--resume` drops), the progress bar and the summary.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..batch import Job, Row
from ..cpus import available_cores
from ..errors import DigitrecError, describe

MANY = 64  # more images than this are read by every core unless --jobs says otherwise

_worker: tuple[Job, Any] | None = None  # this worker process's job and loaded model


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, metavar="N",
                   help=f"worker processes reading images at once, each with the model "
                        f"loaded once (default: every core for more than {MANY} images, "
                        f"else 1)")
    p.add_argument("--output", type=Path, metavar="FILE.jsonl",
                   help="stream each image's result to FILE as a JSON line as it comes (in "
                        "the order given), and print only a summary")
    p.add_argument("--resume", action="store_true",
                   help="with --output: skip the images FILE already has, and append")


def jobs_for(args: argparse.Namespace, images: int) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise DigitrecError("--jobs must be at least 1", "bad_parameter")
    return args.jobs or (available_cores() if images > MANY else 1)


def wanted(args: argparse.Namespace, images: int) -> bool:
    """Whether ``images`` images are read as an archive: by several processes or into
    --output."""
    if args.resume and not args.output:
        raise DigitrecError("--resume continues an --output file: name it", "bad_parameter")
    return bool(args.output) or (args.jobs or 1) > 1 or (args.jobs is None and images > MANY)


def _start(job: Job) -> None:
    global _worker
    _worker = (job, job.load(1))  # the processes share the cores: a thread each


def _one(path: str) -> Row:
    assert _worker is not None
    job, model = _worker
    return job.row(model, path)


def _done(output: Path) -> set[str]:
    """The files an earlier run wrote to ``output`` (JSON lines, or CSV with a file column
    first); a last line cut short by an interrupted run is dropped from the file."""
    if not output.exists():
        return set()
    try:
        data = output.read_bytes()
        whole = data[: data.rfind(b"\n") + 1]
        if output.suffix.lower() == ".csv":
            files = {row[0] for row in list(csv.reader(io.StringIO(whole.decode())))[1:] if row}
        else:
            files = {json.loads(line)["file"] for line in whole.decode().splitlines()
                     if line.strip()}
        if len(whole) < len(data):
            with output.open("r+b") as f:
                f.truncate(len(whole))
    except OSError as exc:
        raise DigitrecError(f"{output}: cannot resume from it ({describe(exc)})",
                            "write_failed") from None
    except (ValueError, KeyError, TypeError):
        raise DigitrecError(f"{output}: not a file of results to resume (JSON lines, each "
                            "with its \"file\")", "bad_parameter") from None
    return files


def rows(paths: list[str], job: Job, jobs: int, threads: int | None = None) -> Iterator[Row]:
    """Each path's row, in order: in this process (with ``threads``), or in ``jobs``
    workers."""
    if jobs == 1:
        model = job.load(threads)
        yield from (job.row(model, path) for path in paths)
        return
    with ProcessPoolExecutor(jobs, initializer=_start, initargs=(job,)) as pool:
        yield from pool.map(_one, paths, chunksize=max(1, min(32, len(paths) // (4 * jobs))))


def read_all(args: argparse.Namespace, paths: list[str], job: Job,
             show: Callable[[Iterator[Row]], int],
             as_csv: tuple[list[str], Callable[[Row], list[Any]]] | None = None) -> int:
    """Read ``paths`` as an archive and return the exit code: the rows go to ``show`` as they
    come, for the usual printing, or with --output are streamed there (as JSON lines; an
    output ending in .csv as ``as_csv``'s header and rows, where given), and a summary
    printed."""
    from tqdm import tqdm

    done = _done(args.output) if args.output and args.resume else set()
    todo = [p for p in paths if p not in done]
    jobs = jobs_for(args, len(todo))
    if args.output is None:
        return show(rows(todo, job, jobs, args.threads))
    counts: Counter[str] = Counter()
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tabular = as_csv is not None and args.output.suffix.lower() == ".csv"
        fresh = not (args.resume and args.output.exists())
        with args.output.open("w" if fresh else "a", newline="") as out, tqdm(
                total=len(todo), unit="img", desc="reading", dynamic_ncols=True,
                disable=not sys.stderr.isatty()) as bar:
            writer = csv.writer(out) if tabular else None
            if writer is not None and fresh:
                writer.writerow(as_csv[0])  # type: ignore[index]
            for row in rows(todo, job, jobs, args.threads):
                if writer is not None:
                    writer.writerow(as_csv[1](row))  # type: ignore[index]
                else:
                    out.write(json.dumps(row) + "\n")
                out.flush()
                counts[row["status"]] += 1
                bar.update()
    except OSError as exc:
        raise DigitrecError(f"{args.output}: cannot write the results ({describe(exc)})",
                            "write_failed") from None
    skipped = f", {len(done & set(paths))} already in {args.output}" if done else ""
    summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    print(f"{len(todo)} images read with {jobs} process{'es' * (jobs > 1)}: "
          f"{summary or 'none'}{skipped}; written to {args.output}")
    return 1 if counts["error"] else 0
