import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitrec import load_model
from digitrec.errors import DigitrecError


def test_predict_accepts_single_images_and_batches(trained: dict, mnist) -> None:
    model = load_model(trained["path"])
    images = mnist.test_images[:8]
    batch = model.predict(images)
    assert batch.shape == (8, 10)
    np.testing.assert_allclose(batch.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(model.predict(images[0]), batch[:1], atol=1e-6)
    np.testing.assert_allclose(model.predict(images[:, None] / 255.0), batch, atol=1e-6)
    assert (batch.argmax(1) == mnist.test_labels[:8]).mean() >= 0.75
    with pytest.raises(ValueError, match="28x28"):
        model.predict(np.zeros((3, 32, 32)))


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", b"\x08\x01" * 500])
def test_files_that_are_not_onnx_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(DigitrecError, match=r"model\.onnx: not a valid ONNX model"):
        load_model(path)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(DigitrecError, match="model file not found"):
        load_model(tmp_path / "nope.onnx")


def test_onnx_models_that_are_not_digitrec_models_are_refused(trained: dict,
                                                              tmp_path: Path) -> None:
    import onnx

    proto = onnx.load(trained["path"])
    del proto.metadata_props[:]
    onnx.save(proto, tmp_path / "bare.onnx")
    with pytest.raises(DigitrecError, match="lacks digitrec metadata"):
        load_model(tmp_path / "bare.onnx")

    proto.graph.input[0].name = "pixels"
    for node in proto.graph.node:
        node.input[:] = ["pixels" if name == "image" else name for name in node.input]
    onnx.save(proto, tmp_path / "other.onnx")
    with pytest.raises(DigitrecError, match="not a digitrec model"):
        load_model(tmp_path / "other.onnx")


def test_inference_does_not_import_torch(trained: dict) -> None:
    code = (
        "import sys, numpy as np, digitrec\n"
        f"m = digitrec.load_model({str(trained['path'])!r})\n"
        "p = m.predict(np.zeros((28, 28), np.uint8))\n"
        "assert p.shape == (1, 10), p.shape\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
