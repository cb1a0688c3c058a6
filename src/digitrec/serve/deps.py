"""What the routes share, made once when the app starts: the loaded model and the reader that
runs it off the event loop."""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import io
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import anyio
import numpy as np
from fastapi import Depends, Request
from PIL import Image
from starlette.datastructures import UploadFile

from ..cpus import available_cores
from ..errors import DigitrecError, ImageTooLarge
from ..inference import Model, Prediction
from ..vision.decode import declared_size
from .feedback import Feedback
from .schemas import QUEUE_TIMEOUT, CalcResult, ReadResult, Result

T = TypeVar("T")

WEB = Path(__file__).parent / "web"  # the page and its assets, served by the app itself
# A server's limits on pixels, lower than the library's: a 12-megapixel phone photo passes.
# Decoding costs up to about 8 bytes a pixel (PNG with transparency), so the pixels being
# decoded at once, across requests, are bounded too; a request over the budget waits.
MAX_PIXELS = 16_000_000
PIXELS_IN_FLIGHT = 24_000_000
_TRIM_AFTER = 4_000_000  # pixels: after an image this large, hand freed memory back


def _malloc_trim() -> Callable[[], object] | None:
    """glibc keeps freed heap memory for reuse; after a large image that is hundreds of MB the
    server would hold for good. None off glibc."""
    libc = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    return None if trim is None else lambda: trim(0)


_trim = _malloc_trim()


class PixelBudget:
    """How many pixels may be decoded at once. Used on the event loop only, so taking and giving
    back need no lock; a request wider than the whole budget takes all of it."""

    def __init__(self, total: int) -> None:
        self.total = self.free = total
        self._waiting: list[anyio.Event] = []

    @asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        pixels = min(pixels, self.total)
        while self.free < pixels:
            woken = anyio.Event()
            self._waiting.append(woken)
            await woken.wait()
        self.free -= pixels
        try:
            yield
        finally:
            self.free += pixels
            waiting, self._waiting = self._waiting, []
            for woken in waiting:
                woken.set()


def _png_data_url(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def to_result(p: Prediction, seconds: float, reading_id: str | None) -> Result:
    processed = None if p.processed is None else _png_data_url(p.processed)
    return Result(**p.to_dict(), processed=processed, timing_ms=1000 * seconds, id=reading_id)


class Reader:
    """Reads images with the model in worker threads, at most one per core at a time: more
    would only queue inside ONNX Runtime. The event loop only receives and answers, so a
    request that takes long to read slows no one else's; one that cannot get a worker within
    ``queue_timeout`` seconds is refused (503, code ``busy``). With ``feedback``, each reading
    is remembered there and its result carries the id to correct it by."""

    def __init__(self, model: Model, feedback: Feedback | None = None,
                 max_pixels: int = MAX_PIXELS, queue_timeout: float = QUEUE_TIMEOUT) -> None:
        self.model = model
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
            prediction = self.model.predict(data)
            seconds = time.perf_counter() - began
            return to_result(prediction, seconds,
                             self.feedback.digit(prediction, data) if self.feedback else None)

        return await self._off_loop(run, data, filename)

    async def read(self, data: bytes, filename: str, digits: tuple[int, int] | None,
                   pattern: str | None) -> ReadResult:
        """Every number in one uploaded file, as `predict` reads a digit."""
        def run() -> ReadResult:
            began = time.perf_counter()
            reading = self.model.read(data, digits, pattern)
            seconds = time.perf_counter() - began
            return ReadResult(**reading.to_dict(), timing_ms=1000 * seconds,
                              id=self.feedback.number(reading, data) if self.feedback else None)

        return await self._off_loop(run, data, filename)

    async def calc(self, data: bytes, filename: str) -> CalcResult:
        """Every sum in one uploaded file, worked out."""
        def run() -> CalcResult:
            began = time.perf_counter()
            found = self.model.calc(data)
            return CalcResult(**found.to_dict(), timing_ms=1000 * (time.perf_counter() - began))

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
                if pixels > _TRIM_AFTER and _trim is not None:
                    _trim()

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


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def image_upload(request: Request) -> tuple[bytes, str]:
    """One image from a request: the `file` field of a form, or the raw body; with its name."""
    if is_form(request):
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise DigitrecError("the form has no file field named 'file'", "no_file")
            return await upload.read(), upload.filename or "upload"
    return await request.body(), "upload"


def get_reader(request: Request) -> Reader:
    return request.app.state.reader


def get_feedback(request: Request) -> Feedback:
    """The server's feedback store, for a client allowed to use it."""
    feedback = request.app.state.reader.feedback
    if feedback is None:
        raise DigitrecError("this server keeps no corrections: start it with --feedback PATH",
                            "feedback_off")
    feedback.check_allowed(request)
    return feedback


ReaderDep = Annotated[Reader, Depends(get_reader)]
FeedbackDep = Annotated[Feedback, Depends(get_feedback)]
