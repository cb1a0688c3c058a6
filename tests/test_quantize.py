"""int8 and fp16 copies of a model: same API, nearly the same answers, smaller files, and a
calibration that never sees test images."""

from pathlib import Path

import numpy as np
import onnxruntime.quantization
import pytest

from digitrec.errors import DigitrecError
from digitrec.export import quantize
from digitrec.inference import load_digit_model


@pytest.fixture(scope="module")
def train_images(mnist) -> np.ndarray:
    return mnist.split()[0][0]


def _agreement(a, b, images: np.ndarray) -> float:
    return float((a.probabilities(images).argmax(1) == b.probabilities(images).argmax(1)).mean())


def test_int8_copy_answers_like_its_parent(trained: dict, mnist, train_images,
                                           tmp_path: Path, monkeypatch) -> None:
    seen = []
    original = onnxruntime.quantization.quantize_static

    def spy(model_input, model_output, reader, **kwargs):
        batches = list(iter(reader.get_next, None))
        seen.extend(b["image"] for b in batches)
        replay = iter(batches)

        class Replay(onnxruntime.quantization.CalibrationDataReader):
            def get_next(self):
                return next(replay, None)

        return original(model_input, model_output, Replay(), **kwargs)

    monkeypatch.setattr(onnxruntime.quantization, "quantize_static", spy)
    target = tmp_path / "int8.onnx"
    indices = quantize.quantize_int8(trained["path"], target, train_images, count=500)

    # Calibration saw exactly the chosen training images, none of them a test image.
    calibration = (np.concatenate(seen)[:, 0] * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(calibration, train_images[indices])
    test_rows = {img.tobytes() for img in mnist.test_images}
    assert not any(img.tobytes() in test_rows for img in calibration)

    parent, int8 = load_digit_model(trained["path"]), load_digit_model(target)
    assert int8.info()["precision"] == "int8"
    assert int8.info()["calibration"] == {"split": "train", "seed": 0, "count": 500}
    assert int8.metadata["architecture"] == parent.metadata["architecture"]
    assert target.stat().st_size < 0.5 * trained["path"].stat().st_size
    assert _agreement(parent, int8, mnist.test_images) >= 0.995
    assert int8.predict(mnist.test_images[0]).digit == parent.predict(mnist.test_images[0]).digit


def test_fp16_copy_answers_like_its_parent(trained: dict, mnist, tmp_path: Path) -> None:
    target = tmp_path / "fp16.onnx"
    quantize.convert_fp16(trained["path"], target)
    parent, fp16 = load_digit_model(trained["path"]), load_digit_model(target)
    assert fp16.info()["precision"] == "fp16"
    assert target.stat().st_size < 0.6 * trained["path"].stat().st_size
    assert _agreement(parent, fp16, mnist.test_images) >= 0.999
    assert fp16.probabilities(mnist.test_images[:2]).dtype == np.float32
    with pytest.raises(DigitrecError, match="already an fp16 copy"):
        quantize.quantize_int8(target, tmp_path / "int8.onnx", mnist.split()[0][0])


def test_calibration_indices_are_fixed_and_distinct() -> None:
    a, b = quantize.calibration_indices(55_000), quantize.calibration_indices(55_000)
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a)) == len(a) == quantize.CALIBRATION_IMAGES and a.max() < 55_000


def test_only_digitrec_models_are_quantised(tmp_path: Path, train_images) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x08\x07 not a model")
    with pytest.raises(DigitrecError, match="not a valid ONNX model"):
        quantize.quantize_int8(bad, tmp_path / "out.onnx", train_images)
    assert not (tmp_path / "out.onnx").exists()
