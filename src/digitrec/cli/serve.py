"""`digitrec serve`: the web page and JSON API on uvicorn, one process or several."""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
from pathlib import Path

from ..errors import DigitrecError
from .common import add_model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="start the web page and JSON API",
        description="Serve a page to draw or upload a digit and see the answer live, and a JSON "
                    "API (POST /api/predict, /api/predict/batch; GET /api/model, /healthz; "
                    "OpenAPI at /docs). Needs the serve extra.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; "
                        "0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_model(p)
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="server processes, each with its own copy of the model (default 1)")
    p.set_defaults(run=run)


def _load_problem(model: str | None) -> str | None:
    """Why the model cannot be loaded, or None. Runs in a child process."""
    from ..inference import load_model

    try:
        load_model(model, threads=1)
    except DigitrecError as exc:
        return str(exc)
    return None


def run(args: argparse.Namespace) -> int:
    missing = [m for m in ("fastapi", "uvicorn", "multipart") if not importlib.util.find_spec(m)]
    if missing:
        raise DigitrecError(f"digitrec serve needs the serve extra ({', '.join(missing)} "
                            "missing): pip install 'digitrec[serve]'")
    if args.workers < 1:
        raise DigitrecError("--workers must be at least 1")
    import uvicorn

    if args.workers == 1:
        from ..serve import create_app

        app = create_app(args.model)  # loads the model: a bad one fails here, in one line
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
        return 0
    # Each worker process loads its own copy. Check the model once, in a child process, so a
    # bad file fails in one line here rather than in every worker, and this supervisor holds
    # neither a model nor the web framework (memory is what limits workers on a small server).
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        problem = pool.apply(_load_problem, (args.model,))
    if problem:
        raise DigitrecError(problem)
    if args.model:
        from ..inference import MODEL_ENV

        os.environ[MODEL_ENV] = str(Path(args.model).resolve())
    uvicorn.run("digitrec.serve:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="info")
    return 0
