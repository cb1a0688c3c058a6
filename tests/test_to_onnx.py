import json

import numpy as np
import pytest
import torch
from conftest import TRAINED_IMAGES

from digitrec.inference import load_digit_model
from digitrec.training.validation import predict_logits, to_tensor


def test_onnx_matches_pytorch_on_1000_test_images(trained: dict, mnist) -> None:
    images = mnist.test_images[:1000]
    with torch.no_grad():
        logits = predict_logits(trained["result"].model, to_tensor(images))
    expected = torch.softmax(logits, 1).numpy()
    got = load_digit_model(trained["path"]).probabilities(images)
    assert got.shape == (1000, 10)
    assert np.abs(got - expected).max() < 1e-5


def test_onnx_novelty_matches_the_subspace(trained: dict, mnist) -> None:
    import onnxruntime as ort

    from digitrec.export.subspace import DigitSubspace

    (x, _), (val, _) = mnist.split()
    subspace = DigitSubspace.fit(x[:TRAINED_IMAGES], val)  # as the fixture exported it
    images = mnist.test_images[:200].astype(np.float32)[:, None] / 255
    session = ort.InferenceSession(str(trained["path"]), providers=["CPUExecutionProvider"])
    novelty = session.run(["novelty"], {"image": images})[0]
    expected = subspace.distance(torch.from_numpy(images)).numpy()
    assert np.abs(novelty - expected).max() < 1e-3
    assert load_digit_model(trained["path"]).novelty_threshold == pytest.approx(subspace.threshold,
                                                                         abs=1e-4)


def test_model_file_carries_its_metadata(trained: dict) -> None:
    info = load_digit_model(trained["path"]).info()
    assert info["architecture"] == "digitnet"
    assert info["preprocessing"] == "mnist-28x28-v1"
    assert info["recipe"]["epochs"] == 2 and info["recipe"]["augment"] is True
    assert info["data_sha256"]["t10k-images-idx3-ubyte"].startswith("0fa7898d")
    assert float(info["test_accuracy"]) == round(trained["test_accuracy"], 4)
    assert float(info["validation_accuracy"]) > 0.9
    assert [h["epoch"] for h in info["history"]] == [1, 2]
    assert int(info["parameters"]) > 10_000
    json.dumps(info)  # fully serialisable, as `digitrec info --json` needs
