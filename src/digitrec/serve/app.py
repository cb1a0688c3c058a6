"""`digitrec serve`: a page to draw or upload a digit and a JSON API, on the torch-free inference
path. The model is loaded once, when the app is made; predictions run in worker threads, off the
event loop, at most as many at once as there are cores."""

from __future__ import annotations

import hashlib
import os

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..errors import DigitrecError
from ..inference import Model, load_model
from .deps import MAX_PIXELS, WEB, Reader
from .feedback import Feedback
from .limits import BodyLimit, SecurityHeaders
from .routes import corrections, meta, predict, read
from .schemas import MAX_UPLOAD, ModelFile

MAX_PIXELS_ENV = "DIGITREC_MAX_PIXELS"  # set by `serve --max-pixels`, for worker processes too
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


def create_app(model: Model | str | os.PathLike[str] | None = None,
               max_upload: int = MAX_UPLOAD, feedback: str | os.PathLike[str] | None = None,
               feedback_token: str | None = None, keep_originals: bool = False,
               max_pixels: int | None = None) -> FastAPI:
    """The web app around ``model``: a loaded model or a path; by default $DIGITREC_MODEL, else
    the shipped model. With ``feedback`` (a database path; by default $DIGITREC_FEEDBACK),
    readings get ids and POST /api/feedback stores corrections of them there. Images over
    ``max_pixels`` (by default $DIGITREC_MAX_PIXELS, else 16 million) are refused with 413."""
    loaded = model if isinstance(model, Model) else load_model(model, threads=1)
    # Every model a request could need, loaded before the server listens: a missing one stops
    # the start in one line, rather than failing the first /api/read after /healthz said ok.
    files = loaded.load_all()
    app = FastAPI(title="digitrec", version=__version__,
                  description="Read handwritten digits from images: photos, scans, drawings.")
    app.state.reader = Reader(loaded, Feedback(feedback, loaded, feedback_token, keep_originals)
                              if feedback else Feedback.from_env(loaded),
                              max_pixels or int(os.environ.get(MAX_PIXELS_ENV) or MAX_PIXELS))
    app.state.models = [ModelFile(role=role, file=path.name,
                                  sha256=hashlib.sha256(path.read_bytes()).hexdigest())
                        for role, path in files.items()]
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
