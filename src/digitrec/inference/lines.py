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
    SUM_LINE_CHARS,
    ModelCard,
)
from ..errors import DigitrecError
from .model import open_session

DEFAULT_READER = Path(__file__).parents[1] / "pretrained" / "reader.onnx"
DEFAULT_SUM_READER = Path(__file__).parents[1] / "pretrained" / "calc_reader.onnx"
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


def load_line_model(path: str | os.PathLike[str] | None = None, threads: int | None = None,
                    sums: bool = False) -> LineModel | None:
    """The sequence reader named, else the shipped one; None when no path was given and none
    is shipped (reading then segments alone). With ``sums``, a reader of sums."""
    default = DEFAULT_SUM_READER if sums else DEFAULT_READER
    if not path and not default.is_file():
        return None
    file = Path(path or default)
    session = open_session(file, threads)
    card = ModelCard.from_metadata(dict(session.get_modelmeta().custom_metadata_map), file)
    wanted = SUM_LINE_CHARS if sums else LINE_CHARS
    if card.preprocessing != LINE_PREPROCESSING or card.classes != wanted:
        kind = "reader of sums" if sums else "sequence reader"
        raise DigitrecError(f"{file}: not a digitrec {kind} (its card says preprocessing "
                            f"{card.preprocessing!r}, classes {card.classes!r}; wanted "
                            f"{wanted!r})")
    return LineModel(session, file, card)
