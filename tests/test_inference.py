import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import NOT_DIGITS
from PIL import Image, ImageDraw

from digitrec import load_model
from digitrec.errors import DigitrecError
from digitrec.inference import load_digit_model


def test_probabilities_accept_single_images_and_batches(trained: dict, mnist) -> None:
    model = load_digit_model(trained["path"])
    images = mnist.test_images[:8]
    batch = model.probabilities(images)
    assert batch.shape == (8, 10)
    np.testing.assert_allclose(batch.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(model.probabilities(images[0]), batch[:1], atol=1e-6)
    np.testing.assert_allclose(model.probabilities(images[:, None] / 255.0), batch, atol=1e-6)
    assert (batch.argmax(1) == mnist.test_labels[:8]).mean() >= 0.75
    with pytest.raises(ValueError, match="28x28"):
        model.probabilities(np.zeros((3, 32, 32)))


def test_predict_takes_paths_bytes_pil_images_and_arrays(mnist, tmp_path: Path) -> None:
    model = load_model()  # the shipped model
    digit = 255 - mnist.test_images[0]  # dark ink on white, as on paper
    path = tmp_path / "digit.png"
    Image.fromarray(digit).resize((112, 112)).save(path)
    sources = [path, str(path), path.read_bytes(), Image.open(path), digit,
               np.stack([digit] * 3, axis=2)]  # and an RGB array
    predictions = model.predict_batch(sources)
    assert [p.digit for p in predictions] == [int(mnist.test_labels[0])] * len(sources)
    one = model.predict(path)
    assert one.processed.shape == (28, 28) and one.processed.max() == pytest.approx(1.0)
    assert one.top(3)[0] == (one.digit, pytest.approx(one.confidence))
    assert sum(p for _, p in one.top(10)) == pytest.approx(1.0, abs=1e-4)


def test_blank_image_is_no_digit_not_a_guess() -> None:
    blank = np.full((200, 300), 240, np.uint8)
    prediction = load_model().predict(blank)
    assert prediction.digit is None and prediction.probabilities is None
    assert "no digit found" in prediction.reason


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", b"\x08\x01" * 500])
def test_files_that_are_not_onnx_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(DigitrecError, match=r"model\.onnx: not a valid ONNX model"):
        load_model(path)


def test_environment_names_the_default_model(trained: dict, monkeypatch) -> None:
    assert load_model().card.architecture == "digitnet-wide"  # the shipped one
    monkeypatch.setenv("DIGITREC_MODEL", str(trained["path"]))
    assert load_model().path == trained["path"]
    assert load_model().card.architecture == "digitnet"


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


def test_inference_does_not_import_torch(mnist, tmp_path: Path) -> None:
    path = tmp_path / "seven.png"
    Image.fromarray(mnist.test_images[0]).save(path)
    code = (
        "import sys, digitrec\n"
        f"p = digitrec.load_model().predict({str(path)!r})\n"
        f"assert p.digit == {int(mnist.test_labels[0])}, p\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shipped_model_reads_european_ones_and_crossed_sevens(mnist) -> None:
    from digitrec.glyphs import crossed_seven, european_one

    rng = np.random.default_rng(0)
    model = load_digit_model()
    ones = european_one(mnist.test_images[mnist.test_labels == 1], rng)  # test digits only
    sevens = crossed_seven(mnist.test_images[mnist.test_labels == 7], rng)
    # Measured: 99.6% and 99.2% (a model trained without the variants: 57.3% and 92.6%).
    assert (model.probabilities(ones).argmax(1) == 1).mean() > 0.97
    assert (model.probabilities(sevens).argmax(1) == 7).mean() > 0.97


def _drawn(strokes) -> np.ndarray:
    page = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(page)
    for line in strokes:
        draw.line(line, fill=0, width=14)
    return np.asarray(page)


def test_letters_and_marks_are_flagged_unlike_any_digit(mnist) -> None:
    model = load_model()
    for name, strokes in NOT_DIGITS.items():
        prediction = model.predict(_drawn(strokes))
        assert prediction.unusual, (name, prediction.novelty, model.digits.novelty_threshold)
    # ...while real digits rarely are: the threshold is the 99th percentile of realistic
    # validation digits, which MNIST's own digits cross less often still.
    flagged = np.mean([p.unusual for p in model.predict_batch(list(mnist.test_images[:1000]))])
    assert flagged < 0.02
