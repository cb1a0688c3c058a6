"""Request size limits, enforced as bodies stream in, before they are held in memory; and the
headers every response carries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException
from fastapi.responses import JSONResponse


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they declare their
    length, before they are read into memory."""

    def __init__(self, app: Callable[..., Awaitable[None]], limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            body = {"detail": too_large(self.limit), "code": "too_large"}
            await JSONResponse(body, 413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, too_large(self.limit))
            return message

        await self.app(scope, limited, send)


def too_large(limit: int) -> str:
    size = f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit:,} bytes"
    return f"upload is over the limit of {size}"


# The page loads its script and style from /static and nothing from elsewhere; images are the
# model's 28x28 (data:) and the user's own upload (blob:). No one may frame it (clickjacking).
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
               "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


class SecurityHeaders:
    """nosniff and no framing on every response, so an upload echoed back is never run as a
    page; the page's Content-Security-Policy on the page (the OpenAPI docs at /docs load
    Swagger UI from a CDN, which that policy would block)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = scope["path"] in ("/", "/index.html") or scope["path"].startswith("/static/")

        async def with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer")]
                if page:
                    headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
