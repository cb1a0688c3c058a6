"""Inference speed: cold start, one image end to end, batch throughput.

    python bench/predict.py

Measures, in one run, for the shipped model, the `digitnet` and `seed` networks on ONNX Runtime
(digitrec's inference path; `--no-locator`, and the shipped model also through the handwriting
locator, `predict`'s default) and in plain PyTorch eager mode:
  cold start   a fresh process that predicts one PNG (`digitrec predict`, or the equivalent
               bare script), median of several runs;
  28x28 e2e    one 28x28 PNG in memory: decode, preprocess, model (median of many calls);
  photo e2e    one 640x480 JPEG photo of a digit: decode, preprocess, model;
  batch        already-processed 28x28 images per second, 10,000 at a time.
Timings depend on weights only through their shapes, so the networks other than the shipped
one, and the PyTorch models, are freshly initialised networks of the same architecture. Needs
torch (the `train` extra). Prints a table and writes bench/results/predict.json.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import add_data_dir, median_seconds, results_path, write_json
from PIL import Image

import digitrec
from digitrec.cpus import available_cores
from digitrec.data import MNIST, load_mnist
from digitrec.inference.locator import load_locator
from digitrec.synthetic import render
from digitrec.vision import preprocess

RESULTS = results_path("predict.json")

BARE_ORT = """
import sys, numpy as np, onnxruntime as ort
from PIL import Image
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.asarray(Image.open(sys.argv[2]).convert("L"), np.float32)[None, None] / 255
print(int(s.run(None, {"image": x})[0].argmax()))
"""

TORCH_COLD = """
import sys, numpy as np, torch
from PIL import Image
from digitrec.training.networks import build_model
from digitrec.vision import preprocess
model = build_model(sys.argv[1]).eval()
x = torch.from_numpy(preprocess(sys.argv[2]).image)[None, None]
with torch.no_grad():
    print(int(model(x).argmax()))
"""


def cold_start(cmd: list[str], repeats: int) -> float:
    return median_seconds(lambda: subprocess.run(cmd, check=True, capture_output=True), repeats)


def export_untrained(arch: str, path: Path, mnist: MNIST) -> None:
    import torch

    from digitrec.contract import ModelCard
    from digitrec.export.subspace import DigitSubspace
    from digitrec.export.to_onnx import export_onnx
    from digitrec.training.networks import build_model

    torch.manual_seed(0)
    (train, _), (val, _) = mnist.split()
    export_onnx(build_model(arch).eval(), path,
                ModelCard(architecture=arch, extra={"note": "untrained"}),
                DigitSubspace.fit(train, val))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_data_dir(parser)
    parser.add_argument("--repeats", type=int, default=9, help="cold starts per row")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    import torch

    from digitrec.training.networks import build_model

    threads = available_cores()
    torch.set_num_threads(threads)
    mnist = load_mnist(args.data_dir, progress=False)
    work = Path(tempfile.mkdtemp(prefix="digitrec-bench-"))
    png28 = work / "digit.png"
    Image.fromarray(mnist.test_images[0]).save(png28)
    png_bytes = png28.read_bytes()
    photo_bytes = _photo_640x480(mnist.test_images[1])
    batch = mnist.test_images.astype(np.float32)[:, None] / 255  # already in MNIST form

    shipped = digitrec.inference.load_digit_model()
    onnx_models = {shipped.metadata["architecture"]: shipped}
    for arch in ("digitnet", "seed"):
        if arch not in onnx_models:
            export_untrained(arch, work / f"{arch}.onnx", mnist)
            onnx_models[arch] = digitrec.inference.load_digit_model(work / f"{arch}.onnx")
    rows = []
    for arch, model in onnx_models.items():
        cold = cold_start([sys.executable, "-m", "digitrec", "predict", str(png28),
                           "--model", str(model.path), "--no-locator"], args.repeats)
        bare = cold_start([sys.executable, "-c", BARE_ORT, str(model.path), str(png28)],
                          args.repeats)
        rows.append({
            "engine": "ONNX Runtime (digitrec)", "arch": arch,
            "cold_start_s": cold, "bare_script_cold_start_s": bare,
            "e2e_28x28_ms": 1000 * median_seconds(
                lambda m=model: m.predict(png_bytes), 1000, warmup=3),
            "e2e_photo_ms": 1000 * median_seconds(
                lambda m=model: m.predict(photo_bytes), 200, warmup=3),
            "batch_images_per_s": len(batch) / median_seconds(
                lambda m=model: m.probabilities(batch), 5, warmup=1),
        })
    # What `predict` does by default: the digit looked for in what the locator takes for
    # handwriting (a cell's border or a form's print left out).
    locator = load_locator()
    rows.append({
        "engine": "ONNX Runtime (digitrec) + locator", "arch": shipped.metadata["architecture"],
        "cold_start_s": cold_start([sys.executable, "-m", "digitrec", "predict", str(png28)],
                                   args.repeats),
        "bare_script_cold_start_s": None,
        "e2e_28x28_ms": 1000 * median_seconds(
            lambda: shipped.predict(png_bytes, locator), 1000, warmup=3),
        "e2e_photo_ms": 1000 * median_seconds(
            lambda: shipped.predict(photo_bytes, locator), 200, warmup=3),
        "batch_images_per_s": rows[0]["batch_images_per_s"],  # the same network
    })
    for arch in onnx_models:
        net = build_model(arch).eval()

        @torch.no_grad()
        def run_torch(data: bytes, net=net) -> int:
            x = torch.from_numpy(preprocess(data).image)[None, None]
            return int(net(x).argmax())

        @torch.no_grad()
        def run_batch(net=net) -> None:
            for chunk in torch.from_numpy(batch).split(2000):
                net(chunk)

        rows.append({
            "engine": "PyTorch eager", "arch": arch,
            "cold_start_s": cold_start([sys.executable, "-c", TORCH_COLD, arch, str(png28)],
                                       args.repeats),
            "bare_script_cold_start_s": None,
            "e2e_28x28_ms": 1000 * median_seconds(
                lambda f=run_torch: f(png_bytes), 1000, warmup=3),
            "e2e_photo_ms": 1000 * median_seconds(
                lambda f=run_torch: f(photo_bytes), 200, warmup=3),
            "batch_images_per_s": len(batch) / median_seconds(run_batch, 5, warmup=1),
        })
    preprocess_only = {
        "28x28_ms": 1000 * median_seconds(lambda: preprocess(png_bytes), 1000, warmup=3),
        "photo_ms": 1000 * median_seconds(lambda: preprocess(photo_bytes), 200, warmup=3),
    }
    result = {"benchmark": "predict", "command": "python bench/predict.py " + " ".join(
        sys.argv[1:]), "threads": threads, "rows": rows, "preprocess_only": preprocess_only}
    write_json(args.output, result)

    print("| engine | model | cold start, s (bare script) | 28x28 PNG e2e, ms "
          "| 640x480 photo e2e, ms | batch, images/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        bare = f" ({r['bare_script_cold_start_s']:.2f})" if r["bare_script_cold_start_s"] else ""
        print(f"| {r['engine']} | {r['arch']} | {r['cold_start_s']:.2f}{bare} "
              f"| {r['e2e_28x28_ms']:.2f} | {r['e2e_photo_ms']:.2f} "
              f"| {r['batch_images_per_s']:,.0f} |")
    print(f"\npreprocessing alone: 28x28 PNG {preprocess_only['28x28_ms']:.2f} ms, 640x480 photo "
          f"{preprocess_only['photo_ms']:.2f} ms; {threads} threads")
    print(f"written to {args.output}")


def _photo_640x480(digit: np.ndarray) -> bytes:
    """A 640x480 photo-style JPEG: the first rendering of that size."""
    for seed in range(100):
        rendered = render(digit, np.random.default_rng(seed), "photo")
        if Image.open(io.BytesIO(rendered.data)).size == (640, 480):
            return rendered.data
    raise RuntimeError("no 640x480 rendering found")


if __name__ == "__main__":
    main()
