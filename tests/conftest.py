"""Fixtures shared by the tests: the real MNIST files, a loopback HTTP server, one trained model."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digitrec.data import MNIST, load_mnist

# The benchmarks start `digitrec serve` too, and run without pytest: so the one starter lives
# in bench/_common.py, and the tests take it from there (free_port and stop_server with it).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import _common
from _common import free_port as free_port
from _common import stop_server as stop_server

REPO = Path(__file__).resolve().parents[1]

# Shapes that are no digit, as lines (x0, y0, x1, y1) in a 280x280 frame.
NOT_DIGITS = {
    "A": [(60, 240, 140, 40), (140, 40, 220, 240), (95, 160, 185, 160)],
    "X": [(60, 60, 220, 220), (220, 60, 60, 220)],
    "K": [(90, 40, 90, 240), (90, 140, 200, 40), (120, 120, 200, 240)],
    "hash": [(100, 40, 90, 240), (180, 40, 170, 240), (40, 100, 240, 100), (40, 180, 240, 180)],
}


# CI sets it: there a test whose data or tool is missing fails instead of skipping, so a
# broken setup cannot pass as a green run.
STRICT = bool(os.environ.get("DIGITREC_STRICT"))


# Commands that run as their own process even in `run`: training forks workers that compose
# strings, serve blocks, and --jobs/--output start a process pool; forked from a test process
# full of threads (ONNX Runtime's, the test server's), those could deadlock.
OWN_PROCESS = {"train", "serve"}


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`digitrec ARGS` as a user runs it: exit code, stdout and stderr. In this process where
    that checks the same (a new one costs a second or two of imports); with ``env`` set
    for the call."""
    full_env = {**os.environ, **(env or {})}
    if args[0] in OWN_PROCESS or "--jobs" in args or "--output" in args:
        return subprocess.run([sys.executable, "-m", "digitrec", *args], capture_output=True,
                              text=True, env=full_env, timeout=300)
    from digitrec.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(full_env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's refusals and --help
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digitrec: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def until(done: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``done`` until it holds; fail naming ``what`` if it does not within ``timeout``
    seconds. Tests wait for the state they need this way, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s")
        time.sleep(0.02)


def missing(what: str) -> None:
    """Skip the test for lack of ``what`` on a developer's machine; fail it in CI."""
    if STRICT:
        pytest.fail(f"{what} (DIGITREC_STRICT is set, so this fails instead of skipping)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """$DIGITREC_DATA (as CI sets it), else the shared copy beside the repository."""
    folder = Path(os.environ.get("DIGITREC_DATA") or REPO.parent / "shared" / "data" / "mnist")
    if not (folder / "t10k-labels-idx1-ubyte.gz").exists():
        missing(f"MNIST not found in {folder}: set DIGITREC_DATA")
    return folder


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path) -> MNIST:
    return load_mnist(mnist_dir, allow_download=False, progress=False)


def start_server(*flags: str) -> tuple[subprocess.Popen, str]:
    """`digitrec serve` with ``flags`` on a free loopback port, once it answers; the process
    and its base URL. Its stderr is kept, so that a server that does not start says why."""
    return _common.start_server(*flags, stderr=subprocess.PIPE)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[Callable[[Path], str]]:
    """Serve folders on loopback; returns each one's base URL. Stopped after the test."""
    servers = []

    def serve(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def trained(mnist: MNIST, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One short training run of the default recipe on real MNIST, exported to ONNX.

    Shared by the accuracy, parity and CLI tests so the suite trains once.
    """
    import dataclasses

    from digitrec.export.subspace import DigitSubspace
    from digitrec.export.to_onnx import export_onnx
    from digitrec.training.loop import fit
    from digitrec.training.recipes import PRESETS
    from digitrec.training.run import model_card
    from digitrec.training.state import set_threads
    from digitrec.training.validation import accuracy

    set_threads()
    (x, y), val = mnist.split()
    recipe = dataclasses.replace(PRESETS["default"], epochs=2)
    result = fit(recipe, (x[:30000], y[:30000]), val, progress=False)
    test_accuracy = accuracy(result.model, mnist.test_images, mnist.test_labels)
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    export_onnx(result.model, path, model_card(result, test_accuracy),
                DigitSubspace.fit(x[:30000], val[0]))
    return {"result": result, "test_accuracy": test_accuracy, "path": path}
