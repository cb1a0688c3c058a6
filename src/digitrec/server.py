"""`digitrec serve`: a page to draw or upload a digit and a JSON API, on the torch-free inference
path. The model is loaded once, when the app is made; predictions run in worker threads, off the
event loop, at most as many at once as there are cores."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from . import __version__
from .errors import DigitrecError, ImageError, ImageTooLarge, NotAnImage
from .inference import Model, Prediction, load_model

WEB = Path(__file__).parent / "web"
MAX_UPLOAD = 10 * 1024 * 1024  # bytes in one request
MAX_BATCH = 64  # images in one batch request

_STATUS = {ImageTooLarge: 413, NotAnImage: 415}


class Result(BaseModel):
    digit: int | None = Field(description="the digit read; null when no digit was found")
    confidence: float = Field(description="probability of that digit; 0 when none was found")
    probabilities: list[float] | None = Field(description="probability of each digit 0-9")
    processed: str | None = Field(
        description="the 28x28 image the model saw, as a PNG data URL")
    unusual: bool = Field(description="unlike any digit the model learned (a letter?)")
    reason: str | None = Field(description="why no digit was found")
    timing_ms: float = Field(description="server time for this image: decode, preprocess, model")


class BatchItem(BaseModel):
    filename: str
    result: Result | None = Field(description="null when the file could not be read")
    error: str | None = Field(description="why the file could not be read")


class BatchResult(BaseModel):
    results: list[BatchItem]


class Problem(BaseModel):
    detail: str


class Health(BaseModel):
    status: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text} for code, text in [
        (400, "malformed request"),
        (413, f"upload over {MAX_UPLOAD // 2**20} MB, or an image with too many pixels"),
        (415, "not an image"),
        (422, "corrupt, truncated or empty image, or no file in the form"),
    ]
}
_IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}}}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
}}}
_BATCH_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["files"],
        "properties": {"files": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                 "items": {"type": "string", "format": "binary"}}}}}}}}


class _BodyLimit:
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
            await JSONResponse({"detail": _too_large(self.limit)}, 413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, _too_large(self.limit))
            return message

        await self.app(scope, limited, send)


def _too_large(limit: int) -> str:
    size = f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit:,} bytes"
    return f"upload is over the limit of {size}"


def _png_data_url(image: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _result(p: Prediction, seconds: float) -> Result:
    return Result(
        digit=p.digit, confidence=p.confidence,
        probabilities=None if p.probabilities is None else [float(v) for v in p.probabilities],
        processed=None if p.processed is None else _png_data_url(p.processed),
        unusual=p.unusual, reason=p.reason, timing_ms=1000 * seconds)


def _named(exc: DigitrecError, filename: str) -> str:
    # preprocess names an in-memory image "<bytes>"; the user knows it by its file name.
    return str(exc).replace("<bytes>", filename, 1)


def create_app(model: Model | str | os.PathLike[str] | None = None,
               max_upload: int = MAX_UPLOAD) -> FastAPI:
    """The web app around ``model``: a loaded model or a path; by default $DIGITREC_MODEL, else
    the shipped model."""
    loaded = model if isinstance(model, Model) else load_model(model, threads=1)
    cores = len(os.sched_getaffinity(0))
    limiter: list[anyio.CapacityLimiter] = []  # made on first use, inside the event loop

    app = FastAPI(title="digitrec", version=__version__,
                  description="Read handwritten digits from images: photos, scans, drawings.")
    app.add_middleware(_BodyLimit, limit=max_upload)

    async def predict_bytes(data: bytes, filename: str) -> Result:
        def run() -> Result:
            began = time.perf_counter()
            prediction = loaded.predict(data)
            return _result(prediction, time.perf_counter() - began)

        if not limiter:
            # One model call per core at a time: more would only queue inside ONNX Runtime.
            limiter.append(anyio.CapacityLimiter(cores))
        try:
            return await anyio.to_thread.run_sync(run, limiter=limiter[0])
        except ImageError as exc:
            raise HTTPException(_STATUS.get(type(exc), 422), _named(exc, filename)) from None

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.post("/api/predict", response_model=Result, responses=_ERRORS,
              openapi_extra=_IMAGE_BODY, summary="Read the digit in one image")
    async def predict(request: Request) -> Result:
        """Send the image as the raw request body, or as the `file` field of a form."""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            async with request.form(max_files=1, max_fields=10) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise HTTPException(422, "the form has no file field named 'file'")
                return await predict_bytes(await upload.read(), upload.filename or "upload")
        return await predict_bytes(await request.body(), "upload")

    @app.post("/api/predict/batch", response_model=BatchResult, responses=_ERRORS,
              openapi_extra=_BATCH_BODY, summary="Read the digits in several images")
    async def predict_batch(request: Request) -> BatchResult:
        """A form with up to 64 files in `files`; a file that cannot be read gets an `error`
        and the others are still read."""
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise HTTPException(415, "send the images as multipart/form-data files named 'files'")
        async with request.form(max_files=MAX_BATCH, max_fields=MAX_BATCH) as form:
            uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
            if not uploads:
                raise HTTPException(422, "the form has no files in a field named 'files'")
            items = []
            for upload in uploads:
                name = upload.filename or "upload"
                try:
                    result = await predict_bytes(await upload.read(), name)
                    items.append(BatchItem(filename=name, result=result, error=None))
                except HTTPException as exc:
                    items.append(BatchItem(filename=name, result=None, error=exc.detail))
        return BatchResult(results=items)

    @app.get("/api/model", summary="What the loaded model says about itself")
    async def model_info() -> dict[str, Any]:
        return {**loaded.info(), "path": loaded.path.name,
                "novelty_threshold": loaded.novelty_threshold}

    @app.get("/healthz", response_model=Health, summary="Liveness: the model is loaded")
    async def health() -> Health:
        return Health(status="ok")

    app.mount("/static", StaticFiles(directory=WEB), name="static")
    return app
