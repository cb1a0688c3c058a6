"""The handwriting locator on ONNX Runtime: an ink map in, the probability that each pixel is
handwriting (not paper, print, rules, borders, margins, stamps or security patterns) out. numpy
only, like the other models."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..contract import INPUT_NAME, LOCATOR_PREPROCESSING, LOCATOR_STRIDE, OUTPUT_NAME, ModelCard
from ..errors import DigitrecError
from .model import open_session

DEFAULT_LOCATOR = Path(__file__).parents[1] / "pretrained" / "locator.onnx"
SIDE = 320  # the longest side the network looks at


class Locator:
    """A loaded locator. Build it with `load_locator`; call it on an ink map."""

    def __init__(self, session: Any, path: Path, card: ModelCard) -> None:
        self._session = session
        self.path = path
        self.card = card

    def __call__(self, ink: np.ndarray) -> np.ndarray:
        """The probability of handwriting at each pixel of ``ink`` (H, W), an ink map in
        [0, 1] (ink bright on black). A map over SIDE pixels on its longest side is looked at
        halved (or less) and the answer enlarged: strokes stay 2+ pixels wide there, and the
        network's time grows with the pixels."""
        factor = -(-max(ink.shape) // SIDE)
        if factor == 1:
            return self._probabilities(ink)
        h, w = ink.shape
        small = Image.fromarray(ink).reduce(factor)
        found = self._probabilities(np.asarray(small, np.float32))
        return np.asarray(Image.fromarray(found).resize((w, h), Image.BILINEAR))

    def _probabilities(self, ink: np.ndarray) -> np.ndarray:
        """The network's answer, the map padded with paper to the sides it takes."""
        h, w = ink.shape
        padded = [max(2 * LOCATOR_STRIDE, -(-n // LOCATOR_STRIDE) * LOCATOR_STRIDE)
                  for n in (h, w)]
        x = np.zeros((1, 1, *padded), np.float32)
        x[0, 0, :h, :w] = ink
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: x})[0][0, 0, :h, :w]


def load_locator(path: str | os.PathLike[str] | None = None,
                 threads: int | None = None) -> Locator | None:
    """The locator named, else the shipped one; None when no path was given and none is
    shipped (ink is then found by thresholds and rules alone)."""
    if not path and not DEFAULT_LOCATOR.is_file():
        return None
    file = Path(path or DEFAULT_LOCATOR)
    session = open_session(file, threads)
    card = ModelCard.from_metadata(dict(session.get_modelmeta().custom_metadata_map), file)
    if card.preprocessing != LOCATOR_PREPROCESSING:
        raise DigitrecError(f"{file}: not a digitrec handwriting locator (its card says "
                            f"preprocessing {card.preprocessing!r}; wanted "
                            f"{LOCATOR_PREPROCESSING!r})")
    return Locator(session, file, card)
