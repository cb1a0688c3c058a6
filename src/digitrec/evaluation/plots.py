"""Figures for reports, drawn with matplotlib off-screen and written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from ..atomic import atomic_path


def _save(fig: plt.Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def confusion_matrix(cm: np.ndarray, path: Path) -> None:
    """Heat map of counts; the diagonal would drown the errors, so colour is log-scaled."""
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ax.imshow(np.log1p(cm), cmap="Blues")
    threshold = np.log1p(cm).max() / 2
    for (true, pred), count in np.ndenumerate(cm):
        ax.text(pred, true, str(count), ha="center", va="center", fontsize=8,
                color="white" if np.log1p(count) > threshold else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
           title=f"Confusion matrix ({cm.trace()}/{cm.sum()} correct)")
    _save(fig, path)


def digit_grid(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
               confidences: np.ndarray, path: Path, title: str) -> None:
    """Digits captioned 'predicted (true) confidence', wrong ones in red."""
    cols = 8
    rows = max(1, -(-len(images) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3 + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(images):
            continue
        ax.imshow(images[k], cmap="gray", vmin=0, vmax=255)
        wrong = predictions[k] != labels[k]
        ax.set_title(f"{predictions[k]} ({labels[k]}) {confidences[k]:.0%}", fontsize=8,
                     color="red" if wrong else "black")
    if not len(images):
        axes.flat[0].text(0.5, 0.5, "none", ha="center", va="center")
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def training_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation."""
    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    loss_ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    loss_ax.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation")
    # Training loss includes label smoothing, so it sits above validation loss by design.
    loss_ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="Loss")
    acc_ax.plot(epochs, [100 * h["train_accuracy"] for h in history], "o-", label="train")
    acc_ax.plot(epochs, [100 * h["val_accuracy"] for h in history], "o-", label="validation")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def prediction_figure(items: list[tuple[str, Any]], path: Path) -> None:
    """One row per image: the image as given, the 28x28 the model saw, the ten probabilities."""
    from PIL import Image

    rows = max(1, len(items))
    fig, axes = plt.subplots(rows, 3, figsize=(9, 2.4 * rows), squeeze=False,
                             gridspec_kw={"width_ratios": [1.3, 1, 1.7]})
    for (source, prediction), (orig_ax, seen_ax, bar_ax) in zip(items, axes, strict=False):
        with Image.open(source) as img:
            img.thumbnail((400, 400))
            # Transparent pixels shown on white, as a web page shows a canvas drawing.
            shown = Image.new("RGBA", img.size, "white")
            shown.alpha_composite(img.convert("RGBA"))
            orig_ax.imshow(shown.convert("RGB"))
        orig_ax.set_title(Path(source).name, fontsize=9)
        for ax in (orig_ax, seen_ax):
            ax.axis("off")
        if prediction.digit is None:
            seen_ax.text(0.5, 0.5, prediction.reason, ha="center", va="center", wrap=True,
                         fontsize=8)
            bar_ax.axis("off")
            continue
        seen_ax.imshow(prediction.processed, cmap="gray", vmin=0, vmax=1,
                       interpolation="nearest")
        seen_ax.set_title("what the model saw", fontsize=9)
        colours = ["tab:blue" if d == prediction.digit else "lightgray" for d in range(10)]
        bar_ax.bar(range(10), prediction.probabilities, color=colours)
        bar_ax.set(xticks=range(10), ylim=(0, 1))
        bar_ax.set_title(f"{prediction.digit} ({prediction.confidence:.0%})", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
