"""`digitrec serve`: the web page and JSON API on uvicorn, one process or several."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import multiprocessing
import os
from pathlib import Path

from ..errors import DigitrecError
from ..settings import ENV, Settings
from .common import add_model


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve", help="start the web page and JSON API",
        description="Serve a page to draw or upload a digit, a number, a sum or a table and "
                    "see the answer live, and a JSON API (POST /api/predict, "
                    "/api/predict/batch, /api/read, /api/calc, /api/table; with --feedback, "
                    "POST /api/feedback and GET /api/feedback/stats; GET /api/model, /healthz; "
                    "OpenAPI at /docs). Needs the serve extra.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; "
                        "0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    add_model(p)
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="server processes, each with its own copy of the model (default 1)")
    p.add_argument("--feedback", metavar="DB",
                   help="let users correct readings (the page shows 'it was:' buttons) and "
                        "keep the corrections in this SQLite file, created if missing; for "
                        "`digitrec finetune MODEL --feedback DB`")
    p.add_argument("--feedback-token", metavar="TOKEN",
                   help="the token a client must send to correct (Authorization: Bearer "
                        "TOKEN; on the page, open /#token=TOKEN); needed with --feedback "
                        "beyond localhost; default $DIGITREC_FEEDBACK_TOKEN, which keeps it "
                        "out of the process list")
    p.add_argument("--keep-originals", action="store_true",
                   help="with --feedback, keep each corrected upload too (up to 2 MB each), "
                        "not only the 28x28 images the model saw")
    p.add_argument("--max-pixels", type=int, default=None, metavar="N",
                   help="refuse images of more pixels than this with 413 (default 16000000: a "
                        "12-megapixel photo passes; each costs up to 8 bytes a pixel to read)")
    p.add_argument("--header-timeout", type=float, default=None, metavar="SECONDS",
                   help="close a connection whose request headers have not all arrived this "
                        "long after it opened or after its last answer (default 10); a body "
                        "gets 60 s after its headers")
    p.set_defaults(run=run)


def _load_problem(settings: Settings) -> str | None:
    """Why a model or the feedback database cannot be opened, or None. Runs in a child
    process."""
    from ..corrections import Store
    from ..reading import load_model

    try:
        load_model(threads=1, settings=settings)
        if settings.feedback:
            Store(settings.feedback)
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
    from ..serve.feedback import is_loopback

    # The options over the environment's settings: the checks below see what the workers
    # will do, and the workers get them through their environment.
    base = Settings.from_environment()
    settings = dataclasses.replace(
        base, model=Path(args.model).resolve() if args.model else base.model,
        feedback=Path(args.feedback).resolve() if args.feedback else base.feedback,
        feedback_token=args.feedback_token or base.feedback_token,
        keep_originals=args.keep_originals or base.keep_originals,
        max_pixels=args.max_pixels or base.max_pixels,
        header_timeout=args.header_timeout or base.header_timeout)
    if settings.feedback and not settings.feedback_token and not is_loopback(args.host):
        raise DigitrecError(f"--feedback on {args.host} lets anyone who reaches it write "
                            "corrections: give a token (--feedback-token or "
                            f"${ENV['feedback_token']}), or listen on 127.0.0.1")
    if settings.keep_originals and not settings.feedback:
        raise DigitrecError("--keep-originals needs --feedback DB")
    if args.max_pixels is not None and args.max_pixels < 64:
        raise DigitrecError("--max-pixels must be at least 64")
    if args.header_timeout is not None and args.header_timeout <= 0:
        raise DigitrecError("--header-timeout must be more than 0 seconds")
    import uvicorn

    from ..serve.connections import DeadlineProtocol, connection_limit

    # Workers are separate processes (and uvicorn makes the connections' protocol itself):
    # the settings reach them through the environment.
    os.environ.update(settings.environment())
    server = {"host": args.host, "port": args.port, "log_level": "info",
              "http": DeadlineProtocol, "limit_concurrency": connection_limit()}

    if settings.feedback:
        print(f"corrections go to {settings.feedback}"
              + (f"; to correct on the page, open http://{args.host}:{args.port}/#token=TOKEN"
                 if settings.feedback_token else ""), flush=True)
    if args.workers == 1:
        from ..serve import create_app

        # Loads the models and opens the database: a bad one fails here, in one line.
        app = create_app(settings=settings)
        uvicorn.run(app, **server)
        return 0
    # Each worker process loads its own copy. Check the model once, in a child process, so a
    # bad file fails in one line here rather than in every worker, and this supervisor holds
    # neither a model nor the web framework (memory is what limits workers on a small server).
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        problem = pool.apply(_load_problem, (settings,))
    if problem:
        raise DigitrecError(problem)
    uvicorn.run("digitrec.serve:create_app", factory=True, workers=args.workers, **server)
    return 0
