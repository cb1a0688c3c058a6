"""Does the model's confidence mean what it says? Expected calibration error (ECE, 15 bins), a
reliability diagram, and how well confidence and the "unlike any digit" flag sort right answers
from wrong ones, per condition.

    python bench/calibration.py               # about 3 minutes
    python bench/calibration.py --model M.onnx

Sets, none of them seen when the model's temperature and flag threshold were fitted (those use
MNIST's validation split, `digitrec calibrate`):
  mnist-test: 5,000 MNIST test digits, as arrays through the whole pipeline;
  photo, scan, board, canvas: realistic renderings of other MNIST test digits (bench/realworld.py's
    generator, 600 each);
  uci: scikit-learn's 1,797 8x8 UCI digits (other writers, another scanner: not our generator);
  not MNIST, pooled: photo, scan, board, canvas and uci as one set (selective accuracy: the
    accuracy of the most confident 95%, goal 99.7%);
  numbers: `read` on 1,000 generated numbers of 2-6 digits (line confidence vs the exact string).
Each is scored as the model answers (calibrated) and with its temperatures set to 1 (as shipped
before calibration), side by side. Prints a table, writes bench/results/calibration.json and
the reliability diagram bench/results/reliability.png.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from _common import results_path, write_json

import digitrec
from digitrec.data import load_mnist
from digitrec.export.calibrate import number_files, read_numbers
from digitrec.glyphs import with_variants
from digitrec.inference.calibration import (
    expected_calibration_error,
    most_confident_accuracy,
    reliability,
    temper,
)
from digitrec.reading import read
from digitrec.synthetic import STYLES, render

GOAL = 0.02
SELECTIVE_GOAL = 0.997
PER_STYLE = 600


def digit_sets(mnist, seed: int) -> dict[str, tuple[list, np.ndarray]]:
    """Each condition's images (arrays or encoded files) and labels."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(mnist.test_labels))
    sets = {"mnist-test": (list(mnist.test_images[order[:5000]]), mnist.test_labels[order[:5000]])}
    rest = order[5000:]
    for k, style in enumerate(STYLES):
        pick = rest[k * PER_STYLE:(k + 1) * PER_STYLE]
        digits = with_variants(mnist.test_images[pick], mnist.test_labels[pick], 0.3, rng)
        sets[style] = ([render(d, rng, style).data for d in digits], mnist.test_labels[pick])
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("scikit-learn not installed: UCI digits skipped", file=sys.stderr)
    else:
        uci = load_digits()
        sets["uci"] = (list((uci.images * (255 / 16)).round().astype(np.uint8)), uci.target)
    return sets


def score(model: digitrec.Reader, images: list, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Raw (temperature 1) probabilities, the flag, and which images had a digit found."""
    predictions = model.digits.predict_batch(images, tempered=False)
    found = np.array([p.digit is not None for p in predictions])
    probs = np.stack([p.probabilities if p.digit is not None else np.full(10, 0.1)
                      for p in predictions])
    unusual = np.array([p.unusual for p in predictions])
    return {"probs": probs, "labels": labels, "found": found, "unusual": unusual}


def summary(confidence: np.ndarray, correct: np.ndarray, unusual: np.ndarray) -> dict:
    flagged_last = np.where(unusual, confidence - 1, confidence)  # flagged ones sorted last
    return {
        "n": len(correct), "accuracy": float(correct.mean()),
        "mean_confidence": float(confidence.mean()),
        "ece": expected_calibration_error(confidence, correct),
        "top95_accuracy": most_confident_accuracy(confidence, correct),
        "top95_accuracy_with_flag": most_confident_accuracy(flagged_last, correct),
        "flag_on_right": float(unusual[correct].mean()) if correct.any() else 0.0,
        "flag_on_wrong": float(unusual[~correct].mean()) if (~correct).any() else 0.0,
        "bins": reliability(confidence, correct),
    }


def answers(scored: dict, temperature: float | None) -> tuple[np.ndarray, ...]:
    """Each image's confidence, whether it was read right, and whether it was flagged."""
    probs = temper(scored["probs"], temperature)
    correct = (probs.argmax(1) == scored["labels"]) & scored["found"]
    return np.where(scored["found"], probs.max(1), 0.0), correct, scored["unusual"]


def digits_report(scored: dict, temperature: float | None) -> dict:
    return summary(*answers(scored, temperature))


def pooled_report(scored: list[dict], temperature: float | None) -> dict:
    """The sets' answers as one: how well confidence sorts the digits users hand over."""
    parts = [answers(s, temperature) for s in scored]
    return summary(*(np.concatenate([part[k] for part in parts]) for k in range(3)))


def numbers_report(model: digitrec.Reader, mnist, seed: int, count: int,
                   calibrated: bool) -> dict:
    """`read` on generated numbers of test digits (with the line calibration, or without):
    the line's confidence against the exact string."""
    def uncalibrated(data: bytes) -> digitrec.reading.Reading:
        return read(model.digits, data, lines_model=model.lines)

    files = number_files(mnist.test_images, mnist.test_labels, count, seed)
    confidence, correct = read_numbers(model.read if calibrated else uncalibrated, *files)
    return summary(confidence, correct, np.zeros(len(correct), bool))


def diagram(reports: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(reports)
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.9), sharey=True)
    for ax, name in zip(axes, names, strict=True):
        for key, colour, label in (("before", "#bbbbbb", "T = 1"),
                                   ("after", "#1f77b4", "calibrated")):
            bins = reports[name][key]["bins"]
            ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-",
                    color=colour, ms=3, label=f"{label}: ECE {reports[name][key]['ece']:.3f}")
        ax.plot([0, 1], [0, 1], ":", color="black", lw=0.8)
        ax.set(title=name, xlim=(0, 1.02), ylim=(0, 1.02), xlabel="confidence")
        ax.legend(fontsize=6, loc="upper left")
    axes[0].set_ylabel("accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="ONNX model (default: the shipped one)")
    parser.add_argument("--data-dir", default=os.environ.get("DIGITREC_DATA"))
    parser.add_argument("--numbers", type=int, default=1000, help="generated numbers to read")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=results_path("calibration.json"))
    args = parser.parse_args(argv)

    model = digitrec.load_model(args.model)
    mnist = load_mnist(args.data_dir, progress=False)
    reports, realistic = {}, []
    for name, (images, labels) in digit_sets(mnist, args.seed).items():
        scored = score(model, images, labels)
        reports[name] = {"before": digits_report(scored, None),
                         "after": digits_report(scored, model.digits.temperature)}
        print(name, f"{reports[name]['before']['ece']:.4f} -> {reports[name]['after']['ece']:.4f}",
              file=sys.stderr)
        if name != "mnist-test":
            realistic.append(scored)
    # Selective accuracy where it matters: the digits as users hand them over (every set but
    # MNIST's own test digits, pooled), goal SELECTIVE_GOAL for the most confident 95%.
    reports["not MNIST, pooled"] = {"before": pooled_report(realistic, None),
                                    "after": pooled_report(realistic, model.digits.temperature)}
    after = numbers_report(model, mnist, args.seed + 1, args.numbers, calibrated=True)
    before = numbers_report(model, mnist, args.seed + 1, args.numbers, calibrated=False)
    reports["numbers"] = {"before": before, "after": after}

    digits = model.digits
    print(f"model {model.path.name}: temperature {digits.temperature} (read: "
          f"{digits.read_calibration}), flag threshold {digits.novelty_threshold}; goals: ECE "
          f"at most {GOAL}; of the pooled digits not MNIST's, the most confident 95% "
          f"{SELECTIVE_GOAL:.1%} right")
    print("| set | n | accuracy | mean confidence (T=1 -> calibrated) | ECE (T=1 -> calibrated) "
          "| accuracy of the most confident 95% | with the flag | flag on right / wrong |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in reports.items():
        b, a = r["before"], r["after"]
        print(f"| {name} | {a['n']:,} | {a['accuracy']:.2%} | {b['mean_confidence']:.3f} -> "
              f"{a['mean_confidence']:.3f} | {b['ece']:.4f} -> {a['ece']:.4f} | "
              f"{a['top95_accuracy']:.2%} | {a['top95_accuracy_with_flag']:.2%} | "
              f"{a['flag_on_right']:.1%} / {a['flag_on_wrong']:.1%} |")
    write_json(args.output, {"model": model.path.name, "temperature": model.digits.temperature,
                             "read_calibration": model.digits.read_calibration,
                             "novelty_threshold": model.digits.novelty_threshold,
                             "goal_ece": GOAL, "goal_selective": SELECTIVE_GOAL,
                             "sets": reports})
    diagram(reports, args.output.with_name("reliability.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
