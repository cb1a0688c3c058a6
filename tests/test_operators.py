"""The handwritten operator generator: each symbol, in each of its forms, drawn as itself."""

from __future__ import annotations

import numpy as np
import pytest

from digitrec.operators import FORMS, SYMBOLS, symbol_image, symbol_layer
from digitrec.vision.components import components

HEIGHT = 60  # the digits' height, in pixels


def parts(layer: np.ndarray) -> list:
    return [c for c in components(layer > 0.3) if (c.bottom - c.top) * (c.right - c.left) > 4]


def middle_row(layer: np.ndarray) -> float:
    """Where the ink's middle stands, as a share of the digits' height from their top."""
    rows = np.flatnonzero(layer.max(1) > 0.3)
    return ((rows[0] + rows[-1]) / 2 - 0.15 * HEIGHT) / HEIGHT


def test_each_symbol_is_reproducible_and_mnist_shaped() -> None:
    for symbol in SYMBOLS:
        first = symbol_image(symbol, np.random.default_rng(7))
        again = symbol_image(symbol, np.random.default_rng(7))
        assert first.shape == (28, 28) and first.dtype == np.uint8
        assert np.array_equal(first, again)
        assert not np.array_equal(first, symbol_image(symbol, np.random.default_rng(8)))
        ink = np.argwhere(first > 128)
        assert np.abs(ink.mean(0) - 13.5).max() < 2.5  # centred by mass, as MNIST is
        assert (ink.max(0) - ink.min(0)).max() <= 20  # within the 20x20 box


@pytest.mark.parametrize("seed", range(20))
def test_each_form_is_drawn_as_itself(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for symbol, forms in FORMS.items():
        for form in forms:
            layer = symbol_layer(symbol, HEIGHT, rng, form=form)
            assert layer.shape[0] == round(1.3 * HEIGHT)
            found = parts(layer)
            shape = (symbol, form, len(found))
            if form in ("cross", "letter", "bar", "slash", "arc", "star"):
                assert len(found) in (1, 2) if form == "letter" else len(found) == 1, shape
            elif form in ("bars", "colon"):
                assert len(found) == 2, shape
            elif form in ("dots", "big dots"):
                assert len(found) == 3, shape
            else:  # the raised dot
                assert len(found) == 1, shape
            rows = np.flatnonzero(layer.max(1) > 0.3)
            cols = np.flatnonzero(layer.max(0) > 0.3)
            tall, wide = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
            if symbol in "-=":  # bars lie flat
                assert all(c.right - c.left > 1.5 * (c.bottom - c.top) for c in found), shape
            if symbol in "()" or form == "slash":
                assert tall > 0.65 * HEIGHT and tall > 1.8 * wide, shape  # tall and narrow
            if symbol in "+-×÷=" and form != "slash":
                # Near the digits' middle (a cross's strokes need not cross at their own).
                assert 0.25 < middle_row(layer) < 0.75, shape
            if form == "dot":
                assert tall < 0.2 * HEIGHT, shape
            if form == "star":  # smaller than a cross, its strokes at three angles
                assert tall < 0.65 * HEIGHT and wide < 0.65 * HEIGHT, shape
            if form in ("dots", "big dots"):  # the dots' size tells the forms apart
                dots = sorted(found, key=lambda c: c.right - c.left)[:2]
                across = max(c.right - c.left for c in dots)
                assert (across > 0.16 * HEIGHT) == (form == "big dots"), (shape, across)


def test_brackets_open_towards_what_they_hold() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        for symbol, opens in (("(", 1), (")", -1)):
            layer = symbol_layer(symbol, HEIGHT, rng)
            rows = np.flatnonzero(layer.max(1) > 0.3)
            centre = [np.flatnonzero(layer[r] > 0.3).mean() for r in rows]
            ends = (centre[0] + centre[-1]) / 2
            middle = centre[len(centre) // 2]
            assert (ends - middle) * opens > 0.05 * HEIGHT, symbol


def test_a_slash_leans_forward_and_a_cross_crosses() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        slash = symbol_layer("÷", HEIGHT, rng, form="slash")
        rows = np.flatnonzero(slash.max(1) > 0.3)
        top = np.flatnonzero(slash[rows[0]] > 0.3).mean()
        bottom = np.flatnonzero(slash[rows[-1]] > 0.3).mean()
        assert top > bottom + 0.15 * HEIGHT  # its top stands right of its foot
        for symbol in "+×":
            cross = symbol_layer(symbol, HEIGHT, rng, form="cross") > 0.3
            rows, cols = np.flatnonzero(cross.any(1)), np.flatnonzero(cross.any(0))
            cy, cx = (rows[0] + rows[-1]) // 2, (cols[0] + cols[-1]) // 2
            h, w = rows[-1] - rows[0], cols[-1] - cols[0]
            # Ink near the middle, none in the box's corners for + and none at the middles
            # of its sides for x.
            assert cross[cy - h // 5 : cy + h // 5 + 1, cx - w // 5 : cx + w // 5 + 1].any()
            corners = [cross[r, c] for r in (rows[0], rows[-1]) for c in (cols[0], cols[-1])]
            if symbol == "+":
                assert sum(corners) <= 1
            else:
                assert not cross[cy, cols[0]] or not cross[cy, cols[-1]]


def test_an_unknown_symbol_is_refused() -> None:
    with pytest.raises(ValueError, match="no handwritten form"):
        symbol_layer("%", HEIGHT, np.random.default_rng(0))
