"""Calibration in one place: how a model's confidence is made honest (applied: `temper` for a
digit's probabilities, `calibrate_line` for a line's confidence, each given its parameters from
the model's card), how those parameters are fitted, and how honesty is measured (expected
calibration error, the reliability diagram's bins). numpy only; `export.calibrate` runs the
fitting on its data sets and writes the results into a card.

Temperature scaling (Guo et al., 2017) divides the logits by one number T before the softmax:
the answer never changes, only how sure it sounds. A model's probabilities already hold its
logits up to a constant, so T can be fitted and applied on probabilities alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BINS = 15  # equal-width confidence bins, as the paper that named ECE used


def temper(probs: np.ndarray, temperature: float | None) -> np.ndarray:
    """Probabilities (N, classes) as the logits divided by ``temperature`` would give them:
    p ** (1 / T), renormalised (probabilities hold the logits up to a constant)."""
    if temperature is None or temperature == 1:
        return probs
    logits = np.log(np.maximum(probs.astype(np.float64), 1e-30)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    tempered = np.exp(logits)
    return (tempered / tempered.sum(axis=1, keepdims=True)).astype(probs.dtype)


def calibrate_line(confidence: float, platt: dict[str, float] | None) -> float:
    """A line's confidence (the probability its text is right) through Platt scaling: its
    log-odds times ``platt["scale"]`` plus ``platt["shift"]``. A line's probability is a product
    over its characters and alignments, far too low where it is low: one temperature cannot
    lift that end without spoiling the other, two numbers can."""
    if platt is None:
        return confidence
    p = min(max(confidence, 1e-6), 1 - 1e-6)
    odds = platt["scale"] * (np.log(p) - np.log1p(-p)) + platt["shift"]
    return float(1 / (1 + np.exp(-odds)))


def reliability(confidence: np.ndarray, correct: np.ndarray,
                bins: int = BINS) -> list[dict[str, float]]:
    """The non-empty bins of confidence: each one's range, mean confidence, accuracy, count."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    out = []
    for k in range(bins):
        inside = which == k
        if inside.any():
            out.append({"low": float(edges[k]), "high": float(edges[k + 1]),
                        "confidence": float(confidence[inside].mean()),
                        "accuracy": float(correct[inside].mean()), "count": int(inside.sum())})
    return out


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               bins: int = BINS) -> float:
    """The gap between confidence and accuracy, bin by bin, weighted by the bins' sizes."""
    total = len(confidence)
    return float(sum(b["count"] / total * abs(b["confidence"] - b["accuracy"])
                     for b in reliability(confidence, correct, bins)))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels``."""
    rows = np.arange(len(labels))
    probs = probs.astype(np.float64)
    return _minimise(lambda t: -np.log(np.maximum(temper(probs, t)[rows, labels], 1e-30)).mean())


def fit_platt(confidence: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    """The scale and shift of confidences' log-odds (see `calibrate_line`) that best predict
    which were right: a one-feature logistic regression, by Newton's method."""
    p = np.clip(confidence.astype(np.float64), 1e-6, 1 - 1e-6)
    x = np.stack([np.log(p) - np.log1p(-p), np.ones_like(p)], 1)
    y = correct.astype(np.float64)
    w = np.array([1.0, 0.0])
    for _ in range(50):
        q = 1 / (1 + np.exp(-x @ w))
        hessian = (x * (q * (1 - q))[:, None]).T @ x + 1e-6 * np.eye(2)
        step = np.linalg.solve(hessian, x.T @ (y - q))
        w += step
        if np.abs(step).max() < 1e-8:
            break
    return {"scale": round(float(max(w[0], 1e-3)), 4), "shift": round(float(w[1]), 4)}


def _minimise(nll: Callable[[float], float]) -> float:
    """The temperature in [0.05, 20] where ``nll`` is least, to three digits: a golden-section
    search on log T (a likelihood is smooth and has one minimum there)."""
    low, high = np.log(0.05), np.log(20.0)
    golden = (np.sqrt(5) - 1) / 2
    a, b = high - golden * (high - low), low + golden * (high - low)
    fa, fb = nll(float(np.exp(a))), nll(float(np.exp(b)))
    while high - low > 1e-3:
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - golden * (high - low)
            fa = nll(float(np.exp(a)))
        else:
            low, a, fa = a, b, fb
            b = low + golden * (high - low)
            fb = nll(float(np.exp(b)))
    return round(float(np.exp((low + high) / 2)), 3)


def most_confident_accuracy(confidence: np.ndarray, correct: np.ndarray,
                            share: float = 0.95) -> float:
    """The accuracy of the ``share`` of answers given most confidently: how well confidence
    sorts right from wrong (an answer left out is one a user would be asked to check)."""
    keep = max(1, round(share * len(confidence)))
    order = np.argsort(-confidence, kind="stable")[:keep]
    return float(correct[order].mean())
