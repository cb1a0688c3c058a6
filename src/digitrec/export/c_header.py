"""An int8 model as one C99 header for firmware, with the kernels header beside it, and the
helpers that compile and run it against raw images.

The helpers (`build_checker`, `run_checker`) serve the tests and bench/export.py, which both
check the C against ONNX Runtime; they live here, beside ``kernels/predict_raw.c`` that they
build, so a user can run the same check on their own header.
"""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..contract import ModelCard
from ..errors import DigitrecError
from ..inference import load_digit_model
from .c_source import CLASSES, PIXELS, Compiler, Program

KERNELS = "digitrec_kernels.h"


def _accuracy(value: float | None) -> str:
    return "not recorded" if value is None else f"{value:.4f}"


def compile_model(path: Path) -> str:
    """The C header for the int8 digitrec model at ``path``."""
    import onnx

    model = load_digit_model(path)  # refuses files that are not digitrec models, in one line
    if model.card.precision != "int8":
        raise DigitrecError(f"{path}: not an int8 model (make one with `digitrec export --int8`)")
    return _header(path, model.card, Compiler(path, onnx.load(path).graph).run())


def _header(path: Path, card: ModelCard, prog: Program) -> str:
    arrays = "\n\n".join(prog.arrays)
    body = "\n".join([*prog.buffers, "", *prog.calls])
    return f"""/* digitrec model {path.name}: {card.architecture}, int8.
 * Written by `digitrec export --c-header`; MNIST test accuracy of the ONNX model it came
 * from: {_accuracy(card.test_accuracy)}.
 *
 * Use: #include this header in one C file, keep {KERNELS} beside it, link with -lm.
 *   uint8_t image[784];  28x28 pixels, row by row, white digit on black (MNIST's form)
 *   float p[10];
 *   int digit = digitrec_predict(image, p);
 * The buffers are static: one call at a time.
 */
#ifndef DIGITREC_MODEL_H
#define DIGITREC_MODEL_H

#include <stdint.h>

#include "{KERNELS}"

{arrays}

/* Writes the ten class probabilities and returns the most likely digit. */
static int digitrec_predict(const uint8_t image[{PIXELS}], float probabilities[{CLASSES}]) {{
{body}
    int digit = 0;
    for (int i = 1; i < {CLASSES}; i++)
        if (probabilities[i] > probabilities[digit]) digit = i;
    return digit;
}}

#endif
"""


def write_c_header(model: str | Path, target: str | Path) -> list[Path]:
    """Write the C header for an int8 model at ``target`` and the kernels header beside it."""
    source, target = Path(model), Path(target)
    text = compile_model(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        Path(tmp).write_text(text)
    kernels = target.with_name(KERNELS)
    with atomic_path(kernels) as tmp, resources.as_file(
            resources.files(__package__) / "kernels" / KERNELS) as src:
        shutil.copyfile(src, tmp)
    return [target, kernels]


def build_checker(header: str | Path, compiler: str = "gcc") -> Path:
    """Compile ``kernels/predict_raw.c`` against a header from `write_c_header`, next to it: a
    program that runs the C model on raw images from stdin (for tests and benchmarks)."""
    header = Path(header)
    binary = header.with_suffix("")
    with resources.as_file(resources.files(__package__) / "kernels" / "predict_raw.c") as src:
        subprocess.run([compiler, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                        "-pedantic", f'-DMODEL_HEADER="{header.name}"', f"-I{header.parent}",
                        str(src), "-o", str(binary), "-lm"], check=True)
    return binary


def run_checker(binary: str | Path, images: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """Digits (N,), probabilities (N, 10) and nanoseconds per call (N,) for uint8 images
    (N, 28, 28), from a program made by `build_checker`."""
    pixels = np.ascontiguousarray(images, dtype=np.uint8)
    out = subprocess.run([str(binary)], input=pixels.tobytes(), capture_output=True,
                         check=True).stdout
    rows = np.loadtxt(out.decode().splitlines(), ndmin=2)
    return rows[:, 0].astype(int), rows[:, 1:-1], rows[:, -1]
