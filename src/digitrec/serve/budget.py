"""How many pixels the server decodes: one image's cap and a budget across requests, and giving
freed memory back after a large image."""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

# One image is held to contract.SERVER_MAX_PIXELS; decoding costs up to about 8 bytes a pixel
# (PNG with transparency), so the pixels being decoded at once, across requests, are bounded
# too: a request over the budget waits.
PIXELS_IN_FLIGHT = 24_000_000
TRIM_AFTER = 4_000_000  # pixels: after an image this large, hand freed memory back


def _malloc_trim() -> Callable[[], object] | None:
    """glibc keeps freed heap memory for reuse; after a large image that is hundreds of MB the
    server would hold for good. None off glibc."""
    libc = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    return None if trim is None else lambda: trim(0)


trim = _malloc_trim()


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
