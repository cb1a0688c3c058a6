"""`digitrec serve`: a page to draw or upload a digit and a JSON API, on the torch-free inference
path. The model is loaded once, when the app is made; predictions run in worker threads, off the
event loop, at most as many at once as there are cores."""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..errors import DigitrecError
from ..inference import Model, load_model
from .deps import WEB, Reader
from .limits import BodyLimit
from .routes import meta, predict, read
from .schemas import MAX_UPLOAD

# A refused input's status by its code; every other refusal is 422.
_STATUS = {"too_large": 413, "not_an_image": 415, "not_multipart": 415}


async def _refused(request: Request, exc: DigitrecError) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "code": exc.code}, _STATUS.get(exc.code, 422))


def create_app(model: Model | str | os.PathLike[str] | None = None,
               max_upload: int = MAX_UPLOAD) -> FastAPI:
    """The web app around ``model``: a loaded model or a path; by default $DIGITREC_MODEL, else
    the shipped model."""
    loaded = model if isinstance(model, Model) else load_model(model, threads=1)
    app = FastAPI(title="digitrec", version=__version__,
                  description="Read handwritten digits from images: photos, scans, drawings.")
    app.state.reader = Reader(loaded)
    app.add_middleware(BodyLimit, limit=max_upload)
    app.add_exception_handler(DigitrecError, _refused)
    app.include_router(meta.router)
    app.include_router(predict.router)
    app.include_router(read.router)
    app.mount("/static", StaticFiles(directory=WEB), name="static")
    return app
