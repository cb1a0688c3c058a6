"""Fixtures shared by the tests: the real MNIST files, a loopback HTTP server, one trained model."""

from __future__ import annotations

import functools
import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digitrec.data import MNIST, load_mnist

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """$DIGITREC_DATA (as CI sets it), else the shared copy beside the repository."""
    folder = Path(os.environ.get("DIGITREC_DATA") or REPO.parent / "shared" / "data" / "mnist")
    if not (folder / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip(f"MNIST not found in {folder}: set DIGITREC_DATA")
    return folder


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path) -> MNIST:
    return load_mnist(mnist_dir, allow_download=False, progress=False)


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

    from digitrec import export, train
    from digitrec.recipes import PRESETS

    train.set_threads()
    (x, y), val = mnist.split()
    recipe = dataclasses.replace(PRESETS["default"], epochs=2)
    began = time.perf_counter()
    result = train.fit(recipe, (x[:30000], y[:30000]), val, progress=False)
    test_accuracy = train.accuracy(result.model, mnist.test_images, mnist.test_labels)
    seconds = time.perf_counter() - began
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    export.export_onnx(result.model, path, export.training_metadata(result, test_accuracy),
                       export.DigitSubspace.fit(x[:30000], val[0]))
    return {"result": result, "test_accuracy": test_accuracy, "seconds": seconds, "path": path}
