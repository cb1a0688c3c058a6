"""Model size against accuracy and speed: fp32, fp16 and int8 copies of three models.

    digitrec train --preset seed --out runs/seed && digitrec train --preset tiny --out runs/tiny
    python bench/export.py                       # the shipped model, runs/seed, runs/tiny

For each model and precision (fp16 and int8 copies made by `digitrec.export.quantize`, calibrated on
training images): bytes of the network's weights (the initialisers that compute the class
probabilities, with their scales; not the digit-likeness subspace) and of the whole file; MNIST
test accuracy; accuracy on generated real-world-style images (bench/realworld.py's renderings,
preprocessed once, so only the model differs); single-image latency of the model on one thread
(median and p99 of 1,000 calls, the image already preprocessed); batch throughput on 2 threads;
peak memory of a fresh process that loads the model and reads one PNG. Each int8 copy is also
translated to C (`digitrec export --c-header`), compiled with gcc -O2 and run on the 10,000 test
images: accuracy, agreement with ONNX Runtime, and the time of each digitrec_predict() call.
Prints the tables and writes bench/results/export.json.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from _common import add_data_dir, percentile, results_path, timings, write_json
from realworld import test_digits

from digitrec.data import load_mnist
from digitrec.export import c_header, quantize
from digitrec.inference import DEFAULT_MODEL, load_digit_model
from digitrec.synthetic import render
from digitrec.vision import preprocess

RESULTS = results_path("export.json")

# VmHWM, not ru_maxrss: a child forked from this large process inherits its ru_maxrss.
ONE_IMAGE = """
import sys
from pathlib import Path
from digitrec.inference import load_digit_model
load_digit_model(sys.argv[1], threads=1).predict(sys.argv[2])
status = Path("/proc/self/status").read_text().splitlines()
print(int(next(x for x in status if x.startswith("VmHWM")).split()[1]) / 1024)
"""


def weight_bytes(path: Path) -> int:
    """Bytes of the initialisers feeding the probabilities output."""
    graph = onnx.load(path).graph
    inputs = {name for node in quantize.probability_nodes(graph) for name in node.input}
    return sum(len(onnx.numpy_helper.to_array(i).tobytes()) for i in graph.initializer
               if i.name in inputs)


def measure(path: Path, mnist: object, seen: np.ndarray, labels: np.ndarray,
            png: Path) -> dict:
    one = load_digit_model(path, threads=1)
    two = load_digit_model(path, threads=2)
    info = one.info()
    test = float((two.probabilities(mnist.test_images).argmax(1) == mnist.test_labels).mean())
    real = float((two.probabilities(seen).argmax(1) == labels).mean())
    image = mnist.test_images[:1]
    times = sorted(timings(lambda: one.probabilities(image), 1000, warmup=20))
    batch = min(timings(lambda: two.probabilities(mnist.test_images), 3))
    rss = float(subprocess.run([sys.executable, "-c", ONE_IMAGE, str(path), str(png)],
                               capture_output=True, text=True, check=True).stdout)
    return {
        "architecture": info["architecture"], "precision": info.get("precision", "fp32"),
        "weight_bytes": weight_bytes(path), "file_bytes": path.stat().st_size,
        "test_accuracy": test, "realworld_accuracy": real,
        "latency_median_ms": 1000 * statistics.median(times),
        "latency_p99_ms": 1000 * percentile(times, 0.99),
        "batch_images_per_s": len(mnist.test_images) / batch,
        "peak_rss_mb": rss,
    }


def measure_c(path: Path, mnist: object) -> dict:
    """The int8 model at ``path`` as C, against ONNX Runtime on the test set."""
    binary = c_header.build_checker(c_header.write_c_header(path, path.with_suffix(".h"))[0])
    digits, probabilities, ns = c_header.run_checker(binary, mnist.test_images)
    onnx_probabilities = load_digit_model(path).probabilities(mnist.test_images)
    ms = np.sort(ns) / 1e6
    return {
        "c_test_accuracy": float((digits == mnist.test_labels).mean()),
        "c_agreement_with_onnx": float((digits == onnx_probabilities.argmax(1)).mean()),
        "c_max_probability_difference": float(np.abs(probabilities - onnx_probabilities).max()),
        "c_latency_median_ms": float(np.median(ms)),
        "c_latency_p99_ms": float(percentile(ms, 0.99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", type=Path,
                        default=[Path("runs/seed/model.onnx"), DEFAULT_MODEL,
                                 Path("runs/tiny/model.onnx")],
                        help="fp32 models made by digitrec train")
    parser.add_argument("-n", "--count", type=int, default=2000, help="generated images")
    add_data_dir(parser)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    mnist = load_mnist(args.data_dir, progress=False)
    (train_images, _), _ = mnist.split()
    digits, labels = test_digits(args.count, 0, args.data_dir)
    rng = np.random.default_rng(1)
    processed = [preprocess(render(d, rng).data).image for d in digits]
    # An image where no digit is found counts as wrong: a blank stands in for it.
    seen = np.stack([p if p is not None else np.zeros((28, 28), np.float32)
                     for p in processed])
    work = Path(tempfile.mkdtemp(prefix="digitrec-export-"))
    png = work / "digit.png"
    from PIL import Image

    Image.fromarray(mnist.test_images[0]).save(png)

    rows = []
    for source in args.models:
        variants = {"fp32": source, "fp16": work / f"{source.stem}-fp16.onnx",
                    "int8": work / f"{source.stem}-int8.onnx"}
        quantize.convert_fp16(source, variants["fp16"])
        quantize.quantize_int8(source, variants["int8"], train_images)
        for precision, path in variants.items():
            rows.append({"model": str(source), **measure(path, mnist, seen, labels, png),
                         **(measure_c(path, mnist) if precision == "int8" else {})})
            r = rows[-1]
            print(f"{r['architecture']} {precision}: {r['weight_bytes']:,} B weights, "
                  f"test {r['test_accuracy']:.2%}", file=sys.stderr)
    result = {"benchmark": "export", "command": "python bench/export.py " + " ".join(
        sys.argv[1:]), "generated_images": args.count,
        "peak_rss_mb_of_this_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": rows}
    write_json(args.output, result)
    print("| model | precision | weights B | file B | MNIST test | real-world style | 1 image ms "
          "median (p99), 1 thread | batch img/s, 2 threads | peak MB, load + 1 image |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['architecture']} | {r['precision']} | {r['weight_bytes']:,} "
              f"| {r['file_bytes']:,} | {100 * r['test_accuracy']:.2f}% "
              f"| {100 * r['realworld_accuracy']:.1f}% | {r['latency_median_ms']:.3f} "
              f"({r['latency_p99_ms']:.3f}) | {r['batch_images_per_s']:,.0f} "
              f"| {r['peak_rss_mb']:.0f} |")
    print("\n| model, int8, as C | MNIST test | same digit as ONNX Runtime | largest probability "
          "difference | 1 image ms median (p99) |")
    print("|---|---|---|---|---|")
    for r in rows:
        if "c_test_accuracy" in r:
            print(f"| {r['architecture']} | {100 * r['c_test_accuracy']:.2f}% "
                  f"| {100 * r['c_agreement_with_onnx']:.2f}% "
                  f"| {r['c_max_probability_difference']:.1e} "
                  f"| {r['c_latency_median_ms']:.3f} ({r['c_latency_p99_ms']:.3f}) |")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
