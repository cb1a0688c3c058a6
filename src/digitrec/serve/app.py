"""`digitrec serve`: a page to draw or upload a digit and a JSON API, on the torch-free inference
path. The model is loaded once, when the app is made; predictions run in worker threads, off the
event loop, at most as many at once as there are cores."""

from __future__ import annotations

import dataclasses
import hashlib
import os

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..contract import SERVER_MAX_PIXELS
from ..errors import DigitrecError
from ..reading import Reader, load_model
from ..settings import Settings
from .deps import WEB
from .feedback import Feedback
from .limits import BodyLimit, SecurityHeaders
from .pool import Pool
from .routes import corrections, meta, predict, read
from .schemas import MAX_UPLOAD, ModelFile

# A refused input's status by its code; every other refusal is 422.
_STATUS = {"too_large": 413, "not_an_image": 415, "not_multipart": 415, "unauthorized": 401,
           "not_found": 404, "feedback_off": 404, "feedback_full": 409, "busy": 503}
_HEADERS = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}


async def _refused(request: Request, exc: DigitrecError) -> JSONResponse:
    status = _STATUS.get(exc.code, 422)
    return JSONResponse({"detail": str(exc), "code": exc.code}, status, _HEADERS.get(status))


async def _malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A body or parameter that does not fit the schema, in the one-line form of every other
    refusal: the first problem, where it is."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    return JSONResponse({"detail": f"{where or 'body'}: {first.get('msg', 'invalid')}",
                         "code": "bad_request"}, 422)


def create_app(model: Reader | str | os.PathLike[str] | None = None,
               max_upload: int = MAX_UPLOAD, feedback: str | os.PathLike[str] | None = None,
               feedback_token: str | None = None, keep_originals: bool | None = None,
               max_pixels: int | None = None, settings: Settings | None = None) -> FastAPI:
    """The web app around ``model``: a `Reader`, or the digit model's path (the other models
    are the settings' or the shipped ones). ``settings`` are by default this process's (a
    worker of `serve --workers N` gets the supervisor's so); the other arguments override
    them. With ``feedback`` (a database path), readings get ids and POST /api/feedback stores
    corrections of them there. Images over ``max_pixels`` (16 million unless set) are refused
    with 413."""
    given = {"feedback": feedback, "feedback_token": feedback_token,
             "keep_originals": keep_originals, "max_pixels": max_pixels}
    settings = dataclasses.replace(settings or Settings.from_environment(),
                                   **{k: v for k, v in given.items() if v is not None})
    # Every model a request could need is loaded before the server listens: a missing one
    # stops the start in one line, rather than failing the first /api/read after /healthz.
    reader = model if isinstance(model, Reader) else load_model(model, threads=1,
                                                                settings=settings)
    app = FastAPI(title="digitrec", version=__version__,
                  description="Read handwritten digits from images: photos, scans, drawings.")
    keeping = (Feedback(settings.feedback, reader.digits, settings.feedback_token,
                        settings.keep_originals) if settings.feedback else None)
    app.state.pool = Pool(reader, keeping, settings.max_pixels or SERVER_MAX_PIXELS)
    app.state.models = [ModelFile(role=role, file=path.name,
                                  sha256=hashlib.sha256(path.read_bytes()).hexdigest())
                        for role, path in reader.files.items()]
    app.add_middleware(BodyLimit, limit=max_upload)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(DigitrecError, _refused)
    app.add_exception_handler(RequestValidationError, _malformed)
    app.include_router(meta.router)
    app.include_router(predict.router)
    app.include_router(read.router)
    app.include_router(corrections.router)
    app.mount("/static", StaticFiles(directory=WEB), name="static")
    return app
