"""Score a model on labelled images: accuracy, per-class metrics, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inference import Model


@dataclass(frozen=True)
class Evaluation:
    labels: np.ndarray  # (N,) true classes
    probabilities: np.ndarray  # (N, 10)

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(1)

    @property
    def accuracy(self) -> float:
        return float((self.predictions == self.labels).mean())

    @property
    def confusion(self) -> np.ndarray:
        """Counts (10, 10): row = true class, column = predicted class."""
        cm = np.zeros((10, 10), dtype=np.int64)
        np.add.at(cm, (self.labels, self.predictions), 1)
        return cm

    def per_class(self) -> list[dict[str, float]]:
        cm = self.confusion
        hits = np.diag(cm).astype(float)
        predicted, actual = cm.sum(0), cm.sum(1)
        precision = np.divide(hits, predicted, out=np.zeros(10), where=predicted > 0)
        recall = np.divide(hits, actual, out=np.zeros(10), where=actual > 0)
        denom = precision + recall
        f1 = np.divide(2 * precision * recall, denom, out=np.zeros(10), where=denom > 0)
        return [{"class": c, "precision": float(precision[c]), "recall": float(recall[c]),
                 "f1": float(f1[c]), "support": int(actual[c])} for c in range(10)]

    def mistakes(self) -> np.ndarray:
        """Indices of misclassified images, most confident first."""
        wrong = np.flatnonzero(self.predictions != self.labels)
        return wrong[np.argsort(-self.probabilities[wrong].max(1), kind="stable")]


def evaluate(model: Model, images: np.ndarray, labels: np.ndarray,
             batch_size: int = 2000) -> Evaluation:
    probs = np.concatenate([model.probabilities(images[i : i + batch_size])
                            for i in range(0, len(images), batch_size)])
    return Evaluation(labels=np.asarray(labels, dtype=np.int64), probabilities=probs)


def format_tables(ev: Evaluation) -> str:
    """The per-class metrics and the confusion matrix as plain-text tables."""
    lines = [f"test accuracy: {ev.accuracy:.2%} ({int((ev.predictions == ev.labels).sum())}"
             f"/{len(ev.labels)})", "",
             "class  precision  recall  f1      support"]
    for row in ev.per_class():
        lines.append(f"{row['class']:>5}  {row['precision']:>9.4f}  {row['recall']:>6.4f}  "
                     f"{row['f1']:.4f}  {row['support']:>7}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)",
              "      " + "".join(f"{c:>6}" for c in range(10))]
    for c, row in enumerate(ev.confusion):
        lines.append(f"{c:>6}" + "".join(f"{v:>6}" for v in row))
    return "\n".join(lines)
