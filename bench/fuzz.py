"""Fuzz the whole image path: arbitrary small arrays, drawings with a few specks or strokes,
arbitrary bytes and damaged image files, through `predict`, `read` and `calc`.

Each input must give a result (whose JSON form serialises, with confidences in [0, 1]) or a
DigitrecError of one line; anything else is a crash. The tests run a bounded number of these
examples (tests/test_robustness.py imports `inputs` and `check` from here); this script runs
many more and reports the count tried and the crashes found, each with the input saved.

    python bench/fuzz.py --examples 3000              # per entry point
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

ENTRY_POINTS = ("predict", "read", "calc")
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
RESULTS = Path(__file__).parent / "results" / "fuzz.json"


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
    parser.add_argument("--entries", nargs="+", choices=ENTRY_POINTS, default=ENTRY_POINTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

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
    print("| entry point | inputs tried | crashes | seconds |")
    print("|---|---:|---:|---:|")
    for run in runs:
        print(f"| {run['entry']} | {run['tried']:,} | {len(run['crashes'])} | {run['seconds']} |")
        for crash in run["crashes"][:5]:
            print(f"  {crash['kind']} at {crash['at']}: {crash['error']} ({crash['input']})")
    report = {"examples_per_entry": args.examples, "seed": args.seed, "runs": runs}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if any(run["crashes"] for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
