"""Fuzz the whole image path: arbitrary small arrays, drawings with a few specks or strokes,
arbitrary bytes and damaged image files, through `predict`, `read` and `calc`; and the patterns
`read --pattern` takes, against lines of up to 40 characters.

Each input must give a result (whose JSON form serialises, with confidences in [0, 1]) or a
DigitrecError of one line; anything else is a crash. The tests run a bounded number of these
examples (tests/test_robustness.py imports `inputs` and `check` from here); this script runs
many more and reports the count tried and the crashes found, each with the input saved.

Each pattern (random regular expressions of nested groups, repeats and alternatives, random
strings, and the known catastrophic ones) must be refused in one line or run the constrained
search of a line (the segmentation's beam and the sequence reader's, as `read` runs them) in
at most 100 ms; the slowest are reported.

    python bench/fuzz.py --examples 3000              # images per entry point
    python bench/fuzz.py --entries --patterns 10000   # patterns only
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from _common import results_path, write_json
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

ENTRY_POINTS = ("predict", "read", "calc")
PATTERN_GOAL_MS = 100.0
LONGEST_LINE = 40
# Nested repeats that make a backtracking engine take exponential time on a line of digits.
HOSTILE = (r"((\d*)*)*x", r"(\d*\d*)*x", r"((\d+)*)+x", r"(\d+)+x", r"(.*)*x",
           r"(\d?){40}\d{40}", r"(\d|\d\d)*x", r"(0|00|\d)*\D", r"(([.,]?\d)*)*-")
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
RESULTS = results_path("fuzz.json")
PATTERN_RESULTS = results_path("fuzz-patterns.json")


@st.composite
def drawings(draw: st.DrawFn) -> np.ndarray:
    """A paper-coloured canvas up to 80 pixels a side with a few specks and strokes: the
    shapes that get past the "no ink" check yet are barely anything."""
    height, width = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    paper = draw(st.integers(0, 255))
    image = Image.new("L", (width, height), paper)
    pen = ImageDraw.Draw(image)
    for _ in range(draw(st.integers(0, 6))):
        x, y, size = draw(st.integers(0, width)), draw(st.integers(0, height)), draw(
            st.integers(1, 4))
        pen.rectangle((x, y, x + size - 1, y + size - 1), fill=draw(st.integers(0, 255)))
    for _ in range(draw(st.integers(0, 4))):
        points = [(draw(st.integers(-5, width + 5)), draw(st.integers(-5, height + 5)))
                  for _ in range(2)]
        pen.line(points, fill=draw(st.integers(0, 255)), width=draw(st.integers(1, 6)))
    return np.asarray(image)


def _encoded(array: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt)
    return out.getvalue()


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid image file with bytes overwritten, cut short, or both."""
    data = bytearray(_encoded(draw(drawings()), draw(st.sampled_from(FORMATS))))
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def inputs() -> st.SearchStrategy[Any]:
    """Every kind of input, tagged with its kind for the report."""
    arrays = hnp.arrays(st.sampled_from([np.uint8, np.uint16, np.float32, np.float64]),
                        st.tuples(st.integers(1, 64), st.integers(1, 64))
                        | st.tuples(st.integers(1, 64), st.integers(1, 64),
                                    st.sampled_from([1, 3, 4])))
    return st.one_of(
        st.tuples(st.just("array"), arrays),
        st.tuples(st.just("drawing"), drawings()),
        st.tuples(st.just("encoded"), st.builds(_encoded, drawings(), st.sampled_from(FORMATS))),
        st.tuples(st.just("damaged"), damaged()),
        st.tuples(st.just("bytes"), st.binary(max_size=512)),
    )


_ATOMS = (r"\d", r"\D", ".", r"\.", ",", "-", "0", "5", "[0-9]", "[.,]", "[^5]", "[1-3]",
          r"\s", r"\w", "^", "$", r"\b")
_REPEATS = ("*", "+", "?", "*?", "+?", "{2}", "{1,3}", "{0,12}", "{3,}", "{30}", "{40,}")


def regexes() -> st.SearchStrategy[str]:
    """Regular expressions of nested groups, alternatives and repeats over what readings are
    made of; random strings of regex syntax (mostly not patterns); the known hostile ones."""
    def grown(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, inner).map("".join),
            st.tuples(inner, inner).map("|".join),
            inner.map(lambda r: f"({r})"),
            st.tuples(inner, st.sampled_from(_REPEATS)).map(lambda t: f"(?:{t[0]}){t[1]}"),
            st.tuples(inner, st.sampled_from(_REPEATS)).map(lambda t: f"({t[0]}){t[1]}"),
        )

    structured = st.recursive(st.sampled_from(_ATOMS), grown, max_leaves=16)
    syntax = st.text(alphabet="\\d()[]{}*+?|.,-0123456789^$:=!<>", max_size=60)
    return st.one_of(structured, syntax, st.sampled_from(HOSTILE))


def search_lines(model: Any, mnist: Any, lengths: list[int], seed: int) -> list[tuple]:
    """What `read` searches for lines of these many MNIST test digits, written side by side
    with random gaps (some touching): each line's pieces, its candidate characters with the
    classifier's probabilities, and the sequence reader's columns, as `read` hands them to
    `choose` (recorded there)."""
    from digitrec.reading import lines as line_reading

    rng = np.random.default_rng(seed)
    found: list[tuple] = []
    original = line_reading.choose

    def record(segmented, columns, pieces, candidates, accept, balance):  # type: ignore[no-untyped-def]
        found.append((pieces, candidates, columns))
        return original(segmented, columns, pieces, candidates, accept, balance)

    line_reading.choose = record
    try:
        for length in lengths:
            picks = rng.integers(0, len(mnist.test_labels), length)
            parts = []
            for pick in picks:
                digit = mnist.test_images[pick]
                parts.append(digit[:, 3:-3] if rng.random() < 0.3 else digit)  # some touch
                parts.append(np.zeros((28, int(rng.integers(0, 6))), np.uint8))
            line = np.pad(np.concatenate(parts, axis=1), 16)
            model.read(255 - line)
    finally:
        line_reading.choose = original
    return found


def time_pattern(pattern: str, line: tuple[list, list, np.ndarray]) -> float | None:
    """Seconds to compile ``pattern`` and find the line's best reading that fits it, by both
    readers as `read` does; None if the pattern is refused (in one line)."""
    from digitrec.errors import DigitrecError
    from digitrec.reading.combine import choose
    from digitrec.reading.search import best_segmentation, constraint

    pieces, candidates, columns = line
    # The garbage collector runs outside the clock: its pauses grow with the heap, and this
    # process holds hypothesis's (a read in `digitrec read` or the server holds far less).
    gc.disable()
    try:
        began = time.perf_counter()
        accept = constraint(None, pattern)
        choose(best_segmentation(pieces, candidates, accept), columns, pieces, candidates, accept)
        return time.perf_counter() - began
    except DigitrecError as exc:
        assert str(exc) and "\n" not in str(exc), f"not one line: {exc!r}"
        return None
    finally:
        gc.enable()


def fuzz_patterns(lines: list[tuple], examples: int, random_seed: int) -> dict[str, Any]:
    """``examples`` patterns, each against one of ``lines`` (from `search_lines`)."""
    times: list[tuple[float, str, int]] = []
    refused = 0

    @seed(random_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(regexes(), st.sampled_from(lines))
    def run(pattern: str, line: tuple) -> None:
        nonlocal refused
        seconds = time_pattern(pattern, line)
        if seconds is None:
            refused += 1
        else:
            times.append((seconds, pattern, len(line[0])))

    run()
    times.sort(reverse=True)
    ms = np.array([1000 * t for t, _, _ in times])
    return {"tried": refused + len(times), "refused": refused, "ran": len(times),
            "median_ms": round(float(np.median(ms)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms[0]), 2), "goal_ms": PATTERN_GOAL_MS,
            "over_goal": int((ms > PATTERN_GOAL_MS).sum()),
            "slowest": [{"pattern": p, "line": n, "ms": round(1000 * t, 2)}
                        for t, p, n in times[:5]]}


def check(model: Any, entry: str, source: Any) -> None:
    """Run one entry point on one input; raise AssertionError on anything but a result or a
    one-line DigitrecError."""
    from digitrec.errors import DigitrecError

    try:
        result = getattr(model, entry)(source)
    except DigitrecError as exc:
        assert str(exc) and "\n" not in str(exc), f"not one line: {exc!r}"
        return
    record = result.to_dict()
    json.dumps(record, allow_nan=False)
    assert 0.0 <= (record["confidence"] or 0.0) <= 1.0, record


def fuzz(model: Any, entry: str, examples: int, random_seed: int, out: Path) -> dict[str, Any]:
    """Try ``examples`` inputs on one entry point; every crash is saved under ``out``."""
    tried, crashes, kinds = 0, [], {}

    @seed(random_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(inputs())
    def run(tagged: tuple[str, Any]) -> None:
        nonlocal tried
        kind, source = tagged
        tried += 1
        kinds[kind] = kinds.get(kind, 0) + 1
        try:
            check(model, entry, source)
        except Exception as exc:  # a crash: keep the input and where it failed
            site = traceback.extract_tb(exc.__traceback__)[-1]
            name = out / f"{entry}-{len(crashes)}.npy"
            np.save(name, np.frombuffer(source, np.uint8) if isinstance(source, bytes)
                    else source)
            crashes.append({"kind": kind, "error": f"{type(exc).__name__}: {exc}"[:200],
                            "at": f"{Path(site.filename).name}:{site.lineno}",
                            "input": str(name)})

    run()
    return {"entry": entry, "tried": tried, "kinds": kinds, "crashes": crashes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=3000, help="inputs per entry point")
    parser.add_argument("--entries", nargs="*", choices=ENTRY_POINTS, default=ENTRY_POINTS,
                        help="entry points to fuzz with images (none: patterns only)")
    parser.add_argument("--patterns", type=int, default=10000,
                        help="patterns to try against lines (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=os.environ.get("DIGITREC_DATA"),
                        help="MNIST, whose test digits make the lines patterns run against")
    parser.add_argument("--output", type=Path,
                        help=f"the report (default {RESULTS.name}, or {PATTERN_RESULTS.name} "
                             "for patterns alone)")
    args = parser.parse_args(argv)
    args.output = args.output or (RESULTS if args.entries else PATTERN_RESULTS)

    import digitrec

    model = digitrec.load_model(threads=1)
    crashes_dir = args.output.parent / "fuzz-crashes"
    crashes_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for entry in args.entries:
        start = time.perf_counter()
        run = fuzz(model, entry, args.examples, args.seed, crashes_dir)
        run["seconds"] = round(time.perf_counter() - start, 1)
        runs.append(run)
    if runs:
        print("| entry point | inputs tried | crashes | seconds |")
        print("|---|---:|---:|---:|")
    for run in runs:
        print(f"| {run['entry']} | {run['tried']:,} | {len(run['crashes'])} | {run['seconds']} |")
        for crash in run["crashes"][:5]:
            print(f"  {crash['kind']} at {crash['at']}: {crash['error']} ({crash['input']})")
    patterns = None
    if args.patterns:
        from digitrec.data import load_mnist

        mnist = load_mnist(args.data_dir, progress=False)
        lines = search_lines(model, mnist, list(range(1, LONGEST_LINE + 1)) * 2, args.seed)
        patterns = fuzz_patterns(lines, args.patterns, args.seed)
        patterns["lines"] = len(lines)
        patterns["longest_line"] = max(len(line[0]) for line in lines)
    if patterns:
        print(f"\n{patterns['lines']} lines of MNIST test digits, up to "
              f"{patterns['longest_line']} pieces")
        print(f"| patterns tried | refused | ran | median ms | p99 ms | max ms | over "
              f"{PATTERN_GOAL_MS:.0f} ms |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {patterns['tried']:,} | {patterns['refused']:,} | {patterns['ran']:,} | "
              f"{patterns['median_ms']} | {patterns['p99_ms']} | {patterns['max_ms']} | "
              f"{patterns['over_goal']} |")
        for slow in patterns["slowest"]:
            print(f"  {slow['ms']} ms: {slow['pattern']!r} on a line of {slow['line']}")
    report = {"examples_per_entry": args.examples, "seed": args.seed, "runs": runs,
              "patterns": patterns}
    write_json(args.output, report)
    slow = patterns is not None and patterns["over_goal"] > 0
    return 1 if slow or any(run["crashes"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
