"""Settings read once from the environment (`digitrec.settings`), and the `Reader` built from
explicit paths, the settings' or the shipped models."""

from __future__ import annotations

from pathlib import Path

import pytest

import digitrec
from digitrec.errors import DigitrecError
from digitrec.inference.calculator import DEFAULT_CALCULATOR
from digitrec.inference.lines import DEFAULT_READER, DEFAULT_SUM_READER
from digitrec.inference.locator import DEFAULT_LOCATOR
from digitrec.inference.model import DEFAULT_MODEL
from digitrec.settings import ENV, Settings, Torchrun

EXAMPLES = Path(__file__).parents[1] / "examples"


def test_the_environment_gives_each_setting_and_round_trips() -> None:
    env = {"DIGITREC_MODEL": "/m/digits.onnx", "DIGITREC_DATA": "~/mnist",
           "DIGITREC_MNIST_MIRRORS": "http://a/, http://b/", "XDG_CACHE_HOME": "/c",
           "DIGITREC_FEEDBACK": "/f.db", "DIGITREC_KEEP_ORIGINALS": "1",
           "DIGITREC_MAX_PIXELS": "1000", "DIGITREC_HEADER_TIMEOUT": "2.5",
           "WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}
    settings = Settings.from_environment(env)
    assert settings.model == Path("/m/digits.onnx") and settings.reader is None
    assert settings.data_dir == Path("~/mnist").expanduser()
    assert settings.mnist_mirrors == ("http://a/", "http://b/")
    assert settings.cache_dir == Path("/c/digitrec")
    assert settings.keep_originals and settings.max_pixels == 1000
    assert settings.header_timeout == 2.5 and settings.torchrun == Torchrun(1, 2, 1, 2)
    # What a supervisor hands its workers reads back the same there.
    assert Settings.from_environment(
        {**settings.environment(), "XDG_CACHE_HOME": "/c", "WORLD_SIZE": "2", "RANK": "1",
         "LOCAL_RANK": "1"}) == settings
    assert Settings.from_environment({}) == Settings(cache_dir=Settings().cache_dir)


@pytest.mark.parametrize("name", ["max_pixels", "header_timeout"])
def test_a_setting_that_does_not_parse_is_refused_naming_its_variable(name: str) -> None:
    with pytest.raises(DigitrecError) as caught:
        Settings.from_environment({ENV[name]: "lots"})
    assert str(caught.value) == f"${ENV[name]}: 'lots' is not a number"


def test_a_reader_loads_every_model_from_paths_settings_or_the_shipped_ones(tmp_path) -> None:
    shipped = digitrec.load_model(settings=Settings())
    assert shipped.files == {"digits": DEFAULT_MODEL, "reader": DEFAULT_READER,
                             "calculator": DEFAULT_CALCULATOR, "sum reader": DEFAULT_SUM_READER,
                             "locator": DEFAULT_LOCATOR}
    # A path given wins over the settings', which win over the shipped model.
    named = digitrec.load_model(reader=DEFAULT_SUM_READER.with_name("reader.onnx"),
                                settings=Settings(reader=tmp_path / "missing.onnx"))
    assert named.files["reader"] == DEFAULT_READER
    with pytest.raises(DigitrecError, match=r"missing\.onnx: model file not found"):
        digitrec.load_model(settings=Settings(reader=tmp_path / "missing.onnx"))

    number = (EXAMPLES / "numbers" / "photo-2026.jpg").read_bytes()
    assert shipped.read(number).text == "2026"
    alone = shipped.segmentation_only()
    assert alone.lines is None and alone.calculator.lines is None
    assert alone.read(number).text == "2026"
    assert alone.files.keys() == {"digits", "calculator", "locator"}
    rules = shipped.without_locator()  # ink by thresholds and rules, as before the locator
    assert rules.locator is None and "locator" not in rules.files
    assert rules.read(number).text == "2026"
    assert shipped.lines is not None  # the original keeps its readers
