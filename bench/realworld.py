"""Accuracy on images that are not MNIST: realistic renderings of MNIST test digits, and UCI digits.

    python bench/realworld.py                   # 3000 generated images + UCI, about a minute
    python bench/realworld.py --write DIR -n 36 # write generated images to DIR instead

Every generated image is an MNIST *test* digit (30% of the 1s drawn European, 30% of the 7s
crossed) rendered by `digitrec.synthetic`: ink on paper photographed or scanned, chalk on a
board, or strokes on a transparent canvas. Each is read three ways with the same model:
  naive: grayscale, resize to 28x28, scale to [0, 1] (what MNIST tutorials do);
  ours:  digitrec's preprocessing through the handwriting locator (`predict`, the default);
  rules: digitrec's preprocessing by thresholds and rules alone (`predict --no-locator`).
Also reports the model's clean MNIST test accuracy, and accuracy on scikit-learn's 8x8 UCI
handwritten digits (other writers, other scanner), upscaled through the same pipeline.
Prints a table and writes bench/results/realworld.json.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import add_data_dir, results_path, write_json
from PIL import Image

import digitrec
from digitrec.data import load_mnist
from digitrec.glyphs import with_variants
from digitrec.inference.locator import Locator, load_locator
from digitrec.synthetic import render

RESULTS = results_path("realworld.json")


def test_digits(count: int, seed: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    mnist = load_mnist(data_dir, progress=False)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(mnist.test_labels))[:count]
    images, labels = mnist.test_images[order], mnist.test_labels[order]
    return with_variants(images, labels, 0.3, rng), labels


def naive(model: digitrec.inference.Model, data: bytes) -> int:
    gray = Image.open(io.BytesIO(data)).convert("L").resize((28, 28), Image.BILINEAR)
    return int(model.probabilities(np.asarray(gray, np.float32) / 255).argmax())


def uci_accuracy(model: digitrec.inference.Model, locator: Locator | None
                 ) -> dict[str, float] | None:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("scikit-learn not installed: UCI digits skipped", file=sys.stderr)
        return None
    uci = load_digits()
    images = (uci.images * (255 / 16)).round().astype(np.uint8)  # 0..16 ink levels, white ink
    ours = np.array([p.digit for p in model.predict_batch(list(images), locator=locator)])
    rules = np.array([p.digit for p in model.predict_batch(list(images))])
    small = [np.asarray(Image.fromarray(im).resize((28, 28), Image.BILINEAR), np.float32) / 255
             for im in images]
    plain = model.probabilities(np.stack(small)).argmax(1)
    return {"images": len(images), "ours": float((ours == uci.target).mean()),
            "rules": float((rules == uci.target).mean()),
            "naive": float((plain == uci.target).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=3000, help="generated images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="ONNX model (default: the shipped one)")
    add_data_dir(parser)
    parser.add_argument("--write", type=Path, metavar="DIR",
                        help="write the generated images (label in the name) and stop")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    digits, labels = test_digits(args.count, args.seed, args.data_dir)
    rng = np.random.default_rng(args.seed + 1)
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for k, (digit, label) in enumerate(zip(digits, labels, strict=True)):
            r = render(digit, rng)
            (args.write / f"{k:03d}-label{label}-{r.details}{r.suffix}").write_bytes(r.data)
        print(f"wrote {len(labels)} images to {args.write}")
        return

    model = digitrec.inference.load_digit_model(args.model)
    locator = load_locator()
    mnist = load_mnist(args.data_dir, progress=False)
    clean = float((model.probabilities(mnist.test_images).argmax(1) == mnist.test_labels).mean())
    by_tag: dict[str, list[tuple[bool, bool, bool]]] = defaultdict(list)
    seconds: dict[str, list[float]] = {"ours": [], "rules": []}
    for digit, label in zip(digits, labels, strict=True):
        r = render(digit, rng)
        found = {}
        for way, given in (("ours", locator), ("rules", None)):
            began = time.perf_counter()
            found[way] = model.predict(r.data, given).digit
            seconds[way].append(time.perf_counter() - began)
        outcome = (found["ours"] == label, naive(model, r.data) == label,
                   found["rules"] == label)
        tags = ["all", r.style] + [t for t in r.details.split("-")[1:] if not t.startswith("q")]
        if label in (1, 7):
            tags.append(f"digit {label}")
        for tag in tags:
            by_tag[tag].append(outcome)

    rows = {tag: {"images": len(v), "ours": float(np.mean([o for o, _, _ in v])),
                  "naive": float(np.mean([n for _, n, _ in v])),
                  "rules": float(np.mean([r for _, _, r in v]))} for tag, v in by_tag.items()}
    uci = uci_accuracy(model, locator)
    result = {
        "benchmark": "realworld",
        "command": "python bench/realworld.py " + " ".join(sys.argv[1:]),
        "model": str(model.path),
        "mnist_test_accuracy": clean,
        "generated": rows,
        "gap_to_clean_pp": 100 * (clean - rows["all"]["ours"]),
        "uci": uci,
        "median_predict_ms": 1000 * statistics.median(seconds["ours"]),
        "median_predict_ms_rules": 1000 * statistics.median(seconds["rules"]),
    }
    write_json(args.output, result)

    print("| images | count | naive pipeline | digitrec | digitrec, rules |")
    print("|---|---|---|---|---|")
    print(f"| MNIST test set, clean | {len(mnist.test_labels):,} | {100 * clean:.2f}% | - | - |")
    named = [("generated, all" if tag == "all" else f"generated, {tag}", rows[tag])
             for tag in sorted(rows, key=lambda t: (t != "all", t))]
    for name, r in [*named, *([("UCI 8x8 digits (scikit-learn)", uci)] if uci else [])]:
        print(f"| {name} | {r['images']:,} | {100 * r['naive']:.1f}% | {100 * r['ours']:.1f}% "
              f"| {100 * r['rules']:.1f}% |")
    print(f"\ngap between clean MNIST and generated images: {result['gap_to_clean_pp']:.2f} "
          f"percentage points; median predict {result['median_predict_ms']:.2f} ms per image "
          f"({result['median_predict_ms_rules']:.2f} ms without the locator)")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
