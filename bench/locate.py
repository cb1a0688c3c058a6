"""Finding handwriting: the locator against thresholds and rules, on composed scenes held out
from training, per kind of context; and what it costs in time.

    python bench/locate.py              # 200 scenes per kind, about 2 minutes
    python bench/locate.py -n 50        # a quick look
    python bench/locate.py --locator runs/locate/model.onnx

Scenes are `digitrec.training.scenes` written with MNIST *test* digits (training uses the
training digits) and a seed training never uses: cells of ruled tables with borders, margins
and print; form fields; cheque fields on guilloche; lined and squared pages; writing alone;
print alone. Both ways find ink in the same ink map, as `read` does:
  rules     `ink_mask`: a threshold, ruled lines and specks taken out
  locator   the groups of that ink the locator takes for writing (what `read` and `calc` use)
Metrics: pixel F1 of the handwriting (precision and recall beside it), and line recall: of the
strings written in a scene, the share that a line `segment` finds covers (its rows hold the
string's middle, its columns half of the string's). Timings, one thread, median: the locator
on a 256x256 and a 512x384 ink map, and `read` of 640x480 photos of 5-digit numbers with and
without the locator (a ratio measured side by side). Writes bench/results/locate.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _common import add_data_dir, median_seconds, results_path, save

import digitrec
from digitrec.data import load_mnist
from digitrec.inference.locator import Locator
from digitrec.reading.segment import segment
from digitrec.synthetic import render_number
from digitrec.training.locate import f1, f1_counts
from digitrec.training.scenes import KINDS, Scene, scene
from digitrec.vision.ink import ink_mask
from digitrec.vision.pipeline import only_writing

SEED = 20_261_206  # no training run uses it


def _written(s: Scene) -> list[tuple[int, int, int, int]]:
    """Each string written in scene ``s`` as its visible handwriting's box (top, bottom, left,
    right): its box in the scene tightened to its target pixels; strings out of sight left
    out."""
    out = []
    for top, bottom, left, right in s.lines:
        inside = s.target[top:bottom, left:right] > 0
        if inside.sum() < 20:
            continue
        rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
        out.append((top + rows[0], top + rows[-1] + 1, left + cols[0], left + cols[-1] + 1))
    return out


def _found(mask: np.ndarray, lines: list[tuple[int, int, int, int]]) -> int:
    """How many of the written ``lines`` a line segmented from ``mask`` covers."""
    segmented = [(line.top, line.bottom, line.pieces[0].left, line.pieces[-1].right)
                 for line in segment(mask)]
    hits = 0
    for top, bottom, left, right in lines:
        middle = (top + bottom) / 2
        hits += any(t <= middle <= b and min(r, right) - max(x, left) >= (right - left) / 2
                    for t, b, x, r in segmented)
    return hits


def measure(scenes: list[Scene], locator: Locator) -> dict:
    """Pixel F1 and line recall of both ways of finding ink over ``scenes``."""
    counts = {name: np.zeros(3) for name in ("locator", "rules")}
    found = {name: 0 for name in counts}
    lines = 0
    for s in scenes:
        rules = ink_mask(s.image)
        written = _written(s)
        lines += len(written)
        for name, mask in (("locator", only_writing(rules, locator(s.image))),
                           ("rules", rules)):
            counts[name] += f1_counts(mask, s.target > 0)
            found[name] += _found(mask, written)
    out = {}
    for name in counts:
        tp, predicted, true = counts[name].astype(int)
        out[name] = {"f1": f1(tp, predicted, true) if true else None,
                     "false_pixels_per_scene": (predicted - tp) / len(scenes),
                     "precision": tp / predicted if predicted else 1.0,
                     "recall": tp / true if true else 1.0,
                     "lines": lines, "line_recall": found[name] / lines if lines else None}
    return out


def speeds(model: digitrec.Reader, mnist_test: tuple[np.ndarray, np.ndarray],
           calls: int) -> dict:
    rng = np.random.default_rng(SEED)
    locator = model.locator
    maps = {"256x256": rng.random((256, 256), np.float32),
            "512x384": rng.random((384, 512), np.float32)}
    out = {f"locator_ms_{k}": 1000 * median_seconds(lambda m=m: locator(m), calls, 3)
           for k, m in maps.items()}
    images, labels = mnist_test
    pools = [images[labels == d] for d in range(10)]
    photos = [render_number("".join(str(d) for d in rng.integers(0, 10, 5)),
                            [pools[d][int(rng.integers(len(pools[d])))] for d in range(5)],
                            rng, "photo").data for _ in range(20)]
    rules = model.without_locator()
    for name, reader in (("read_ms_locator", model), ("read_ms_rules", rules)):
        out[name] = 1000 * median_seconds(lambda r=reader: [r.read(p) for p in photos],
                                          max(1, calls // 10), 1) / len(photos)
    out["read_ratio"] = out["read_ms_locator"] / out["read_ms_rules"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="scenes per kind")
    parser.add_argument("--locator", help="a locator's file (default: the shipped one)")
    parser.add_argument("--output", type=Path, default=results_path("locate.json"))
    add_data_dir(parser)
    args = parser.parse_args(argv)

    model = digitrec.load_model(locator=args.locator, threads=1)
    if model.locator is None:
        raise SystemExit("no locator: none is shipped and --locator names none")
    mnist = load_mnist(args.data_dir, progress=False)
    pools = [mnist.test_images[mnist.test_labels == d] for d in range(10)]
    by_kind = {}
    for k, kind in enumerate(KINDS):
        rng = np.random.default_rng([SEED, k])
        by_kind[kind] = measure([scene(pools, rng, kind) for _ in range(args.n)],
                                model.locator)
    print(f"{args.n} scenes per kind (MNIST test digits); pixel F1 of the handwriting "
          "(precision / recall), lines found")
    print("| scenes | locator F1 | rules F1 | locator lines | rules lines |")
    print("|---|---|---|---|---|")
    for kind, r in by_kind.items():
        def cell(name: str, r: dict = r) -> str:
            if r[name]["f1"] is None:  # nothing to find: what was found is all wrong
                return f"{r[name]['false_pixels_per_scene']:.0f} px a scene taken for writing"
            return f"{r[name]['f1']:.3f} ({r[name]['precision']:.2f} / {r[name]['recall']:.2f})"

        def lines(name: str, r: dict = r) -> str:
            recall = r[name]["line_recall"]
            return "-" if recall is None else f"{recall:.1%} of {r[name]['lines']}"

        print(f"| {kind} | {cell('locator')} | {cell('rules')} | {lines('locator')} | "
              f"{lines('rules')} |")
    timing = speeds(model, (mnist.test_images, mnist.test_labels), 50)
    print(f"locator alone: {timing['locator_ms_256x256']:.1f} ms on 256x256, "
          f"{timing['locator_ms_512x384']:.1f} ms on 512x384; read of a 640x480 photo "
          f"{timing['read_ms_locator']:.1f} ms with it, {timing['read_ms_rules']:.1f} ms "
          f"without ({timing['read_ratio']:.2f}x), one thread")
    save({"scenes_per_kind": args.n, "seed": SEED, "locator": str(model.locator.path),
          "kinds": by_kind, "timing": timing}, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
