"""`digitrec import`: real Keras files, made by Keras (tests/fixtures/keras/make.py), give the
probabilities Keras gave, through the whole digitrec model file; what cannot be imported is
refused in one line."""

import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, missing, run

from digitrec.errors import DigitrecError
from digitrec.importing import import_keras
from digitrec.inference import load_digit_model

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on the torch we have; no TensorFlow
FIXTURES = Path(__file__).parent / "fixtures" / "keras"
sys.path.insert(0, str(FIXTURES))
import make  # noqa: E402  (the fixtures' own script: the same models, built at test time)

COMMITTED = ["tiny.h5", "tiny.keras", "mlp.h5", "mlp.keras", "tiny-keras2.h5", "mlp-keras2.h5"]


def assert_same_as_keras(model_file: Path, keras_probs: np.ndarray, mnist) -> None:
    ours = load_digit_model(model_file).probabilities(mnist.test_images[: len(keras_probs)])
    assert np.abs(ours - keras_probs).max() < 1e-5
    assert (ours.argmax(1) == keras_probs.argmax(1)).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", COMMITTED)
def test_committed_keras_files_give_keras_probabilities(name, mnist, tmp_path):
    out = tmp_path / "model.onnx"
    done = import_keras(FIXTURES / name, out, mnist)
    keras_probs = np.load(FIXTURES / f"{name.split('.')[0]}.probs.npy")
    assert_same_as_keras(out, keras_probs, mnist)
    # Keras reached these accuracies on the 1,000; the import keeps them on all 10,000.
    assert done.card.test_accuracy > 0.75
    imported = done.card.imported
    assert imported["sha256"] == hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest()
    assert imported["keras_version"].startswith("2." if "keras2" in name else "3.")
    assert imported["pixels"].startswith("0-255" if name.startswith("mlp") else "x / 255")
    assert load_digit_model(out).novelty_threshold is not None


@pytest.fixture(scope="module")
def keras():
    try:
        import keras
    except ImportError:
        missing("Keras is not installed: pip install keras (the dev extra has it)")
    return keras


@pytest.mark.slow
def test_the_tutorials_model_made_by_keras_now(keras, mnist, tmp_path):
    """The tutorial's architecture (225k weights: too big to commit) saved by this Keras in
    both formats, imported, and compared on 1,000 test images."""
    make.save(keras, "seed", tmp_path, mnist, epochs=1, train=3000)
    keras_probs = np.load(tmp_path / "seed.probs.npy")
    for kind in (".h5", ".keras"):
        out = tmp_path / f"seed{kind}.onnx"
        done = import_keras(tmp_path / f"seed{kind}", out, mnist)
        assert_same_as_keras(out, keras_probs, mnist)
        assert done.card.parameters == 225_034 and done.card.test_accuracy > 0.8
    # Everything else a digitrec model gets: an int8 copy that answers as Keras does, and C.
    from digitrec.export.c_header import write_c_header
    from digitrec.export.quantize import quantize_int8

    int8 = tmp_path / "seed-int8.onnx"
    quantize_int8(tmp_path / "seed.h5.onnx", int8, mnist.train_images)
    answers = load_digit_model(int8).probabilities(mnist.test_images[:1000]).argmax(1)
    assert (answers == keras_probs.argmax(1)).mean() > 0.98
    header = write_c_header(int8, tmp_path / "seed.h")[0]
    assert "digitrec_predict" in header.read_text()


def test_a_functional_chain_is_imported_and_a_branch_refused(keras, mnist, tmp_path):
    layers = keras.layers
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    chain = keras.Model(inputs, layers.Dense(10, activation="softmax")(x))
    chain.save(tmp_path / "chain.keras")
    images = mnist.test_images[:200]
    keras_probs = chain.predict((images / 255.0)[..., None], verbose=0)
    import_keras(tmp_path / "chain.keras", tmp_path / "chain.onnx")
    assert_same_as_keras(tmp_path / "chain.onnx", keras_probs, mnist)

    y = layers.Conv2D(4, 3, activation="relu")(inputs)
    merged = layers.Add()([layers.Conv2D(4, 3)(inputs), y])
    branch = keras.Model(inputs, layers.Dense(10)(layers.Flatten()(merged)))
    branch.save(tmp_path / "branch.keras")
    with pytest.raises(DigitrecError, match="only a chain of layers"):
        import_keras(tmp_path / "branch.keras", tmp_path / "branch.onnx")


@pytest.mark.slow
def test_the_command_imports_and_the_model_reads_photos(mnist_dir, tmp_path):
    out = tmp_path / "tiny.onnx"
    result = run("import", str(FIXTURES / "tiny.keras"), "--out", str(out),
                 "--data-dir", str(mnist_dir))
    assert result.returncode == 0, result.stderr
    assert "14 layers" in result.stdout and "MNIST test accuracy" in result.stdout
    photo = Path(__file__).parents[1] / "examples" / "digits" / "canvas-6.png"
    predicted = run("predict", str(photo), "--model", str(out), "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)[0]["digit"] is not None
    info = run("info", str(out))
    assert "imported" in info.stdout and "tiny.keras" in info.stdout
    assert_one_line_error(run("import", str(FIXTURES / "tiny.keras"), "--out", str(out)),
                          "exists")


def test_without_mnist_the_model_reads_but_flags_nothing(tmp_path):
    out = tmp_path / "mlp.onnx"
    result = run("import", str(FIXTURES / "mlp.h5"), "--out", str(out),
                 "--data-dir", str(tmp_path / "no-mnist"))
    assert result.returncode == 0, result.stderr
    assert "no MNIST" in result.stdout
    model = load_digit_model(out)
    assert model.novelty_threshold is None and model.card.test_accuracy is None
    assert model.predict(Path(__file__).parents[1] / "examples" / "digits" /
                         "canvas-6.png").digit is not None


def _edited(source: Path, target: Path, change) -> Path:
    """A copy of a .keras file with its config.json changed by ``change``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.namelist():
            data = old.read(item)
            if item == "config.json":
                config = json.loads(data)
                change(config)
                data = json.dumps(config).encode()
            new.writestr(item, data)
    return target


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _set_layer(index: int, **changes):
    def change(config):
        config["config"]["layers"][index].update(changes)
    return change


def _set_input(shape):
    def change(config):
        config["config"]["layers"][0]["config"]["batch_shape"] = [None, *shape]
    return change


@pytest.mark.parametrize(("make_file", "code", "fragment"), [
    (lambda t: _edited(FIXTURES / "tiny.keras", t / "m.keras",
                       _set_layer(9, class_name="PReLU")),
     "unsupported_layer", "layer 'leaky_re_lu"),
    (lambda t: _edited(FIXTURES / "tiny.keras", t / "m.keras", _set_input((32, 32, 3))),
     "bad_model", "digitrec feeds 28x28 grayscale"),
    (lambda t: _written(t / "m.h5", (FIXTURES / "tiny.h5").read_bytes()[:20_000]),
     "bad_model", "damaged"),
    (lambda t: _written(t / "m.keras", b"PK\x03\x04 not really a zip"),
     "bad_model", "not a Keras model file"),
    (lambda t: Path(__file__).parents[1] / "examples" / "digits" / "canvas-6.png",
     "bad_model", "not a Keras model file"),
    (lambda t: t / "missing.h5", "not_found", "missing.h5"),
])
def test_what_cannot_be_imported_is_refused_in_one_line(tmp_path, make_file, code, fragment):
    source = make_file(tmp_path)
    with pytest.raises(DigitrecError) as refused:
        import_keras(source, tmp_path / "out.onnx")
    assert refused.value.code == code and fragment in str(refused.value)
    assert str(source) in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "out.onnx").exists()
    if code == "unsupported_layer":
        assert "supported: " in str(refused.value) and "Conv2D" in str(refused.value)


def test_weights_alone_are_not_a_model(keras, tmp_path):
    model = make.build(keras, "mlp")
    model.save_weights(tmp_path / "only.weights.h5")
    with pytest.raises(DigitrecError, match="weights alone"):
        import_keras(tmp_path / "only.weights.h5", tmp_path / "out.onnx")
