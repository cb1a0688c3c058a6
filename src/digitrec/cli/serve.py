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
        description="Serve a page to draw or upload a digit, a number or a sum and see the "
                    "answer live, and a JSON API (POST /api/predict, /api/predict/batch, "
                    "/api/read, /api/calc; with --feedback, POST /api/feedback and GET "
                    "/api/feedback/stats; GET /api/model, /healthz; OpenAPI at /docs). Needs "
                    "the serve extra.")
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


def _load_problem(model: str | None, feedback: str | None) -> str | None:
    """Why a model or the feedback database cannot be opened, or None. Runs in a child
    process."""
    from ..corrections import Store
    from ..inference import load_model

    try:
        load_model(model, threads=1).load_all()
        if feedback:
            Store(feedback)
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
    from ..serve.feedback import FEEDBACK_ENV, ORIGINALS_ENV, TOKEN_ENV, is_loopback

    # The variables that hand these to worker processes are also their defaults here, so the
    # checks below see what the workers will do.
    args.feedback = args.feedback or os.environ.get(FEEDBACK_ENV) or None
    args.feedback_token = args.feedback_token or os.environ.get(TOKEN_ENV) or None
    args.keep_originals = args.keep_originals or os.environ.get(ORIGINALS_ENV) == "1"
    if args.feedback and not args.feedback_token and not is_loopback(args.host):
        raise DigitrecError(f"--feedback on {args.host} lets anyone who reaches it write "
                            f"corrections: give a token (--feedback-token or ${TOKEN_ENV}), "
                            "or listen on 127.0.0.1")
    if args.keep_originals and not args.feedback:
        raise DigitrecError("--keep-originals needs --feedback DB")
    if args.max_pixels is not None and args.max_pixels < 64:
        raise DigitrecError("--max-pixels must be at least 64")
    if args.header_timeout is not None and args.header_timeout <= 0:
        raise DigitrecError("--header-timeout must be more than 0 seconds")
    import uvicorn

    from ..serve.app import MAX_PIXELS_ENV
    from ..serve.connections import HEADER_TIMEOUT_ENV, DeadlineProtocol, connection_limit

    # Workers are separate processes: these reach them through the environment.
    if args.max_pixels:
        os.environ[MAX_PIXELS_ENV] = str(args.max_pixels)
    if args.header_timeout:
        os.environ[HEADER_TIMEOUT_ENV] = str(args.header_timeout)
    server = {"host": args.host, "port": args.port, "log_level": "info",
              "http": DeadlineProtocol, "limit_concurrency": connection_limit()}

    if args.feedback:
        print(f"corrections go to {args.feedback}"
              + (f"; to correct on the page, open http://{args.host}:{args.port}/#token=TOKEN"
                 if args.feedback_token else ""), flush=True)
    if args.workers == 1:
        from ..serve import create_app

        # Loads the models and opens the database: a bad one fails here, in one line.
        app = create_app(args.model, feedback=args.feedback,
                         feedback_token=args.feedback_token, keep_originals=args.keep_originals)
        uvicorn.run(app, **server)
        return 0
    # Each worker process loads its own copy. Check the model once, in a child process, so a
    # bad file fails in one line here rather than in every worker, and this supervisor holds
    # neither a model nor the web framework (memory is what limits workers on a small server).
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        problem = pool.apply(_load_problem, (args.model, args.feedback))
    if problem:
        raise DigitrecError(problem)
    if args.model:
        from ..inference import MODEL_ENV

        os.environ[MODEL_ENV] = str(Path(args.model).resolve())
    if args.feedback:
        os.environ[FEEDBACK_ENV] = str(Path(args.feedback).resolve())
        os.environ[TOKEN_ENV] = args.feedback_token or ""
        os.environ[ORIGINALS_ENV] = "1" if args.keep_originals else ""
    uvicorn.run("digitrec.serve:create_app", factory=True, workers=args.workers, **server)
    return 0
