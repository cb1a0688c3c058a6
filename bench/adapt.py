"""Adapting the shipped model to one writer: `digitrec finetune` on 10, 30 and 100 of their
labelled digits, and that writer's error on digits it never saw, before and after.

    apt-get install fonts-bwht fonts-breip fonts-comic-neue fonts-dancingscript \\
        fonts-dkg-handwriting fonts-humor-sans fonts-kaushanscript fonts-kristi
    python bench/adapt.py                          # the worst writers, about 12 minutes
    python bench/adapt.py --dev --sizes 100 --set lr=1e-3    # how the defaults were chosen

A "writer" is a handwriting font from Debian: each digit is drawn from its glyph with the
writer's own variation (slant, width), then through `digitrec.synthetic.render` as a photo,
scan, board or canvas, as `bench/realworld.py` does with MNIST digits. The shipped model reads
every font's screening set (200 images); the writers it reads worst are reported, except the
two development writers, on which `finetune`'s defaults were chosen (`--dev` runs those).

For each writer: 100 labelled images (the first 10 hold one of each digit, the first 30 three)
and 500 unseen test images, each from its own seed. `digitrec finetune default --data DIR
--val-share 0` runs as a user runs it (a fresh process, timed from its start, MNIST loaded
from $DIGITREC_DATA); then the writer's test images are read by the new model file, and MNIST's
test set through ONNX Runtime. The error counts an image whose digit the pipeline cannot find
(no ink found, several pieces) as wrong; fine-tuning cannot fix those, so they are shown apart.
Prints the table and writes bench/results/adapt.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import results_path, write_json
from PIL import Image, ImageDraw, ImageFont

import digitrec
from digitrec.data import load_mnist
from digitrec.synthetic import render

RESULTS = results_path("adapt.json")
FONTS = "/usr/share/fonts"
# Handwriting fonts with whole strokes. Two more were left out: fonts-femkeklaver draws its
# digits as outlines, and fonts-ecolier-court's hairlines vanish at these sizes.
WRITERS = {
    "bwht-build": "opentype/bwht/BecauseWeBuild-Regular.otf",
    "bwht-connect": "opentype/bwht/BecauseWeConnect-Regular.otf",
    "bwht-create": "opentype/bwht/BecauseWeCreate-Regular.otf",
    "bwht-learn": "opentype/bwht/BecauseWeLearn-Regular.otf",
    "bwht-mentor": "opentype/bwht/BecauseWeMentor-Regular.otf",
    "bwht-organize": "opentype/bwht/BecauseWeOrganize-Regular.otf",
    "breip": "truetype/breip/Breip.ttf",
    "comic-neue": "opentype/comic-neue/ComicNeue-Regular.otf",
    "dancing-script": "opentype/dancingscript/DancingScript-Regular.otf",
    "dkg": "truetype/fifthhorseman/dkg.ttf",
    "humor-sans": "truetype/humor-sans/Humor-Sans.ttf",
    "kaushan-script": "opentype/kaushanscript/KaushanScript-Regular.otf",
    "kristi": "truetype/kristi/Kristi.ttf",
}
DEV = ("bwht-build", "bwht-create")  # the defaults were chosen on these: never reported
SCREEN, EXAMPLES, TEST = 200, 100, 500


def glyph(font: ImageFont.FreeTypeFont, digit: int, rng: np.random.Generator) -> np.ndarray:
    """One digit in MNIST's form (28x28 uint8, white on black) as this writer draws it: the
    font's glyph slanted and widened or narrowed a little, fitted into 20x20."""
    img = Image.new("L", (240, 240))
    ImageDraw.Draw(img).text((60, 40), str(digit), fill=255, font=font)
    shear, width = rng.uniform(-0.2, 0.2), rng.uniform(0.85, 1.15)
    img = img.transform(img.size, Image.AFFINE, (1 / width, shear, -shear * 120, 0, 1, 0),
                        resample=Image.BILINEAR)
    ink = img.crop(img.getbbox())
    scale = 20 / max(ink.size)
    ink = ink.resize((max(1, round(ink.width * scale)), max(1, round(ink.height * scale))),
                     Image.LANCZOS)
    out = Image.new("L", (28, 28))
    out.paste(ink, ((28 - ink.width) // 2, (28 - ink.height) // 2))
    return np.asarray(out)


def images(writer: str, count: int, stream: int) -> list[tuple[bytes, str, int]]:
    """``count`` rendered files (data, suffix, digit) of ``writer``, digits in turn."""
    font = ImageFont.truetype(f"{FONTS}/{WRITERS[writer]}", 96)
    rng = np.random.default_rng([sorted(WRITERS).index(writer), stream])
    out = []
    for k in range(count):
        rendered = render(glyph(font, k % 10, rng), rng)
        out.append((rendered.data, rendered.suffix, k % 10))
    return out


def error(model: digitrec.inference.Model,
          files: list[tuple[bytes, str, int]]) -> tuple[float, float]:
    """(share read wrong, share with no digit found)."""
    found = [model.predict(data).digit for data, _, _ in files]
    wrong = sum(f != d for f, (_, _, d) in zip(found, files, strict=True))
    return wrong / len(files), sum(f is None for f in found) / len(files)


def mnist_accuracy(model: digitrec.inference.Model, mnist) -> float:
    probs = model.probabilities(mnist.test_images)
    return float((probs[:, :10].argmax(1) == mnist.test_labels).mean())


def finetune(examples: list[tuple[bytes, str, int]], folder: Path, out: Path,
             settings: list[str]) -> float:
    """Run `digitrec finetune` on ``examples`` written as a folder per class; its seconds."""
    for k, (data, suffix, digit) in enumerate(examples):
        (folder / str(digit)).mkdir(parents=True, exist_ok=True)
        (folder / str(digit) / f"{k:03d}{suffix}").write_bytes(data)
    flags = [f"--{s.split('=')[0].replace('_', '-')}={s.split('=')[1]}" for s in settings]
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "digitrec", "finetune", "default", "--data",
                    str(folder), "--out", str(out), "--val-share", "0", "--quiet", *flags],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", action="store_true",
                        help="run the development writers instead of the worst ones")
    parser.add_argument("--writers", type=int, default=4, help="how many of the worst")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a finetune setting (steps, lr, replay, batch_size, seed)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    shipped = digitrec.inference.load_digit_model()
    mnist = load_mnist(progress=False)
    screened = {} if args.dev else {w: error(shipped, images(w, SCREEN, 0))[0] for w in WRITERS}
    if screened:
        print("screening (error of the shipped model, 200 images each): " + ", ".join(
            f"{w} {e:.1%}" for w, e in sorted(screened.items(), key=lambda i: -i[1])))
    chosen = list(DEV) if args.dev else sorted(
        (w for w in WRITERS if w not in DEV), key=lambda w: -screened[w])[: args.writers]
    before_mnist = mnist_accuracy(shipped, mnist)
    rows = []
    head = (f"{'writer':<16}{'examples':>9}{'error before':>14}{'after':>8}{'no digit':>10}"
            f"{'MNIST before':>14}{'after':>8}{'seconds':>9}")
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        for writer in chosen:
            examples, test = images(writer, EXAMPLES, 1), images(writer, TEST, 2)
            before, missing = error(shipped, test)
            for size in args.sizes:
                out = Path(tmp) / f"{writer}-{size}.onnx"
                seconds = finetune(examples[:size], Path(tmp) / f"{writer}-{size}", out, args.set)
                tuned = digitrec.inference.load_digit_model(out)
                after, _ = error(tuned, test)
                row = {"writer": writer, "examples": size, "error_before": before,
                       "error_after": after, "no_digit": missing,
                       "mnist_before": before_mnist, "mnist_after": mnist_accuracy(tuned, mnist),
                       "seconds": seconds}
                rows.append(row)
                print(f"{writer:<16}{size:>9}{before:>14.1%}{after:>8.1%}{missing:>10.1%}"
                      f"{before_mnist:>14.2%}{row['mnist_after']:>8.2%}{seconds:>9.1f}",
                      flush=True)
    write_json(args.out, {"screening": screened, "settings": args.set, "dev": args.dev,
                          "rows": rows})
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
