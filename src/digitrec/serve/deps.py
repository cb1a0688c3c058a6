"""What the routes share, made once when the app starts: the loaded model and the reader that
runs it off the event loop."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import anyio
import numpy as np
from fastapi import Request
from PIL import Image

from ..cpus import available_cores
from ..errors import DigitrecError
from ..inference import Model, Prediction
from .schemas import Result

WEB = Path(__file__).parent / "web"  # the page and its assets, served by the app itself


def _png_data_url(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def to_result(p: Prediction, seconds: float) -> Result:
    processed = None if p.processed is None else _png_data_url(p.processed)
    return Result(**p.to_dict(), processed=processed, timing_ms=1000 * seconds)


class Reader:
    """Reads images with the model in worker threads, at most one per core at a time: more
    would only queue inside ONNX Runtime."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self._limiter: anyio.CapacityLimiter | None = None  # made inside the event loop

    async def predict(self, data: bytes, filename: str) -> Result:
        """The result for one uploaded file; a file that cannot be read raises DigitrecError
        with the file's name in its message."""
        def run() -> Result:
            began = time.perf_counter()
            prediction = self.model.predict(data)
            return to_result(prediction, time.perf_counter() - began)

        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(available_cores())
        try:
            return await anyio.to_thread.run_sync(run, limiter=self._limiter)
        except DigitrecError as exc:
            # The image pipeline names an in-memory image "<bytes>"; the user knows it by its
            # file name.
            raise DigitrecError(str(exc).replace("<bytes>", filename, 1), exc.code) from None


def get_reader(request: Request) -> Reader:
    return request.app.state.reader
