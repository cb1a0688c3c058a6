"""A Keras tutorial's model brought into digitrec: the same weights, Keras's pipeline against
digitrec's, and the time to read one image.

    KERAS_BACKEND=torch python bench/import.py          # about 5 minutes on 2 cores
    python bench/import.py --epochs 1 -n 300            # a quick look

The model is the tutorial's (Conv2D 32 3x3, max pool, Conv2D 64 3x3, max pool, Flatten,
Dense 128, Dense 10 softmax), trained by Keras as the tutorial trains it (Adam, batch 128,
pixels / 255, 5 epochs on MNIST's 60,000 training digits) and saved as mnist_cnn_model.h5.
`digitrec import` converts it in a fresh process (timed). Then:

- MNIST test accuracy in Keras and through the imported file (they must agree), and the
  largest difference between their probabilities;
- the realistic renderings of bench/realworld.py (MNIST test digits as photos, scans, boards,
  canvases; the same seed), read by Keras through the tutorial's own pipeline (grayscale,
  resize to 28x28, / 255) and by digitrec's pipeline with the imported weights;
- one image at a time, median of 200 interleaved calls: Keras `model.predict(x)`, Keras
  `model(x)`, and digitrec's `model.predict(file bytes)` (decode and preprocessing included)
  and `model.probabilities(x)` (the network alone, as Keras's figures are).

Keras runs on its torch backend (no TensorFlow here); set KERAS_BACKEND before starting to try
another. Prints tables and writes bench/results/import.json.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import add_data_dir, median_seconds, results_path, write_json
from PIL import Image
from realworld import test_digits

import digitrec
from digitrec.data import load_mnist
from digitrec.synthetic import render

os.environ.setdefault("KERAS_BACKEND", "torch")
RESULTS = results_path("import.json")


def tutorial_model(keras):
    L = keras.layers
    return keras.Sequential([
        L.Input((28, 28, 1)), L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)), L.Flatten(),
        L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])


def keras_naive(keras, keras_model, data: bytes) -> int:
    gray = Image.open(io.BytesIO(data)).convert("L").resize((28, 28), Image.BILINEAR)
    x = (np.asarray(gray, np.float32) / 255)[None, :, :, None]
    return int(keras.ops.convert_to_numpy(keras_model(x, training=False)).argmax())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("-n", "--count", type=int, default=1000, help="rendered images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=200, help="timed calls of each kind")
    add_data_dir(parser)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    import keras

    mnist = load_mnist(args.data_dir, progress=False)
    keras.utils.set_random_seed(args.seed)
    model = tutorial_model(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    began = time.perf_counter()
    model.fit((mnist.train_images / 255.0)[..., None], mnist.train_labels, epochs=args.epochs,
              batch_size=128, verbose=0)
    train_seconds = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as tmp:
        h5, onnx = Path(tmp) / "mnist_cnn_model.h5", Path(tmp) / "model.onnx"
        model.save(h5)
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "digitrec", "import", str(h5), "--out", str(onnx),
                        *(["--data-dir", args.data_dir] if args.data_dir else [])],
                       check=True, stdout=subprocess.DEVNULL)
        import_seconds = time.perf_counter() - began
        ours = digitrec.inference.load_digit_model(onnx)

        keras_probs = model.predict((mnist.test_images / 255.0)[..., None], verbose=0)
        our_probs = ours.probabilities(mnist.test_images)
        accuracy = {"keras": float((keras_probs.argmax(1) == mnist.test_labels).mean()),
                    "imported": float((our_probs.argmax(1) == mnist.test_labels).mean()),
                    "max_probability_difference": float(np.abs(keras_probs - our_probs).max()),
                    "argmax_disagreements": int((keras_probs.argmax(1)
                                                 != our_probs.argmax(1)).sum())}

        digits, labels = test_digits(args.count, args.seed, args.data_dir)
        rng = np.random.default_rng(args.seed + 1)  # as bench/realworld.py draws them
        by_style: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
        sample = None
        for digit, label in zip(digits, labels, strict=True):
            r = render(digit, rng)
            sample = sample or r.data
            outcome = (keras_naive(keras, model, r.data) == label,
                       ours.predict(r.data).digit == label)
            for tag in ("all", r.style):
                by_style[tag].append(outcome)
        real = {tag: {"images": len(v), "keras_pipeline": float(np.mean([k for k, _ in v])),
                      "digitrec_pipeline": float(np.mean([d for _, d in v]))}
                for tag, v in by_style.items()}

        x = (mnist.test_images[:1] / 255.0)[..., None].astype(np.float32)
        image = mnist.test_images[0]
        runs = {"keras model.predict(x)": lambda: model.predict(x, verbose=0),
                "keras model(x)": lambda: model(x, training=False),
                "digitrec model.predict(file)": lambda: ours.predict(sample),
                "digitrec model.probabilities(x)": lambda: ours.probabilities(image)}
        for run in runs.values():  # warm up
            run()
        timings: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.calls // 20):  # interleaved, in rounds of 20 calls
            for name, run in runs.items():
                timings[name].append(1000 * median_seconds(run, 20))
        latency = {name: statistics.median(v) for name, v in timings.items()}

    result = {"benchmark": "import", "command": "python bench/import.py " + " ".join(sys.argv[1:]),
              "keras_version": keras.__version__, "keras_backend": keras.backend.backend(),
              "epochs": args.epochs, "train_seconds": train_seconds,
              "import_seconds": import_seconds, "mnist": accuracy, "realworld": real,
              "latency_ms": latency}
    write_json(args.output, result)

    print(f"Keras {keras.__version__} ({keras.backend.backend()}): trained {args.epochs} "
          f"epochs in {train_seconds:.0f} s; `digitrec import` took {import_seconds:.1f} s")
    print(f"\nMNIST test: Keras {accuracy['keras']:.2%}, imported {accuracy['imported']:.2%} "
          f"({accuracy['argmax_disagreements']} answers differ; probabilities within "
          f"{accuracy['max_probability_difference']:.1e})")
    print("\n| images | count | Keras, tutorial pipeline | digitrec, same weights |")
    print("|---|---|---|---|")
    for tag in sorted(real, key=lambda t: (t != "all", t)):
        r = real[tag]
        print(f"| {tag} | {r['images']:,} | {r['keras_pipeline']:.1%} "
              f"| {r['digitrec_pipeline']:.1%} |")
    print("\n| one image | median ms |")
    print("|---|---|")
    for name, ms in latency.items():
        print(f"| {name} | {ms:.2f} |")
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
