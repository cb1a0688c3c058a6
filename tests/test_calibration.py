"""Honest confidence (issue 18): temperature scaling, its fit, ECE, and the shipped model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import digitrec
from digitrec.inference.calibration import (
    expected_calibration_error,
    fit_temperature,
    most_confident_accuracy,
    reliability,
    temper,
)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_tempering_probabilities_is_dividing_the_logits() -> None:
    logits = np.random.default_rng(0).normal(0, 3, (50, 10))
    for t in (0.5, 2.0):
        assert np.allclose(temper(_softmax(logits), t), _softmax(logits / t), atol=1e-9)
    probs = _softmax(logits)
    assert temper(probs, None) is probs and (temper(probs, 0.5).argmax(1) == probs.argmax(1)).all()


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with(true_t: float) -> None:
    # Labels drawn from softmax(logits / true_t): the model given the logits is miscalibrated
    # by exactly true_t, which the fit must find.
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 4, (20000, 10))
    honest = _softmax(logits / true_t)
    labels = np.array([rng.choice(10, p=p) for p in honest])
    assert fit_temperature(_softmax(logits), labels) == pytest.approx(true_t, rel=0.05)
    correct = _softmax(logits).argmax(1) == labels
    calibrated = expected_calibration_error(honest.max(1), correct)
    assert calibrated < 0.02
    if true_t != 1.0:
        assert expected_calibration_error(_softmax(logits).max(1), correct) > 3 * calibrated


def test_reliability_bins_and_ranking() -> None:
    confidence = np.array([0.95, 0.95, 0.55, 0.55, 0.15])
    correct = np.array([True, True, True, False, False])
    bins = reliability(confidence, correct)
    assert [b["count"] for b in bins] == [1, 2, 2]
    assert expected_calibration_error(confidence, correct) == pytest.approx(
        (0.15 + 2 * 0.05 + 2 * 0.05) / 5)
    assert most_confident_accuracy(confidence, correct, 0.4) == 1.0
    assert most_confident_accuracy(confidence, correct, 1.0) == 0.6


@pytest.mark.slow
def test_the_shipped_model_is_calibrated_on_mnist_and_realistic_images(mnist) -> None:
    # bench/calibration.py measures the goal (ECE at most 0.02) on 600-5,000 images a set; this
    # smaller sample catches a model shipped uncalibrated (ECE 0.09-0.12 before).
    from digitrec.synthetic import STYLES, render

    model = digitrec.inference.load_digit_model()
    assert model.temperature is not None and model.temperature < 1  # it was underconfident
    assert model.read_calibration is not None
    rng = np.random.default_rng(5)
    pick = rng.permutation(len(mnist.test_labels))[:1200]
    sets = {"mnist": (list(mnist.test_images[pick[:800]]), mnist.test_labels[pick[:800]]),
            "realistic": ([render(d, rng, STYLES[k % 4]).data
                           for k, d in enumerate(mnist.test_images[pick[800:]])],
                          mnist.test_labels[pick[800:]])}
    for name, (images, labels) in sets.items():
        found = model.predict_batch(images)
        confidence = np.array([p.confidence if p.digit is not None else 0.0 for p in found])
        correct = np.array([p.digit == y for p, y in zip(found, labels, strict=True)])
        assert expected_calibration_error(confidence, correct) < 0.035, name


def test_calibrate_writes_a_model_that_answers_the_same_more_honestly(
        tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "calibrated.onnx"
    import onnx

    from digitrec.contract import ModelCard

    plain = tmp_path / "plain.onnx"  # the shipped model without its calibration
    proto = onnx.load(digitrec.inference.load_digit_model().path)
    card = ModelCard.from_metadata({p.key: p.value for p in proto.metadata_props})
    card.replace(temperature=None, read_calibration=None).write_into(proto)
    onnx.save(proto, plain)
    done = subprocess.run([sys.executable, "-m", "digitrec", "calibrate", "--model", str(plain),
                           "--out", str(out), "--data-dir", str(mnist_dir), "--images", "600",
                           "--numbers", "100"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "temperature 0." in done.stdout and "(was 1.000)" in done.stdout
    before, after = (digitrec.inference.load_digit_model(plain),
                     digitrec.inference.load_digit_model(out))
    assert before.temperature is None and 0.3 < after.temperature < 0.8
    assert before.read_calibration is None and after.read_calibration["shift"] > 0
    images = np.random.default_rng(2).integers(0, 256, (20, 28, 28)).astype(np.uint8)
    p0, p1 = before.probabilities(images), after.probabilities(images)
    assert (p0.argmax(1) == p1.argmax(1)).all() and (p1.max(1) >= p0.max(1) - 1e-6).all()
    again = subprocess.run([sys.executable, "-m", "digitrec", "calibrate", "--model", str(plain),
                            "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 1 and "exists" in again.stderr


@pytest.mark.slow
def test_calibration_renders_once_and_then_only_runs_the_model(mnist, tmp_path, monkeypatch):
    # Rendering and preprocessing took most of the minute every training spent calibrating.
    from digitrec.export import calibrate as calibration

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = digitrec.load_model(threads=1)
    first = calibration.calibrate(model, mnist, 200, numbers=30)
    kept = sorted(p.name for p in (tmp_path / "digitrec" / "calibration").iterdir())
    assert [name.split("-")[:3] for name in kept] == [["digits", "200", "0"],
                                                      ["numbers", "30", "0"]]

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(calibration, "render", no_rendering)
    monkeypatch.setattr("digitrec.synthetic.render_number", no_rendering)
    assert calibration.calibrate(model, mnist, 200, numbers=30) == first

    # A damaged cache file is made again, not trusted and not a crash.
    damaged = tmp_path / "digitrec" / "calibration" / kept[0]
    damaged.write_bytes(b"half a file")
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert calibration.calibrate(model, mnist, 200, numbers=30) == first
    assert damaged.stat().st_size > 1000
