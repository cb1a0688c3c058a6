"""Connections that cannot be held open for free: uvicorn closes an idle keep-alive connection,
but not one that never sends a request, nor one that sends it a byte at a time (slowloris),
so a few hundred of those exhaust the server's file descriptors. Here each request must arrive
within a deadline: its headers within HEADER_TIMEOUT of the connection opening or the last
response, its body within BODY_TIMEOUT of its headers. At the connection limit, the connection
that has waited longest for a request makes room for a new one."""

from __future__ import annotations

import asyncio
import functools
import resource
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..settings import Settings

HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 60.0  # a 10 MB upload at 1.5 Mbit/s
MAX_CONNECTIONS = 1000  # and never more than the file descriptors allow, less a reserve
_FD_RESERVE = 64  # the model, the database, logs, worker threads' files


@functools.cache
def _configured_timeout() -> float:
    """This process's header timeout: `serve --header-timeout`, which reaches worker processes
    through their settings, read once."""
    return Settings.from_environment().header_timeout or HEADER_TIMEOUT


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a deadline for each request's arrival. uvicorn makes the
    protocol itself, in each worker process, so its timeout comes from the process's settings
    unless a subclass sets ``header_timeout``."""

    header_timeout: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = type(self).header_timeout or _configured_timeout()
        self.body_timeout = max(BODY_TIMEOUT, self.header_timeout)
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None  # when it began waiting for a request

    def _arm(self, seconds: float | None, waiting: bool = False) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = None if seconds is None else self.loop.call_later(seconds, self._expire)
        self._waiting_since = self.loop.time() if waiting else None

    def _make_room(self) -> None:
        """At the connection limit, close the connection that has waited longest for a request
        to start, rather than answer a new client 503: a crowd of silent connections then
        costs its own members their places, not other users theirs."""
        if self.limit_concurrency is None or len(self.connections) < self.limit_concurrency:
            return
        waiting = [c for c in self.connections
                   if c is not self and getattr(c, "_waiting_since", None) is not None]
        if waiting:
            oldest = min(waiting, key=lambda c: c._waiting_since)
            oldest.transport.close()
            self.connections.discard(oldest)

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._make_room()
        self._arm(self.header_timeout, waiting=True)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._arm(None)  # the request is in; answering it takes what it takes

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            # The next request's, however it trickles in (a pipelined one is in already).
            self._arm(self.header_timeout, waiting=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._arm(None)
        super().connection_lost(exc)


def connection_limit() -> int:
    """How many connections to take at once: MAX_CONNECTIONS, within the process's file
    descriptors, whose soft limit is first raised to the hard one (Linux's default soft limit
    of 1024 is a relic; the hard one is what the administrator allows)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and hard != resource.RLIM_INFINITY:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # some containers refuse: keep the soft limit
            pass
    return max(16, min(MAX_CONNECTIONS, soft - _FD_RESERVE))
