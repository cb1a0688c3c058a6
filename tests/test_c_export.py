"""The int8 model as C: compiled with gcc, it must read digits exactly as ONNX Runtime does."""

import dataclasses
import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import missing, shared

from digitrec.cli import main
from digitrec.errors import DigitrecError
from digitrec.export import quantize
from digitrec.export.c_header import KERNELS, build_checker, run_checker, write_c_header
from digitrec.inference import load_digit_model

IMAGES = 1000


@pytest.fixture(scope="session")
def tiny_int8(mnist, tmp_path_factory) -> Path:
    """The tiny preset's network after one epoch on real MNIST, quantised as users would
    (trained once a session, whichever worker asks first)."""
    return shared(tmp_path_factory, "tiny", lambda out: _train_tiny(mnist, out)) / "int8.onnx"


def _train_tiny(mnist, folder: Path) -> None:
    from digitrec.export.subspace import DigitSubspace
    from digitrec.export.to_onnx import export_onnx
    from digitrec.training.loop import fit
    from digitrec.training.recipes import PRESETS
    from digitrec.training.run import model_card

    (x, y), val = mnist.split()
    recipe = dataclasses.replace(PRESETS["tiny"], epochs=1)
    result = fit(recipe, (x, y), val, progress=False)
    export_onnx(result.model, folder / "model.onnx", model_card(result, None),
                DigitSubspace.fit(x[:5000], val[0]))
    quantize.quantize_int8(folder / "model.onnx", folder / "int8.onnx", x, count=500)


def _checker(header: Path) -> Path:
    if shutil.which("gcc") is None:
        missing("gcc is not installed")
    return build_checker(header)


@pytest.mark.parametrize("which", ["tiny", "default"])
def test_c_forward_pass_matches_onnx_runtime(which, tiny_int8, trained, mnist,
                                             tmp_path: Path) -> None:
    if which == "tiny":
        model = tiny_int8
    else:  # the default network: a flattened map and a larger dense layer, not an average
        model = tmp_path / "default-int8.onnx"
        quantize.quantize_int8(trained["path"], model, mnist.split()[0][0], count=500)
    header = tmp_path / "model.h"
    assert write_c_header(model, header) == [header, tmp_path / KERNELS]
    digits, probabilities, _ = run_checker(_checker(header), mnist.test_images[:IMAGES])

    expected = load_digit_model(model).probabilities(mnist.test_images[:IMAGES])
    np.testing.assert_array_equal(digits, expected.argmax(1))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert (digits == mnist.test_labels[:IMAGES]).mean() > 0.9  # a real classifier, not noise


def test_header_holds_int8_weights_and_their_scales(tiny_int8, tmp_path: Path) -> None:
    header = tmp_path / "tiny.h"
    write_c_header(tiny_int8, header)
    text = header.read_text()
    weights = {i.name: i for i in onnx.load(tiny_int8).graph.initializer}
    quantised = [w for name, w in weights.items() if name.endswith("weight_quantized")]
    assert text.count("static const int8_t") == len(quantised) == 4
    n_int8 = sum(int(np.prod(w.dims)) for w in quantised)
    assert sum(int(n) for n in re.findall(r"const int8_t \w+\[(\d+)\]", text)) == n_int8
    assert "_weight_scale" in text and "digitrec_predict" in text


def test_cli_quantises_first_and_writes_the_header(trained, mnist_dir, tmp_path: Path,
                                                   capsys) -> None:
    source = tmp_path / "model.onnx"
    shutil.copy(trained["path"], source)
    assert main(["export", str(source), "--c-header", "--data-dir", str(mnist_dir)]) == 0
    assert "C header written to" in capsys.readouterr().out
    assert load_digit_model(tmp_path / "model-int8.onnx").metadata["precision"] == "int8"
    assert (tmp_path / "model-int8.h").is_file() and (tmp_path / KERNELS).is_file()


def test_models_it_cannot_translate_are_refused(tiny_int8, trained, tmp_path: Path,
                                                capsys) -> None:
    with pytest.raises(DigitrecError, match="not an int8 model"):
        write_c_header(trained["path"], tmp_path / "fp32.h")
    proto = onnx.load(tiny_int8)
    next(n for n in proto.graph.node if n.op_type == "Relu").op_type = "Sigmoid"
    odd = tmp_path / "odd.onnx"
    onnx.save(proto, odd)
    with pytest.raises(DigitrecError, match=r"operation Sigmoid .* has no C kernel"):
        write_c_header(odd, tmp_path / "odd.h")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["export", str(bad), "--c-header"]) == 1
    err = capsys.readouterr().err
    assert "bad.onnx" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.h"))
