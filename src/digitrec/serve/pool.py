"""The server's readings, off the event loop: each request's image read in a worker thread, at
most one per core at a time, with the pixel budget held while it decodes."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TypeVar

import anyio
import numpy as np
from PIL import Image

from ..contract import SERVER_MAX_PIXELS
from ..cpus import available_cores
from ..errors import DigitrecError, ImageTooLarge
from ..inference import Prediction
from ..reading import Reader
from ..reading.table import Column
from ..vision.decode import declared_size
from .budget import PIXELS_IN_FLIGHT, TRIM_AFTER, PixelBudget, trim
from .feedback import Feedback
from .schemas import QUEUE_TIMEOUT, CalcResult, ReadResult, Result, TableResult

T = TypeVar("T")


def _png_data_url(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def to_result(p: Prediction, seconds: float, reading_id: str | None) -> Result:
    processed = None if p.processed is None else _png_data_url(p.processed)
    return Result(**p.to_dict(), processed=processed, timing_ms=1000 * seconds, id=reading_id)


class Pool:
    """Reads images with ``reader`` in worker threads, at most one per core at a time: more
    would only queue inside ONNX Runtime. The event loop only receives and answers, so a
    request that takes long to read slows no one else's; one that cannot get a worker within
    ``queue_timeout`` seconds is refused (503, code ``busy``). With ``feedback``, each reading
    is remembered there and its result carries the id to correct it by."""

    def __init__(self, reader: Reader, feedback: Feedback | None = None,
                 max_pixels: int = SERVER_MAX_PIXELS, queue_timeout: float = QUEUE_TIMEOUT) -> None:
        self.reader = reader
        self.feedback = feedback
        self.max_pixels = max_pixels
        self.queue_timeout = queue_timeout
        self.budget = PixelBudget(max(PIXELS_IN_FLIGHT, max_pixels))
        # Made inside the event loop: the workers' turns, and the threads they run on.
        self._turns: anyio.Semaphore | None = None
        self._threads: anyio.CapacityLimiter | None = None

    async def predict(self, data: bytes, filename: str) -> Result:
        """The result for one uploaded file; a file that cannot be read raises DigitrecError
        with the file's name in its message."""
        def run() -> Result:
            began = time.perf_counter()
            prediction = self.reader.predict(data)
            seconds = time.perf_counter() - began
            return to_result(prediction, seconds,
                             self.feedback.digit(prediction, data) if self.feedback else None)

        return await self._off_loop(run, data, filename)

    async def read(self, data: bytes, filename: str, digits: tuple[int, int] | None,
                   pattern: str | None) -> ReadResult:
        """Every number in one uploaded file, as `predict` reads a digit."""
        def run() -> ReadResult:
            began = time.perf_counter()
            reading = self.reader.read(data, digits, pattern)
            seconds = time.perf_counter() - began
            return ReadResult(**reading.to_dict(), timing_ms=1000 * seconds,
                              id=self.feedback.number(reading, data) if self.feedback else None)

        return await self._off_loop(run, data, filename)

    async def calc(self, data: bytes, filename: str) -> CalcResult:
        """Every sum in one uploaded file, worked out."""
        def run() -> CalcResult:
            began = time.perf_counter()
            found = self.reader.calc(data)
            return CalcResult(**found.to_dict(), timing_ms=1000 * (time.perf_counter() - began))

        return await self._off_loop(run, data, filename)

    async def table(self, data: bytes, filename: str, columns: list[Column] | None,
                    header: bool = False) -> TableResult:
        """The table on one uploaded page, every cell read."""
        def run() -> TableResult:
            began = time.perf_counter()
            found = self.reader.table(data, columns, header=header)
            seconds = time.perf_counter() - began
            result = found.to_dict()
            if self.feedback:  # each read cell can be corrected, as a number is
                for cell, shown in zip(found.cells, result["cells"], strict=True):
                    shown["id"] = (self.feedback.number(cell.reading, b"")
                                   if cell.reading is not None else None)
            return TableResult(**result, timing_ms=1000 * seconds)

        return await self._off_loop(run, data, filename)

    async def _off_loop(self, run: Callable[[], T], data: bytes, filename: str) -> T:
        size = declared_size(data)
        pixels = size[0] * size[1] if size else 0
        if pixels > self.max_pixels:
            raise ImageTooLarge(f"{filename}: {size[0]}x{size[1]} pixels is over this server's "
                                f"limit of {self.max_pixels:,} pixels")
        if self._turns is None:
            self._turns = anyio.Semaphore(available_cores())
            self._threads = anyio.CapacityLimiter(available_cores())

        def run_then_trim() -> T:
            try:
                return run()
            finally:
                if pixels > TRIM_AFTER and trim is not None:
                    trim()

        try:
            async with AsyncExitStack() as held:
                try:
                    with anyio.fail_after(self.queue_timeout):
                        await held.enter_async_context(self.budget.hold(pixels))
                        await held.enter_async_context(self._turns)
                except TimeoutError:
                    raise DigitrecError(f"{filename}: the server is busy (no worker free for "
                                        f"{self.queue_timeout:g} s): try again shortly",
                                        "busy") from None
                return await anyio.to_thread.run_sync(run_then_trim, limiter=self._threads)
        except DigitrecError as exc:
            # The image pipeline names an in-memory image "<bytes>"; the user knows it by its
            # file name.
            raise DigitrecError(str(exc).replace("<bytes>", filename, 1), exc.code) from None
