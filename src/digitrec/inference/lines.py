"""The sequence reader on ONNX Runtime: a line of writing in, per-column probabilities of a
blank and each character out. numpy only, like the digit model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import (
    INPUT_NAME,
    LINE_CHARS,
    LINE_HEIGHT,
    LINE_PREPROCESSING,
    OUTPUT_NAME,
    ModelCard,
)
from ..errors import DigitrecError
from .model import open_session

DEFAULT_READER = Path(__file__).parents[1] / "pretrained" / "reader.onnx"
READER_ENV = "DIGITREC_READER"  # names the sequence reader to use when none is given
POOLING = 4  # input columns per output column


class LineModel:
    """A loaded sequence reader. Build it with `load_line_model`."""

    def __init__(self, session: Any, path: Path, card: ModelCard) -> None:
        self._session = session
        self.path = path
        self.card = card

    def probabilities(self, line: np.ndarray) -> np.ndarray:
        """(columns, 1 + characters) for one line (LINE_HEIGHT, width) in [0, 1], ink white on
        black; the line is padded with paper to a width the network takes."""
        width = max(2 * POOLING, -(-line.shape[1] // POOLING) * POOLING)
        x = np.zeros((1, 1, LINE_HEIGHT, width), np.float32)
        x[0, 0, :, : line.shape[1]] = line
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: x})[0][0]


def load_line_model(path: str | os.PathLike[str] | None = None,
                    threads: int | None = None) -> LineModel | None:
    """The sequence reader named, else $DIGITREC_READER's, else the shipped one; None when no
    path was given and none is shipped (reading then segments alone)."""
    named = path or os.environ.get(READER_ENV)
    if not named and not DEFAULT_READER.is_file():
        return None
    file = Path(named or DEFAULT_READER)
    session = open_session(file, threads)
    card = ModelCard.from_metadata(dict(session.get_modelmeta().custom_metadata_map), file)
    if card.preprocessing != LINE_PREPROCESSING or card.classes != LINE_CHARS:
        raise DigitrecError(f"{file}: not a digitrec sequence reader (its card says "
                            f"preprocessing {card.preprocessing!r}, classes {card.classes!r})")
    return LineModel(session, file, card)
