"""Reading handwritten sums: `digitrec calc` against the offline OCR tools a user would try, on
sums composed from MNIST *test* digits and generated operators.

    python bench/calc.py              # 100 sums per length, about 5 minutes
    python bench/calc.py -n 20        # a quick look

Each sum (3, 5, 7 or 9 symbols: digits, + - × ÷ ( ) . and often a closing =) is drawn by
`digitrec.synthetic.number_layer`: MNIST test digits (European 1s and crossed 7s in 30% of them)
and operators from `digitrec.operators` under a generator seed no training used, every form of
each (× as a cross, a letter x or a raised dot; ÷ as dots and bar, a slash or a colon), on one
line with a drifting baseline, handed over as a photo of paper, a scan or a web canvas.

Measured, each length on its own so weaknesses show: exact sums (every symbol right), right
values (the sum worked out equals the true one: a misread that keeps the value counts), the
operators read right (aligned to the truth by edit distance), and median ms per sum on one
thread. Also, with no line around them: operator classification on test operators alone (the
calculator's classifier, per operator), and MNIST's test digits through the calculator (all 17
classes) against the digit model alone: what reading sums costs digits. Readers: digitrec calc
(segmentation and the reader of sums combined) and segmentation alone. Peers, in the same run:
Tesseract 5 (`--psm 7`, a whitelist of the symbols and their ASCII forms) and pmsh-ocr (its own
alphabet has no + × ÷); their x * / : count as × and ÷. Prints the tables and writes
bench/results/calc.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
from _common import add_data_dir, results_path, save
from peers import pmsh_reader, ppocr_reader, tesseract_reader

import digitrec
from digitrec.arithmetic import ExpressionError, work_out
from digitrec.arithmetic.expression import ALIASES
from digitrec.contract import DIGITS, SYMBOLS
from digitrec.data import load_mnist
from digitrec.glyphs import with_variants
from digitrec.operators import FORMS, symbol_image
from digitrec.reading.calc import well_formed
from digitrec.reading.ctc import beam_search
from digitrec.reading.lines import line_images
from digitrec.synthetic import number_layer, on_file

RESULTS = results_path("calc.json")
LENGTHS = (3, 5, 7, 9)
OPERATOR_STREAM = 777_001  # the operators' generator seed: nothing trains on this stream
ALONE = 1000  # test operators of each kind classified alone
Reader = Callable[[bytes], str]


def _number(rng: np.random.Generator) -> str:
    digits = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
    text = str(int(rng.integers(1, 10))) + "".join(
        str(int(d)) for d in rng.integers(0, 10, digits - 1))
    if digits == 1 and rng.random() < 0.1:
        text = "0"
    if rng.random() < 0.1:
        text += "." + str(int(rng.integers(0, 10)))
    return text


def _term(rng: np.random.Generator, depth: int) -> str:
    if depth == 0 and rng.random() < 0.2:
        return "(" + _sum(rng, 1) + ")"
    return _number(rng)


def _sum(rng: np.random.Generator, depth: int) -> str:
    text = ("-" if depth == 0 and rng.random() < 0.08 else "") + _term(rng, depth)
    for _ in range(int(rng.integers(1, 4))):
        text += str(rng.choice(list("+-×÷"))) + _term(rng, depth)
    return text


def make_sum(rng: np.random.Generator, symbols: int) -> str:
    """A well-formed sum of exactly ``symbols`` symbols, half of them ending in "="."""
    while True:
        text = _sum(rng, 0) + ("=" if rng.random() < 0.5 else "")
        if len(text) != symbols:
            continue
        try:
            work_out(text)
        except ExpressionError:  # a division by zero
            continue
        return text


def make_sums(count: int, seed: int, data_dir: str | None,
              validation: bool = False) -> dict[str, list[dict]]:
    """Every length's sums: the file and its text. From MNIST's test digits, or with
    ``validation`` its validation split's (for fitting anything: bench/combine.py --sums)."""
    mnist = load_mnist(data_dir, progress=False)
    rng = np.random.default_rng(seed)
    ops = np.random.default_rng([OPERATOR_STREAM, seed])  # operators' own stream
    digits, labels = mnist.split()[1] if validation else (mnist.test_images, mnist.test_labels)
    images = with_variants(digits, labels, 0.3, rng)
    by_digit = [np.flatnonzero(labels == d) for d in range(10)]
    conditions = {}
    for length in LENGTHS:
        rows = conditions[f"{length} symbols"] = []
        for _ in range(count):
            text = make_sum(rng, length)
            picks = [int(rng.choice(by_digit[int(ch)])) for ch in text if ch.isdigit()]
            look = str(rng.choice(["photo", "scan", "canvas"], p=[0.5, 0.25, 0.25]))
            pen = str(rng.choice(["normal", "thin", "thick"], p=[0.5, 0.25, 0.25]))
            height = int(rng.integers(48, 96))
            strip = number_layer(text, [images[i] for i in picks], height, ops, "gap", pen)
            rendered = on_file(strip, look, rng, [look, pen])
            rows.append({"data": rendered.data, "text": text, "details": rendered.details})
    return conditions


def sequence_alone(model: digitrec.Reader) -> Reader | None:
    """The reader of sums alone: each line found as `calc` finds it, read whole (a CTC beam
    that keeps to well-formed sums)."""
    lines = model.calculator.lines
    if lines is None:
        return None

    def read(data: bytes) -> str:
        found = [beam_search(lines.probabilities(image), accept=well_formed)
                 for image in line_images(data, math=True)]
        return "\n".join(f[0] for f in found if f)

    return read


def normalised(text: str) -> str:
    return "".join(ALIASES.get(ch, ch) for ch in text if not ch.isspace())


def _value(text: str) -> str | None:
    try:
        return str(work_out(text).value)
    except ExpressionError as exc:
        return exc.code
    except Exception:  # a peer's text can be anything; no value is then right
        return None


def operators_right(read: str, truth: str) -> tuple[int, int]:
    """Operators of ``truth`` that ``read`` has at the same place (aligned by their longest
    common blocks), and how many there are."""
    right = 0
    for a, _, size in SequenceMatcher(None, truth, read, autojunk=False).get_matching_blocks():
        right += sum(ch not in DIGITS for ch in truth[a : a + size])
    return right, sum(ch not in DIGITS for ch in truth)


def score(rows: list[dict], reader: Reader) -> dict:
    texts, times = [], []
    for row in rows:
        began = time.perf_counter()
        texts.append(normalised(reader(row["data"])))
        times.append(time.perf_counter() - began)
    truth = [r["text"] for r in rows]
    ops = [operators_right(t, r) for t, r in zip(texts, truth, strict=True)]
    return {
        "sums": len(rows),
        "exact": float(np.mean([a == b for a, b in zip(texts, truth, strict=True)])),
        "value": float(np.mean([_value(a) == _value(b)
                                for a, b in zip(texts, truth, strict=True)])),
        "operators": sum(r for r, _ in ops) / max(1, sum(n for _, n in ops)),
        "ms_median": 1000 * statistics.median(times),
        "texts": texts,
    }


def alone(model: digitrec.Reader, seed: int, data_dir: str | None) -> dict:
    """Operators classified alone (test operators, MNIST's form), and MNIST's test digits
    through the calculator against the digit model."""
    calculator = model.calculator
    rng = np.random.default_rng([OPERATOR_STREAM, seed, 1])
    per_operator, per_form = {}, {}
    for k, symbol in enumerate(SYMBOLS):
        forms = list(FORMS[symbol])
        shares = np.array([FORMS[symbol][f] for f in forms])
        drawn = [str(f) for f in rng.choice(forms, ALONE, p=shares)]
        x = np.stack([symbol_image(symbol, rng, form) for form in drawn])
        probs, _ = calculator.scores(x)
        right = probs.argmax(1) == len(DIGITS) + k
        per_operator[symbol] = float(right.mean())
        for form in forms:
            chosen = np.array([f == form for f in drawn])
            per_form[f"{symbol} {form}"] = float(right[chosen].mean())
    mnist = load_mnist(data_dir, progress=False)
    probs, _ = calculator.scores(mnist.test_images)
    digits = model.digits.probabilities(mnist.test_images)
    return {"operators": per_operator, "forms": per_form,
            "operators_mean": float(np.mean(list(per_operator.values()))),
            "digits_calculator": float((probs.argmax(1) == mnist.test_labels).mean()),
            "digits_model": float((digits.argmax(1) == mnist.test_labels).mean()),
            "digits_read_as_operators": int((probs.argmax(1) >= len(DIGITS)).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=100, help="sums per length")
    parser.add_argument("--seed", type=int, default=0)
    add_data_dir(parser)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-peers", action="store_true", help="digitrec only (a quick check)")
    args = parser.parse_args()

    model = digitrec.load_model(threads=1)
    conditions = make_sums(args.count, args.seed, args.data_dir)
    readers: dict[str, Reader] = {"digitrec calc": lambda data: model.calc(data).reading.text}
    sequence = sequence_alone(model)
    if sequence is not None:  # what each of the two readers `calc` combines does alone
        alone_model = model.segmentation_only()
        readers["segmentation alone"] = lambda data: alone_model.calc(data).reading.text
        readers["sequence alone"] = sequence
    whitelist = "0123456789+-×÷=().x*/:"
    peers = () if args.no_peers else (("PP-OCRv5", lambda: ppocr_reader(whitelist)),
                                        ("Tesseract 5", lambda: tesseract_reader(whitelist)),
                                        ("pmsh-ocr", pmsh_reader))
    for name, make in peers:
        reader = make()
        if reader is not None:
            readers[name] = (lambda r: lambda data: r(data)[0])(reader)
    results = {cond: {name: score(rows, reader) for name, reader in readers.items()}
               for cond, rows in conditions.items()}
    _print(save({"benchmark": "calc", "results": results,
                 "alone": alone(model, args.seed, args.data_dir)}, args.output))


def _print(report: dict) -> None:
    results = report["results"]
    names = list(next(iter(results.values())))
    print("exact sums / right values / operators read right / ms per sum (median)")
    print("| sums | count | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for cond, by in results.items():
        cells = [f"{r['exact']:.0%} / {r['value']:.0%} / {r['operators']:.1%} / "
                 f"{r['ms_median']:.0f} ms" for r in by.values()]
        print(f"| {cond} | {next(iter(by.values()))['sums']} | " + " | ".join(cells) + " |")
    a = report["alone"]
    print("\noperators alone: " + ", ".join(f"{k} {v:.2%}" for k, v in a["operators"].items())
          + f"; mean {a['operators_mean']:.2%}")
    print("by form: " + ", ".join(f"{k} {v:.1%}" for k, v in a["forms"].items()))
    print(f"MNIST test digits: calculator {a['digits_calculator']:.2%}, digit model "
          f"{a['digits_model']:.2%} ({a['digits_read_as_operators']} read as operators)")
    print(f"written to {report['output']}")


if __name__ == "__main__":
    main()
