"""The evaluation report: report.json (every number, every mistake) and the figures, written
atomically into one folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text
from ..inference import Model
from . import plots
from .metrics import Evaluation

GRID_SAMPLE = 64
GRID_MISTAKES = 32
_SAMPLE_SEED = 0


def write_report(ev: Evaluation, images: np.ndarray, model: Model, folder: Path) -> list[Path]:
    """report.json and the figures, written atomically into ``folder``; returns the paths."""

    folder.mkdir(parents=True, exist_ok=True)
    preds, conf = ev.predictions, ev.probabilities.max(1)
    written = [folder / "confusion_matrix.png", folder / "predictions.png",
               folder / "mistakes.png"]
    plots.confusion_matrix(ev.confusion, written[0])
    sample = np.sort(np.random.default_rng(_SAMPLE_SEED).choice(
        len(ev.labels), size=min(GRID_SAMPLE, len(ev.labels)), replace=False))
    plots.digit_grid(images[sample], ev.labels[sample], preds[sample], conf[sample], written[1],
                     "Sample of test digits: predicted (true); errors in red")
    worst = ev.mistakes()[:GRID_MISTAKES]
    plots.digit_grid(images[worst], ev.labels[worst], preds[worst], conf[worst], written[2],
                     "Most confident mistakes: predicted (true), confidence")
    info = model.info()
    if info.get("history"):
        written.append(folder / "training_curves.png")
        plots.training_curves(info["history"], written[-1])
    report: dict[str, Any] = {
        "model": str(model.path),
        "model_metadata": info,
        "images": len(ev.labels),
        "accuracy": ev.accuracy,
        "per_class": ev.per_class(),
        "confusion_matrix": ev.confusion.tolist(),
        "mistakes": [{"index": int(i), "true": int(ev.labels[i]), "predicted": int(preds[i]),
                      "confidence": float(conf[i])} for i in ev.mistakes()],
    }
    written.append(folder / "report.json")
    write_text(written[-1], json.dumps(report, indent=2) + "\n")
    return written
