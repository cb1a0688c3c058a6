"""Fixtures shared by the tests: the real MNIST files, a loopback HTTP server, one trained model."""

from __future__ import annotations

import contextlib
import fcntl
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


def _one_core_a_worker() -> None:
    """Under pytest-xdist (`pytest -n auto`), each worker, and every process it starts, keeps
    to a core of its own: two workers each training on every core would fight over both
    (digitrec sizes its threads, pools and string workers by the cores it may use)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if worker and len(cores) > 1:
        os.sched_setaffinity(0, {cores[int(worker.removeprefix("gw")) % len(cores)]})


_one_core_a_worker()

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


def _own_process(args: tuple[str, ...]) -> bool:
    """Whether `run` starts a process for ``args``: serve blocks; a sequence reader's or a
    locator's training forks workers that compose strings or scenes, and --jobs/--output a
    process pool, which forked from a test process full of threads (ONNX Runtime's, a test
    server's) could deadlock."""
    composing = {"read", "calc-read", "linereader", "locate", "locator"}
    return (args[0] == "serve" or "--jobs" in args or "--output" in args
            or (args[0] == "train" and bool(composing & set(args))))


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`digitrec ARGS` as a user runs it: exit code, stdout and stderr. In this process where
    that checks the same (a new one costs a second or two of imports); with ``env`` set
    for the call."""
    full_env = {**os.environ, **(env or {})}
    if _own_process(args):
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


# What makes a test slow (`pytest -m "not slow"` is the quick loop while working): it trains
# or reads real MNIST through the CLI (these fixtures), or its module starts clusters, browsers,
# torchrun groups or whole benchmarks. Other slow tests carry the mark themselves.
SLOW_FIXTURES = {"trained", "tiny_int8", "run_folder", "mnist_dir"}
SLOW_MODULES = {"test_bench", "test_browser", "test_cluster", "test_distributed"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if (SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
                or item.module.__name__ in SLOW_MODULES):
            item.add_marker(pytest.mark.slow)
    # The slow ones first: spread over xdist's workers (--dist worksteal) while the quick ones
    # fill the gaps, the suite does not wait at the end for one long test.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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


TRAINED_IMAGES = 12_000  # the `trained` model's (98.7% on MNIST's test set, in 6 s here)


def shared(tmp_path_factory: pytest.TempPathFactory, name: str,
           make: Callable[[Path], None]) -> Path:
    """A folder that ``make`` fills once a test session: with pytest-xdist, the first worker
    to ask makes it under a lock and the others wait and reuse it (a model trained once, not
    once a worker)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder, above each worker's own
    folder = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = root / f"{name}.made"  # beside it: the folder holds only what make wrote
        if not made.exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            made.touch()
    return folder


@pytest.fixture(scope="session")
def trained(mnist: MNIST, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The default recipe for 2 epochs on TRAINED_IMAGES real MNIST images, exported: its network,
    its test accuracy and its ONNX file."""
    import json

    from digitrec.training.checkpoint import CHECKPOINT_NAME, load_result, read_checkpoint

    folder = shared(tmp_path_factory, "trained", lambda out: _train_default(mnist, out))
    result = load_result(read_checkpoint(folder / CHECKPOINT_NAME))
    test_accuracy = json.loads((folder / "test.json").read_text())["test_accuracy"]
    return {"result": result, "test_accuracy": test_accuracy, "path": folder / "model.onnx"}


def _train_default(mnist: MNIST, out: Path) -> None:
    import dataclasses
    import json

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
    n = TRAINED_IMAGES
    result = fit(recipe, (x[:n], y[:n]), val, out_dir=out, progress=False)
    test_accuracy = accuracy(result.model, mnist.test_images, mnist.test_labels)
    export_onnx(result.model, out / "model.onnx", model_card(result, test_accuracy),
                DigitSubspace.fit(x[:n], val[0]))
    (out / "test.json").write_text(json.dumps({"test_accuracy": test_accuracy}))
