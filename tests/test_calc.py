"""Reading handwritten sums and working them out: the marks only place and shape tell apart, the
calculator's classifier, whole sums drawn from MNIST test digits and generated operators, and
the command line and API around them."""

import io
import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageDraw

from digitrec import load_model
from digitrec.contract import DIGITS, SYMBOLS
from digitrec.inference import load_digit_model
from digitrec.inference.calculator import Calculator
from digitrec.operators import symbol_image, symbol_layer
from digitrec.reading.calc import well_formed
from digitrec.reading.segment import segment
from digitrec.serve import create_app
from digitrec.synthetic import number_layer, on_file
from digitrec.vision import find_ink


@pytest.fixture(scope="module")
def model():
    return load_model()


def sum_image(mnist, text: str, rng: np.random.Generator, look: str = "canvas",
              height: int = 64) -> bytes:
    """``text`` written with MNIST test digits and generated operators, as a file."""
    picks = [int(rng.choice(np.flatnonzero(mnist.test_labels == int(ch))))
             for ch in text if ch.isdigit()]
    strip = number_layer(text, [mnist.test_images[i] for i in picks], height, rng)
    return on_file(strip, look, rng, [look]).data


def marks_of(data: bytes) -> list[str | None]:
    ink = find_ink(data)
    return [p.mark for line in segment(ink.mask, math=True) for p in line.pieces]


def line_of(layers: list[np.ndarray]) -> bytes:
    """Layers side by side on white, a digit height apart, as a PNG."""
    height = max(layer.shape[0] for layer in layers)
    strip = np.zeros((height + 80, sum(layer.shape[1] + 40 for layer in layers) + 80))
    x = 40
    for layer in layers:
        strip[40 : 40 + layer.shape[0], x : x + layer.shape[1]] = layer
        x += layer.shape[1] + 40
    buf = io.BytesIO()
    Image.fromarray(np.uint8(255 - 255 * strip)).save(buf, "PNG")
    return buf.getvalue()


def test_place_and_shape_tell_equals_minus_and_the_two_dots_apart() -> None:
    rng = np.random.default_rng(3)
    digit = symbol_layer("(", 60, rng, pen=6)  # as tall as digits: it sets the line's height
    layers = [digit, symbol_layer("=", 60, rng, pen=6), symbol_layer("-", 60, rng, pen=6),
              symbol_layer("×", 60, rng, pen=6, form="dot"), digit]
    assert marks_of(line_of(layers)) == [None, "=", "-", "×", None]
    point = np.zeros_like(layers[3])
    point[64:70, 6:12] = 1  # on the baseline
    assert marks_of(line_of([digit, point, digit]))[1] == "."


def test_a_raised_dot_is_a_point_in_a_number_and_multiplies_in_a_sum(mnist) -> None:
    # 20·5 is twenty and a half where Britain and India write it; in a sum the same dot is ×.
    rng = np.random.default_rng(6)
    digit = symbol_layer("(", 60, rng, pen=6)
    ink = find_ink(line_of([digit, symbol_layer("×", 60, rng, pen=6, form="dot"), digit]))
    assert [p.mark for line in segment(ink.mask) for p in line.pieces] == [None, ".", None]
    assert marks_of(line_of([digit, symbol_layer("×", 60, rng, pen=6, form="dot"), digit])) \
        == [None, "×", None]
    # The generator writes such points for the sequence readers to learn: at mid-height.
    picks = [mnist.test_images[int(np.flatnonzero(mnist.test_labels == d)[0])] for d in (2, 0, 5)]
    for raised, where in ((0.0, "baseline"), (1.0, "middle")):
        strip = number_layer("20.5", picks, 60, np.random.default_rng(7), raised=raised)
        ink = find_ink(on_file(strip, "canvas", np.random.default_rng(8), ["canvas"]).data)
        (line,) = segment(ink.mask)
        assert [p.mark for p in line.pieces if p.mark] == ["."], where
        (dot,) = [p for p in line.pieces if p.mark]
        digits = [p for p in line.pieces if not p.mark]
        bottom = np.median([p.bottom for p in digits])
        top = np.median([p.top for p in digits])
        height_up = (bottom - (dot.top + dot.bottom) / 2) / (bottom - top)
        assert (height_up < 0.25) if raised == 0 else (0.3 < height_up < 0.7), height_up


def test_a_sum_keeps_its_closing_equals_and_a_number_does_not() -> None:
    rng = np.random.default_rng(4)
    digit = symbol_layer(")", 60, rng, pen=6)
    data = line_of([digit, symbol_layer("=", 60, rng, pen=6)])
    assert marks_of(data)[-1] == "="
    ink = find_ink(data)
    assert [p.mark for line in segment(ink.mask) for p in line.pieces] == [None]


def test_the_calculator_shares_the_digits_out_by_the_digit_model(model, mnist) -> None:
    calculator = model.calculator
    assert calculator.classes == DIGITS + SYMBOLS
    rng = np.random.default_rng(5)
    images = np.concatenate([np.stack([symbol_image(s, rng) for s in SYMBOLS]),
                             mnist.test_images[:20]])
    probs, novelty = calculator.scores(images)
    assert probs.shape == (len(images), len(DIGITS + SYMBOLS))
    assert np.allclose(probs.sum(1), 1, atol=1e-4) and novelty.shape == (len(images),)
    own, _ = calculator.symbols.scores(images)
    share = own[:, :10].sum(1, keepdims=True)
    assert np.allclose(probs[:, :10].sum(1), share[:, 0], atol=1e-5)
    assert np.allclose(probs[:, 10:], own[:, 10:], atol=1e-6)
    asked = share[:, 0] >= 0.01  # the digits, and operators that might be digits
    assert asked[len(SYMBOLS):].all()
    digits = model.digits.probabilities(images[asked])
    assert np.allclose(probs[asked, :10], share[asked] * digits, atol=1e-5)
    with pytest.raises(Exception, match="not a calculator's model"):
        Calculator(model.digits, model.digits)


def test_generated_operators_are_classified_as_themselves(model) -> None:
    rng = np.random.default_rng(6)  # not the training generator's seed stream
    for k, symbol in enumerate(SYMBOLS):
        images = np.stack([symbol_image(symbol, rng) for _ in range(40)])
        probs, _ = model.calculator.scores(images)
        assert (probs.argmax(1) == 10 + k).mean() >= 0.95, symbol


def test_well_formed_sums_are_the_ones_the_search_may_end_in() -> None:
    assert well_formed("12×7=") and well_formed("3÷0") and well_formed("-(2+3)")
    assert not well_formed("12++") and not well_formed("(3+4") and not well_formed("=")


@pytest.mark.parametrize("look", ["canvas", "photo", "scan"])
def test_sums_from_mnist_digits_are_read_and_worked_out(model, mnist, look: str) -> None:
    rng = np.random.default_rng(7)
    sums = ["12×7=", "3+4=", "251-32×(5+2)", "9÷3-1=", "(8+2)×4", "6.5+1.5="]
    right = 0
    for text in sums:
        found = model.calc(sum_image(mnist, text, rng, look))
        right += found.reading.text == text
    assert right >= len(sums) - 1


def test_a_sum_is_worked_out_exactly_and_a_written_answer_checked(model, mnist) -> None:
    rng = np.random.default_rng(8)
    found = model.calc(sum_image(mnist, "12×7=", rng))
    assert found.text == "12×7 = 84" and found.sums[0].worked.value == Fraction(84)
    checked = model.calc(sum_image(mnist, "3+4=8", rng)).sums[0]
    assert checked.worked.written == 8 and checked.worked.agrees is False
    assert checked.text == "3+4 = 7, written 8: wrong"


def test_cli_and_api_work_out_sums(mnist, tmp_path) -> None:
    rng = np.random.default_rng(9)
    data = sum_image(mnist, "12×7=", rng)
    path = tmp_path / "sum.png"
    path.write_bytes(data)
    out = subprocess.run([sys.executable, "-m", "digitrec", "calc", str(path), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)[0]
    assert record["sums"][0]["value"] == "84" and record["classes"] == DIGITS + SYMBOLS
    assert [c["char"] for c in record["sums"][0]["characters"]] == list("12×7=")
    assert len(record["sums"][0]["characters"][0]["probabilities"]) == len(DIGITS + SYMBOLS)
    table = subprocess.run([sys.executable, "-m", "digitrec", "read", "--math", str(path)],
                           capture_output=True, text=True)
    assert table.returncode == 0 and "12×7 = 84" in table.stdout
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    out = subprocess.run([sys.executable, "-m", "digitrec", "calc", str(bad)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "bad.png" in out.stderr

    client = TestClient(create_app())
    response = client.post("/api/calc", content=data, headers={"Content-Type": "image/png"})
    assert response.status_code == 200
    assert response.json()["sums"][0]["value"] == "84"
    assert response.json()["text"] == "12×7 = 84"
    refused = client.post("/api/calc", content=b"GIF89a broken",
                          headers={"Content-Type": "image/gif"})
    assert 400 <= refused.status_code < 500 and "detail" in refused.json()


def test_training_strings_of_sums_are_sums_and_encode_in_the_readers_alphabet(mnist) -> None:
    from digitrec.contract import SUM_LINE_CHARS
    from digitrec.training.strings import Strings, encode

    strings = Strings(mnist.train_images[:2000], mnist.train_labels[:2000], seed=3, sums=0.6)
    texts = [strings.get(0, k).text for k in range(60)]
    sums = [t for t in texts if set(t) & set("+×÷=()")]
    assert 20 <= len(sums) <= 50  # about 60% of them, less the numbers with a minus only
    assert all(well_formed(text) for text in sums), sums
    for text in texts:
        assert len(text) <= 12
        assert [SUM_LINE_CHARS[c - 1] for c in encode(text)] == list(text)


@pytest.mark.slow
def test_the_calc_preset_learns_the_operators_beside_the_digits(mnist, tmp_path) -> None:
    # A quick run: 3,000 digits and 300 of each operator, two epochs (about half a minute).
    import dataclasses

    from digitrec.training.recipes import PRESETS
    from digitrec.training.run import Member, train_and_export

    recipe = dataclasses.replace(PRESETS["calc"], epochs=2)
    trained = train_and_export(Member(tmp_path, recipe), mnist, subset=3000, progress=False)
    small = load_digit_model(trained.path)
    assert small.classes == DIGITS + SYMBOLS and small.card.recipe["symbols"] == SYMBOLS
    rng = np.random.default_rng(11)
    images = np.stack([symbol_image(s, rng) for s in SYMBOLS for _ in range(20)])
    probs, _ = small.scores(images)
    assert probs.shape == (len(images), 17)
    truth = np.repeat(np.arange(10, 17), 20)
    assert (probs.argmax(1) == truth).mean() >= 0.8  # measured 0.96
    digits = small.predict_batch(list(mnist.test_images[:200]))
    assert np.mean([p.digit == y for p, y in zip(digits, mnist.test_labels[:200],
                                                  strict=True)]) >= 0.9


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pixels=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1,
                                                    max_side=120)),
       strokes=st.lists(st.tuples(st.integers(0, 119), st.integers(0, 119),
                                  st.integers(0, 119), st.integers(0, 119)), max_size=8))
def test_any_image_gives_a_calculation_or_a_one_line_refusal(model, pixels, strokes) -> None:
    # Noise, blank frames, slivers one pixel high and random strokes: calc answers every one
    # with sums (worked out or with their problem) or a reason, or refuses it in one line.
    from digitrec.errors import DigitrecError

    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in strokes:
        draw.line((x0, y0, x1, y1), fill=0, width=3)
    try:
        found = model.calc(np.asarray(image))
    except DigitrecError as exc:
        assert "\n" not in str(exc)
        return
    assert (found.sums and found.reason_code is None) or (not found.sums and found.reason)
    for s in found.sums:
        assert (s.worked is None) != (s.error is None)
        assert set(s.line.text) <= set(DIGITS + SYMBOLS + ".")
    json.dumps(found.to_dict())


def test_the_reader_of_sums_knows_the_operators_and_is_no_number_reader(model, mnist) -> None:
    from digitrec.contract import SUM_LINE_CHARS
    from digitrec.errors import DigitrecError
    from digitrec.inference.lines import DEFAULT_READER, load_line_model
    from digitrec.reading.ctc import beam_search
    from digitrec.reading.lines import line_images

    lines = model.calculator.lines
    assert lines is not None and lines.card.classes == SUM_LINE_CHARS
    with pytest.raises(DigitrecError, match="not a digitrec reader of sums"):
        load_line_model(DEFAULT_READER, sums=True)
    rng = np.random.default_rng(12)
    right = 0
    for text in ["12×7=", "3+4=", "(8+2)÷5", "9-6="]:
        image = line_images(sum_image(mnist, text, rng), math=True)[0]
        probs = lines.probabilities(image)
        assert probs.shape[1] == 1 + len(SUM_LINE_CHARS)
        found = beam_search(probs, accept=well_formed)
        right += found is not None and found[0] == text
    assert right >= 3
