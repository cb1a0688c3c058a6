"""Reading whole numbers: `digitrec read` against a naive segmentation and the offline OCR tools
a user would try, on handwritten numbers composed from MNIST *test* digits.

    python bench/read.py                 # 100 numbers per condition, about 15 minutes
    python bench/read.py -n 20           # a quick look

Each number is drawn by `digitrec.synthetic.render_number`: MNIST test digits (never training
digits; European 1s and crossed 7s in 30% of them) written on one line with their own size and
slant and a drifting baseline, as a photo of paper, a scan, a web canvas, or a printed form with
a box per character. Conditions, each reported on its own so weaknesses show:

  gap, touch, overlap   5 digits whose ink has clear gaps, touches, or overlaps (photo, scan,
                        canvas)
  form                  5 digits in a comb field, one per box
  lengths 1-10          1 to 10 digits, gaps
  marks                 numbers with a decimal point, a comma or a minus sign, gaps
  uci                   scikit-learn's 8x8 UCI digits (other writers) strung into 5-digit numbers
  one writer            5 digits with gaps, all by one of MNIST's test writers (QMNIST's
                        writer ids, data/writers/mnist-writers.npz; skipped when not built),
                        as a real number is written

Readers: digitrec `read`; a naive segmentation (connected components of the same ink mask,
left to right, each classified by the same model); Tesseract 5 (`--psm 7`, a whitelist of
0-9 . , -), RapidOCR and pmsh-ocr, each skipped with a note when not installed. Metrics:
exact-string accuracy, character error rate (edit distance over length), exact accuracy of the
95% a reader is most sure of (readers with a confidence), and median ms per number (one
thread). Also: per-character accuracy on the `gap` numbers against the model's accuracy on the
same digits alone, and the end-to-end time of 640x480 photos of 5-digit numbers. Prints the
tables and writes bench/results/read.json.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from _common import add_data_dir, edit_distance, median_seconds, results_path, save
from peers import Reader, pmsh_reader, ppocr_reader, rapidocr_reader, tesseract_reader
from PIL import Image

import digitrec
from digitrec.data import MNIST, load_mnist
from digitrec.glyphs import with_variants
from digitrec.reading.combine import number_shaped
from digitrec.reading.ctc import beam_search
from digitrec.reading.lines import line_images
from digitrec.synthetic import render_number
from digitrec.vision import find_ink
from digitrec.vision.components import components, label_map
from digitrec.vision.normalise import crop_digit, fit_mnist, normalise_stroke
from digitrec.writers import MNIST_WRITERS, load_mnist_writers

RESULTS = results_path("read.json")
WRITERS = Path(__file__).parents[1] / "data" / "writers"
LENGTHS = ((1, 3), (4, 6), (7, 10))  # digits in a number, for the exact rate by length


def make_numbers(count: int, seed: int, data_dir: str | None,
                 validation: bool = False) -> dict[str, list[dict]]:
    """Every condition's numbers: the file, its text, and (for digits) the 28x28 sources.
    From MNIST's test digits, or with ``validation`` its validation split's (for fitting
    anything, bench/combine.py), then without the UCI strings (other writers, a test alone)."""
    mnist = load_mnist(data_dir, progress=False)
    rng = np.random.default_rng(seed)
    digits, labels = mnist.split()[1] if validation else (mnist.test_images, mnist.test_labels)
    images = with_variants(digits, labels, 0.3, rng)
    conditions: dict[str, list[dict]] = {}

    def number(length: int, marks: bool = False) -> tuple[str, list[int]]:
        picks = [int(i) for i in rng.integers(0, len(images), length)]
        text = "".join(str(labels[i]) for i in picks)
        if marks:
            kind = str(rng.choice([".", ",", "-"]))
            if kind == "-":
                text = "-" + text
            else:
                at = int(rng.integers(1, length))
                text = text[:at] + kind + text[at:]
        return text, picks

    plans = [("gap", 5, "gap", None, False), ("touch", 5, "touch", None, False),
             ("overlap", 5, "overlap", None, False), ("form", 5, "gap", "form", False),
             ("lengths 1-10", 0, "gap", None, False), ("marks", 0, "gap", None, True)]
    for name, length, spacing, style, marks in plans:
        rows = conditions[name] = []
        for _ in range(count):
            n = length or int(rng.integers(1 if not marks else 2, 11))
            text, picks = number(n, marks)
            look = style or str(rng.choice(["photo", "scan", "canvas"], p=[0.5, 0.25, 0.25]))
            rendered = render_number(text, [images[i] for i in picks], rng, look, spacing)
            rows.append({"data": rendered.data, "text": text, "digits": images[picks],
                         "labels": labels[picks], "details": rendered.details})
    uci = [] if validation else _uci_numbers(count, rng)
    if uci:
        conditions["uci"] = uci
    one = [] if validation else _one_writer_numbers(count, rng, images, labels, mnist)
    if one:
        conditions["one writer"] = one
    return conditions


def _one_writer_numbers(count: int, rng: np.random.Generator, images: np.ndarray,
                        labels: np.ndarray, mnist: MNIST) -> list[dict]:
    if not (WRITERS / MNIST_WRITERS).exists():
        print(f"no {WRITERS / MNIST_WRITERS} (python data/writers/build.py): one-writer "
              "numbers skipped", file=sys.stderr)
        return []
    hands = load_mnist_writers(WRITERS / MNIST_WRITERS)
    hands.check(mnist.train_labels, mnist.test_labels)
    names, which = np.unique(hands.test, return_inverse=True)
    rows = []
    for _ in range(count):
        mine = np.flatnonzero(which == rng.integers(len(names)))
        picks = rng.choice(mine, 5, replace=False)
        text = "".join(str(labels[i]) for i in picks)
        look = str(rng.choice(["photo", "scan", "canvas"], p=[0.5, 0.25, 0.25]))
        rendered = render_number(text, [images[i] for i in picks], rng, look, "gap")
        rows.append({"data": rendered.data, "text": text, "digits": images[picks],
                     "labels": labels[picks], "details": rendered.details})
    return rows


def _uci_numbers(count: int, rng: np.random.Generator) -> list[dict]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("scikit-learn not installed: UCI numbers skipped", file=sys.stderr)
        return []
    uci = load_digits()
    images = (uci.images * (255 / 16)).round().astype(np.uint8)  # white ink on black
    rows = []
    for _ in range(count):
        picks = rng.integers(0, len(images), 5)
        big = [np.asarray(Image.fromarray(images[i]).resize((48, 48), Image.NEAREST))
               for i in picks]
        strip = np.zeros((72, 5 * 60 + 24), np.uint8)
        for k, im in enumerate(big):
            strip[12:60, 12 + 60 * k : 60 + 60 * k] = im
        buf = io.BytesIO()
        Image.fromarray(255 - strip).save(buf, "PNG")
        rows.append({"data": buf.getvalue(), "text": "".join(str(uci.target[i]) for i in picks),
                     "digits": None, "labels": None, "details": "uci"})
    return rows


def naive_reader(model: digitrec.Reader) -> Reader:
    """Connected components of digitrec's own ink mask, left to right, each through the same
    model: what a first attempt at reading numbers looks like."""
    def read(data: bytes) -> tuple[str, float | None]:
        ink = find_ink(data)
        parts = components(ink.mask)
        if not parts:
            return "", 0.0
        tallest = max(c.height for c in parts)
        parts = [c for c in parts if c.height >= 0.3 * tallest]
        images = []
        for c in parts:
            mask = label_map(ink.mask.shape, [c]) > 0
            crop, core = crop_digit(ink.coverage, mask, c.box)
            images.append(fit_mnist(normalise_stroke(crop, core)))
        probs = model.digits.probabilities(np.stack(images))
        return "".join(str(d) for d in probs.argmax(1)), float(probs.max(1).prod())

    return read


def sequence_reader(model: digitrec.Reader) -> Reader | None:
    """The sequence reader alone: each line found as `read` finds it, read whole (CTC beam)."""
    lines = model.lines
    if lines is None:
        print("no sequence reader installed: its column skipped", file=sys.stderr)
        return None

    def read(data: bytes) -> tuple[str, float | None]:
        texts, confidence = [], 1.0
        for image in line_images(data):
            found = beam_search(lines.probabilities(image), accept=number_shaped)
            if found:
                texts.append(found[0])
                confidence *= found[1]
        return "\n".join(texts), confidence if texts else 0.0

    return read


def score(rows: list[dict], reader: Reader) -> dict:
    texts, confidences, times = [], [], []
    for row in rows:
        began = time.perf_counter()
        text, confidence = reader(row["data"])
        times.append(time.perf_counter() - began)
        texts.append(text)
        confidences.append(confidence)
    truth = [r["text"] for r in rows]
    exact = np.array([a == b for a, b in zip(texts, truth, strict=True)])
    digits = np.array([sum(ch.isdigit() for ch in t) for t in truth])
    by_length = {f"{lo}-{hi}": float(exact[(digits >= lo) & (digits <= hi)].mean())
                 for lo, hi in LENGTHS if ((digits >= lo) & (digits <= hi)).any()}
    result = {
        "numbers": len(rows),
        "exact": float(exact.mean()),
        "cer": sum(edit_distance(a, b) for a, b in zip(texts, truth, strict=True))
        / sum(len(t) for t in truth),
        "ms_median": 1000 * statistics.median(times),
        "by_length": by_length,
        "texts": texts,
    }
    if all(c is not None for c in confidences):
        keep = np.argsort(-np.array(confidences), kind="stable")[: int(0.95 * len(rows))]
        result["exact_top95"] = float(exact[keep].mean())
    return result


def character_accuracy(model: digitrec.Reader, rows: list[dict], texts: list[str]) -> dict:
    """On numbers read with as many characters as written: share of digits read right, against
    the model's accuracy on the same 28x28 digits alone."""
    same = [(r, t) for r, t in zip(rows, texts, strict=True) if len(t) == len(r["text"])]
    read_right = sum(sum(a == b for a, b in zip(t, r["text"], strict=True)) for r, t in same)
    total = sum(len(r["text"]) for r, _ in same)
    digits = np.concatenate([r["digits"] for r in rows])
    labels = np.concatenate([r["labels"] for r in rows])
    alone = float((model.digits.probabilities(digits).argmax(1) == labels).mean())
    return {"numbers_same_length": len(same), "read": read_right / max(1, total),
            "alone": alone, "alone_digits": len(labels)}


def photo_speed(model: digitrec.Reader, data_dir: str | None, repeats: int = 50) -> float:
    """Median ms to read a 640x480 photo of a 5-digit number, decode included."""
    mnist = load_mnist(data_dir, progress=False)
    rng = np.random.default_rng(7)
    while True:
        picks = rng.integers(0, 10000, 5)
        rendered = render_number("".join(str(mnist.test_labels[i]) for i in picks),
                                 list(mnist.test_images[picks]), rng, "photo", "gap")
        if Image.open(io.BytesIO(rendered.data)).size == (640, 480):
            break
    return 1000 * median_seconds(lambda: model.read(rendered.data), repeats, warmup=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=100, help="numbers per condition")
    parser.add_argument("--seed", type=int, default=0)
    add_data_dir(parser)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-peers", action="store_true",
                        help="digitrec and the naive segmentation only (a quick check)")
    args = parser.parse_args()

    model = digitrec.load_model(threads=1)
    conditions = make_numbers(args.count, args.seed, args.data_dir)
    readers: dict[str, Reader] = {
        "digitrec read": lambda data: (lambda r: (r.text, r.confidence))(model.read(data)),
    }
    sequence = sequence_reader(model)
    if sequence is not None:  # what each of the two readers `read` combines does alone
        alone = model.segmentation_only()
        readers["segmentation alone"] = lambda data: (lambda r: (r.text, r.confidence))(
            alone.read(data))
        readers["sequence alone"] = sequence
    readers["naive segmentation"] = naive_reader(model)
    peers = () if args.no_peers else (("PP-OCRv5", ppocr_reader),
                                        ("Tesseract 5", tesseract_reader),
                                        ("RapidOCR", rapidocr_reader), ("pmsh-ocr", pmsh_reader))
    for name, make in peers:
        reader = make()
        if reader is not None:
            readers[name] = reader
    results = {cond: {name: score(rows, reader) for name, reader in readers.items()}
               for cond, rows in conditions.items()}
    chars = character_accuracy(model, conditions["gap"], results["gap"]["digitrec read"]["texts"])
    speed = photo_speed(model, args.data_dir, 10 if args.no_peers else 50)
    _print(save({"benchmark": "read", "results": results, "characters_gap": chars,
                 "photo_5_digits_ms": speed}, args.output))


def _print(report: dict) -> None:
    results = report["results"]
    names = list(next(iter(results.values())))
    print("| numbers | count | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for cond, by in results.items():
        cells = [f"{r['exact']:.1%} ({r['cer']:.1%})" for r in by.values()]
        print(f"| {cond} | {next(iter(by.values()))['numbers']} | " + " | ".join(cells) + " |")
    print("\nexact of the most confident 95% | ms per number (median)")
    for cond, by in results.items():
        cells = [f"{r.get('exact_top95', float('nan')):.1%} | {r['ms_median']:.1f}"
                 for r in by.values()]
        print(f"| {cond} | " + " | ".join(cells) + " |")
    lengths = results.get("lengths 1-10", {})
    if lengths:
        print("\n1-10 digits with gaps, exact by length: "
              + "; ".join(f"{name} " + ", ".join(f"{k}: {v:.0%}" for k, v in r["by_length"].items())
                          for name, r in lengths.items()))
    c = report["characters_gap"]
    print(f"\ngap numbers, per character: read {c['read']:.2%} against {c['alone']:.2%} for the "
          f"same {c['alone_digits']} digits alone; 640x480 photo of 5 digits: "
          f"{report['photo_5_digits_ms']:.1f} ms")
    print(f"written to {report['output']}")


if __name__ == "__main__":
    main()
