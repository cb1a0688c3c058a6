"""The reliability pass (issue 18): no input crashes the image path, the server bounds what one
client can hold, written files survive contention and bad disks, and the errors are one line."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import digitrec
from digitrec.errors import DigitrecError

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import fuzz  # noqa: E402  (the fuzzer's inputs and its check: one definition for both)


@pytest.fixture(scope="module")
def model() -> digitrec.Model:
    return digitrec.load_model(threads=1)


@pytest.mark.parametrize("entry", fuzz.ENTRY_POINTS)
def test_any_input_gives_a_result_or_a_one_line_error(model, entry: str) -> None:
    # Arbitrary arrays, drawings of a few specks, encoded and damaged files, random bytes.
    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzz.inputs())
    def run(tagged) -> None:
        fuzz.check(model, entry, tagged[1])

    run()


@pytest.mark.parametrize("entry", fuzz.ENTRY_POINTS)
def test_the_fuzzers_finds_are_no_crash(model, entry: str) -> None:
    # Each file is an input bench/fuzz.py once crashed on, kept as it found it: here a PNG of
    # specks the ink mask keeps, all fainter than the crop's floor (`read` and `calc` crashed).
    for found in sorted((Path(__file__).parent / "fixtures" / "fuzz").iterdir()):
        fuzz.check(model, entry, found.read_bytes())


def test_arrays_with_nan_or_of_no_number_type_are_refused_in_one_line(model) -> None:
    bad = np.full((28, 28), np.nan, np.float32)
    with pytest.raises(DigitrecError, match="NaN or infinite"):
        model.predict(bad)
    with pytest.raises(DigitrecError, match="dtype <U1"):
        model.predict(np.full((28, 28), "a"))
