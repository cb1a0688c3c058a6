"""The reliability pass (issue 18): no input crashes the image path, the server bounds what one
client can hold, written files survive contention and bad disks, and the errors are one line."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import digitrec
from digitrec.errors import DigitrecError

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import fuzz


@pytest.fixture(scope="module")
def model() -> digitrec.Model:
    return digitrec.load_model(threads=1)


@pytest.mark.parametrize("entry", fuzz.ENTRY_POINTS)
def test_any_input_gives_a_result_or_a_one_line_error(model, entry: str) -> None:
    # Arbitrary arrays, drawings of a few specks, encoded and damaged files, random bytes.
    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzz.inputs())
    def run(tagged) -> None:
        fuzz.check(model, entry, tagged[1])

    run()


@pytest.mark.parametrize("entry", fuzz.ENTRY_POINTS)
def test_the_fuzzers_finds_are_no_crash(model, entry: str) -> None:
    # Each file is an input bench/fuzz.py once crashed on, kept as it found it: here a PNG of
    # specks the ink mask keeps, all fainter than the crop's floor (`read` and `calc` crashed).
    for found in sorted((Path(__file__).parent / "fixtures" / "fuzz").iterdir()):
        fuzz.check(model, entry, found.read_bytes())


def test_arrays_with_nan_or_of_no_number_type_are_refused_in_one_line(model) -> None:
    bad = np.full((28, 28), np.nan, np.float32)
    with pytest.raises(DigitrecError, match="NaN or infinite"):
        model.predict(bad)
    with pytest.raises(DigitrecError, match="dtype <U1"):
        model.predict(np.full((28, 28), "a"))


def test_one_client_cannot_hold_the_server(tmp_path: Path) -> None:
    # bench/limits.py's attacks, smaller: big uploads at once and in batches, one over the
    # pixel cap, slow connections past the file descriptors; a user posts a drawing throughout.
    import json
    import subprocess

    out = tmp_path / "limits.json"
    done = subprocess.run([sys.executable, str(Path(fuzz.__file__).parent / "limits.py"),
                           "--smoke", "--output", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    big, batches, over, slow = report["runs"]
    assert big["statuses"] == [200] * 6 and batches["statuses"] == [200, 200]
    assert over["statuses"] == [413]
    for run in (big, batches):
        assert run["peak_mb"] - report["rest_mb"] < report["goal_mb"]
    assert slow["closed"] == slow["opened"] == 60  # before deadlines, none was ever closed
    assert all(run["user_failures"] == 0 for run in report["runs"])


def test_pixel_budget_makes_a_large_request_wait_its_turn() -> None:
    import anyio

    from digitrec.serve.deps import PixelBudget

    budget, order = PixelBudget(10), []

    async def take(name: str, pixels: int, hold: float) -> None:
        async with budget.hold(pixels):
            order.append(f"{name}+")
            await anyio.sleep(hold)
            order.append(f"{name}-")

    async def main() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(take, "a", 6, 0.05)
            await anyio.sleep(0.01)
            tasks.start_soon(take, "b", 6, 0)  # must wait for a
            tasks.start_soon(take, "c", 50, 0)  # wider than the budget: all of it, alone

    anyio.run(main)
    assert order[:3] == ["a+", "a-", "b+"] or order[:3] == ["a+", "a-", "c+"]
    assert budget.free == 10
    for k in range(0, len(order), 2):  # with 6 + 6 > 10 and 50 -> 10, nothing overlaps
        assert order[k][0] == order[k + 1][0]


def test_responses_carry_security_headers_and_no_cors() -> None:
    from fastapi.testclient import TestClient

    from digitrec.serve import create_app

    with TestClient(create_app()) as client:
        page = client.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        api = client.post("/api/predict", content=b"not an image",
                          headers={"Origin": "https://elsewhere.example"})
        assert api.status_code == 415
        assert api.headers["x-content-type-options"] == "nosniff"
        assert api.headers["x-frame-options"] == "DENY"
        assert "access-control-allow-origin" not in api.headers
    assert "<script>" not in (Path(digitrec.__file__).parent / "serve" / "web"
                              / "index.html").read_text()  # the policy allows no inline script


def test_the_server_refuses_images_over_its_pixel_cap_before_decoding() -> None:
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from digitrec.serve import create_app

    data = io.BytesIO()
    Image.new("L", (300, 300), 255).save(data, "PNG")
    with TestClient(create_app(max_pixels=250 * 250)) as client:
        refused = client.post("/api/predict", content=data.getvalue())
    assert refused.status_code == 413
    assert refused.json() == {"detail": "upload: 300x300 pixels is over this server's limit of "
                                        "62,500 pixels", "code": "too_large"}
