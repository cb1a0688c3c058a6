"""The model file's contract: one typed card, written and read in one place, decoded by type."""

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from digitrec.contract import DIGITS, PREPROCESSING, ModelCard
from digitrec.errors import DigitrecError
from digitrec.inference import DEFAULT_MODEL, load_digit_model


def test_card_round_trips_through_metadata_strings() -> None:
    card = ModelCard(architecture="digitnet", parameters=104_938, validation_accuracy=0.99561,
                     test_accuracy=0.9955, recipe={"arch": "digitnet", "epochs": 10},
                     members=[{"seed": 0}], precision="int8", novelty_threshold=4.08123)
    stored = card.to_metadata()
    assert all(isinstance(v, str) for v in stored.values())
    assert stored["validation_accuracy"] == "0.9956"  # four decimals, as files always held
    assert json.loads(stored["recipe"]) == {"arch": "digitnet", "epochs": 10}
    assert "calibration" not in stored  # None is left out, not written as ""
    back = ModelCard.from_metadata(stored)
    assert back.parameters == 104_938 and isinstance(back.parameters, int)
    assert back.validation_accuracy == 0.9956 and back.novelty_threshold == 4.0812
    assert back.recipe == card.recipe and back.members == card.members
    assert back.classes == DIGITS and back.preprocessing == PREPROCESSING


def test_older_files_and_newer_keys_are_read() -> None:
    # Files written before the card held "" for an accuracy never measured; keys a newer
    # digitrec adds are kept and shown as they are.
    back = ModelCard.from_metadata({"architecture": "tiny", "test_accuracy": "",
                                    "future_key": "x"})
    assert back.test_accuracy is None and back.extra == {"future_key": "x"}
    assert back.to_dict() == {"architecture": "tiny", "classes": DIGITS,
                              "preprocessing": PREPROCESSING, "future_key": "x"}
    assert back.to_metadata()["future_key"] == "x"


@pytest.mark.parametrize("key, value", [("parameters", "many"), ("recipe", "{not json"),
                                        ("members", '{"a": 1}'), ("test_accuracy", "high")])
def test_values_that_do_not_decode_are_refused_in_one_line(key: str, value: str) -> None:
    with pytest.raises(DigitrecError, match=f"model.onnx: metadata '{key}' is not a valid"
                       ) as info:
        ModelCard.from_metadata({"architecture": "digitnet", key: value}, "model.onnx")
    assert "\n" not in str(info.value)


def test_shipped_model_reads_as_a_typed_card() -> None:
    model = load_digit_model()
    card = model.card
    assert card.architecture == "digitnet-wide" and card.parameters == 394_186
    assert 0.99 < card.test_accuracy < 1 and card.recipe["epochs"] == 50
    assert card.novelty_threshold == model.novelty_threshold > 0
    info = model.info()
    assert info["parameters"] == 394_186 and isinstance(info["history"], list)
    json.dumps(info)


def test_write_into_replaces_a_files_metadata(tmp_path) -> None:
    proto = onnx.load(DEFAULT_MODEL)
    card = load_digit_model().card.replace(precision="fp16", calibration={"count": 3})
    card.write_into(proto)
    onnx.save(proto, tmp_path / "copy.onnx")
    again = load_digit_model(tmp_path / "copy.onnx").card
    assert again.precision == "fp16" and again.calibration == {"count": 3}
    assert again.replace(precision=None, calibration=None) == load_digit_model().card


def test_the_layers_hold_and_nothing_at_inference_time_imports_torch() -> None:
    # pyproject.toml's contracts (imports inside functions count): the layers, no cycle
    # between siblings at any depth, and torch kept out of every inference-time package.
    out = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))],
                         capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stdout[-3000:]
    assert "0 broken" in out.stdout
    # The command line imports its commands' stages inside them: its module and --help load
    # neither torch nor the web framework, whatever the contracts see.
    code = ("import sys, contextlib, io, digitrec, digitrec.cli\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "    digitrec.cli.main(['--help'])\n"
            "print('torch' in sys.modules, 'fastapi' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "False"]


def test_load_model_and_the_server_work_without_sched_getaffinity(monkeypatch) -> None:
    # macOS and Windows have no os.sched_getaffinity.
    import os

    from fastapi.testclient import TestClient

    from digitrec.cpus import available_cores
    from digitrec.serve import create_app

    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert available_cores() == (os.cpu_count() or 1)
    example = (Path(__file__).parents[1] / "examples" / "digits" / "canvas-6.png").read_bytes()
    assert load_digit_model().predict(example).digit == 6
    with TestClient(create_app()) as client:
        assert client.post("/api/predict", content=example).json()["digit"] == 6
