import json
from pathlib import Path

import numpy as np
import pytest

from digitrec.evaluation.metrics import Evaluation, evaluate, format_tables
from digitrec.evaluation.report import write_report
from digitrec.inference import load_digit_model


def _one_hot(predictions: list[int], confidence: list[float]) -> np.ndarray:
    probs = np.zeros((len(predictions), 10))
    for row, (p, c) in enumerate(zip(predictions, confidence, strict=True)):
        probs[row] = (1 - c) / 9
        probs[row, p] = c
    return probs


def test_metrics_by_hand() -> None:
    ev = Evaluation(labels=np.array([0, 0, 1, 1, 2]),
                    probabilities=_one_hot([0, 1, 1, 1, 0], [0.9, 0.6, 0.8, 0.7, 0.95]))
    assert ev.accuracy == pytest.approx(0.6)
    cm = ev.confusion
    assert cm[0, 0] == 1 and cm[0, 1] == 1 and cm[1, 1] == 2 and cm[2, 0] == 1 and cm.sum() == 5
    rows = ev.per_class()
    assert rows[0]["precision"] == pytest.approx(0.5) and rows[0]["recall"] == pytest.approx(0.5)
    assert rows[1]["precision"] == pytest.approx(2 / 3) and rows[1]["recall"] == 1.0
    assert rows[1]["f1"] == pytest.approx(0.8)
    assert rows[2] == {"class": 2, "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert rows[5]["support"] == 0
    assert list(ev.mistakes()) == [4, 1]  # the 95%-confident mistake first
    table = format_tables(ev)
    assert "test accuracy: 60.00% (3/5)" in table


@pytest.mark.slow
def test_report_files(trained: dict, mnist, tmp_path: Path) -> None:
    model = load_digit_model(trained["path"])
    images, labels = mnist.test_images[:300], mnist.test_labels[:300]
    ev = evaluate(model, images, labels, batch_size=128)  # several batches
    written = write_report(ev, images, model, tmp_path)
    names = {p.name for p in written}
    assert names == {"confusion_matrix.png", "predictions.png", "mistakes.png",
                     "training_curves.png", "report.json"}
    for path in written:
        assert path.stat().st_size > 1000
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["images"] == 300
    assert report["accuracy"] == pytest.approx(ev.accuracy)
    assert np.array(report["confusion_matrix"]).sum() == 300
    assert len(report["mistakes"]) == int((ev.predictions != labels).sum())
    assert report["model_metadata"]["architecture"] == "digitnet"
