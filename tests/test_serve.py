"""The web app and JSON API, in process: every endpoint, every refusal, and that the server
keeps answering after bad requests."""

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import schemathesis
from conftest import start_server, stop_server
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from PIL import Image

from digitrec import load_model
from digitrec.cpus import available_cores
from digitrec.errors import DigitrecError
from digitrec.serve import create_app


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(create_app(load_model(threads=1), max_upload=200_000)) as c:
        yield c


@pytest.fixture(scope="module")
def digits(mnist) -> list[tuple[bytes, int]]:
    return [(png(mnist.test_images[i]), int(mnist.test_labels[i])) for i in range(10)]


def assert_problem(response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for fragment in fragments:
        assert fragment in detail


def test_health_names_every_model_loaded_and_its_hash(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    files = load_model().files
    assert [m["role"] for m in health["models"]] == ["digits", "reader", "calculator",
                                                     "sum reader", "locator"]
    for entry in health["models"]:
        path = files[entry["role"]]
        assert entry["file"] == path.name
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_health_and_model(client: TestClient) -> None:
    info = client.get("/api/model").json()
    assert info["architecture"] == load_model().card.architecture
    assert info["novelty_threshold"] > 0 and "recipe" in info


def test_page_and_its_assets_are_served_by_the_app(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        response = client.get(asset)
        assert response.status_code == 200
        # Offline-ready: nothing is fetched from another host.
        assert "://" not in response.text.replace("http://www.w3.org", "")
    assert "://" not in page.text


def test_raw_body_and_multipart_read_mnist_digits(client: TestClient, digits) -> None:
    right = 0
    for data, label in digits:
        raw = client.post("/api/predict", content=data, headers={"content-type": "image/png"})
        form = client.post("/api/predict", files={"file": ("digit.png", data, "image/png")})
        assert raw.status_code == form.status_code == 200
        a, b = raw.json(), form.json()
        assert a["digit"] == b["digit"] and a["probabilities"] == b["probabilities"]
        right += a["digit"] == label
        assert len(a["probabilities"]) == 10 and abs(sum(a["probabilities"]) - 1) < 1e-4
        assert a["confidence"] == max(a["probabilities"]) and a["timing_ms"] > 0
        seen = Image.open(io.BytesIO(base64.b64decode(
            a["processed"].removeprefix("data:image/png;base64,"))))
        assert seen.size == (28, 28)
    assert right >= 9


def test_no_digit_is_an_answer_not_an_error(client: TestClient) -> None:
    blank = png(np.full((64, 64), 255, np.uint8))
    body = client.post("/api/predict", content=blank).json()
    assert body["digit"] is None and body["probabilities"] is None
    assert body["reason"].startswith("no digit found")


def test_bad_uploads_get_4xx_with_a_reason(client: TestClient) -> None:
    assert_problem(client.post("/api/predict", content=b"hello, not an image"), 415,
                   "upload", "not an image")
    truncated = png(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8))[:300]
    assert_problem(client.post("/api/predict", files={"file": ("cut.png", truncated)}), 422,
                   "cut.png", "truncated")
    assert_problem(client.post("/api/predict", content=b""), 422, "empty")
    assert_problem(client.post("/api/predict", data={"name": "x"},
                               files={"other": ("a.png", b"x")}), 422, "'file'")
    # Over the app's upload limit, with a declared length and without one (chunked).
    big = b"\0" * 300_000
    too_big = "upload is over the limit of 200,000 bytes"
    assert_problem(client.post("/api/predict", content=big), 413, too_big)
    assert_problem(client.post("/api/predict", content=iter([big[:150_000], big[150_000:]])),
                   413, too_big)
    # A small file that decodes to too many pixels: a decompression bomb.
    bomb = io.BytesIO()
    Image.new("1", (10_000, 6_000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 200_000
    assert_problem(client.post("/api/predict", content=bomb.getvalue()), 413, "pixels")
    malformed = client.post("/api/predict", content=b"--x\r\nnonsense",
                            headers={"content-type": "multipart/form-data; boundary=x"})
    assert malformed.status_code in (400, 422) and "detail" in malformed.json()


def test_server_keeps_answering_after_bad_requests(client: TestClient, digits) -> None:
    for _ in range(3):
        client.post("/api/predict", content=b"\x89PNG\r\n\x1a\n garbage")
    data, label = digits[0]
    assert client.post("/api/predict", content=data).json()["digit"] == label


def test_batch_reads_every_file_and_reports_the_bad_one(client: TestClient, digits) -> None:
    files = [("files", (f"d{i}.png", data, "image/png")) for i, (data, _) in enumerate(digits[:3])]
    files.insert(1, ("files", ("notes.txt", b"just text", "text/plain")))
    body = client.post("/api/predict/batch", files=files).json()
    names = [r["filename"] for r in body["results"]]
    assert names == ["d0.png", "notes.txt", "d1.png", "d2.png"]
    assert "notes.txt" in body["results"][1]["error"] and body["results"][1]["result"] is None
    got = [r["result"]["digit"] for i, r in enumerate(body["results"]) if i != 1]
    assert got == [label for _, label in digits[:3]]
    assert_problem(client.post("/api/predict/batch", content=digits[0][0]), 415, "multipart")
    assert_problem(client.post("/api/predict/batch", files={"other": ("a.png", digits[0][0])}),
                   422, "'files'")


def test_openapi_describes_the_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/predict/batch", "/api/model", "/healthz"} <= set(schema["paths"])
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/png"} <= set(body)
    assert client.get("/docs").status_code == 200


def test_serving_never_imports_torch(digits) -> None:
    code = """
import sys
from fastapi.testclient import TestClient
from digitrec.serve import create_app
with TestClient(create_app()) as c:
    r = c.post("/api/predict", content=sys.stdin.buffer.read())
    assert r.status_code == 200, r.text
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], input=digits[0][0],
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout.decode().strip().lower()) is False


# -- generated requests ---------------------------------------------------------------------------

# With feedback on, so that generated corrections reach the database's checks too.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(load_model(threads=1), max_upload=200_000,
                                feedback=Path(tempfile.mkdtemp()) / "feedback.db"))


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_no_5xx_and_match_the_schema(case) -> None:
    # Every check but one: no server error, status codes, bodies and content types as
    # documented, bad requests rejected. Not "schema-valid data is accepted": the schema can say
    # "binary", not "a readable image of at least 8x8 pixels", so a 4xx there is correct.
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])


def test_api_and_cli_give_one_result_shape(client: TestClient, digits, tmp_path) -> None:
    data, label = digits[0]
    (tmp_path / "digit.png").write_bytes(data)
    (tmp_path / "blank.png").write_bytes(png(np.full((64, 64), 255, np.uint8)))
    api = [client.post("/api/predict", content=(tmp_path / name).read_bytes()).json()
           for name in ("digit.png", "blank.png")]
    out = subprocess.run([sys.executable, "-m", "digitrec", "predict", "--json",
                          str(tmp_path / "digit.png"), str(tmp_path / "blank.png")],
                         capture_output=True, text=True, timeout=120)
    cli = json.loads(out.stdout)
    for a, c in zip(api, cli, strict=True):
        assert set(c) - {"file"} == set(a) - {"processed", "timing_ms", "id"}
        assert (a["digit"], a["status"], a["reason_code"]) == (c["digit"], c["status"],
                                                               c["reason_code"])
    assert api[0]["digit"] == label and api[0]["top3"][0][0] == label
    assert api[1]["reason_code"] == "faint" and api[1]["status"] == "no digit"


def test_refusals_carry_a_code(client: TestClient, digits) -> None:
    body = client.post("/api/predict", content=b"hello, not an image").json()
    assert body["code"] == "not_an_image"
    body = client.post("/api/predict", content=png(np.zeros((2, 2), np.uint8))).json()
    assert body["code"] == "too_small"
    files = [("files", ("notes.txt", b"just text")), ("files", ("d.png", digits[0][0]))]
    items = client.post("/api/predict/batch", files=files).json()["results"]
    assert [i["code"] for i in items] == ["not_an_image", None]
    assert [i["file"] for i in items] == [i["filename"] for i in items] == ["notes.txt", "d.png"]


@pytest.mark.slow
def test_a_missing_model_stops_the_server_before_it_listens(tmp_path: Path,
                                                          monkeypatch) -> None:
    # Before, the server started, /healthz said ok, and the first /api/read answered 422.
    for variable in ("DIGITREC_READER", "DIGITREC_CALC_MODEL", "DIGITREC_CALC_READER"):
        env = {**os.environ, variable: str(tmp_path / "missing.onnx")}
        done = subprocess.run([sys.executable, "-m", "digitrec", "serve", "--port", "1"],
                              capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 1, (variable, done.stderr)
        assert done.stderr.strip().count("\n") == 0
        assert "missing.onnx: model file not found" in done.stderr
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    monkeypatch.setenv("DIGITREC_CALC_READER", str(broken))
    with pytest.raises(DigitrecError, match=r"broken\.onnx: not a valid ONNX model"):
        create_app(load_model(threads=1))


def _number(mnist, count: int) -> bytes:
    """A line of ``count`` MNIST test digits, dark on light, as a PNG."""
    digits = [np.pad(mnist.test_images[k], ((8, 8), (4, 4))) for k in range(count)]
    return png(255 - np.concatenate(digits, axis=1))


def test_a_hostile_pattern_neither_hangs_its_request_nor_stalls_others(mnist, digits) -> None:
    # Nested repeats made Python's backtracking `re` run for minutes on a 12-digit line,
    # holding the interpreter: every other client of the server waited too.
    import httpx

    line = _number(mnist, 12)
    answers: list[tuple[int, str]] = []
    proc, url = start_server()

    def hostile() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for pattern in (r"((\d*)*)*x", r"(\d|\d\d)*x", r"(\d?){30}\d{30}"):
                response = http.post("/api/read", params={"pattern": pattern}, content=line)
                answers.append((response.status_code, response.json()["text"]))

    try:
        attacker = threading.Thread(target=hostile, daemon=True)
        attacker.start()
        served = 0
        with httpx.Client(base_url=url, timeout=10) as http:
            while attacker.is_alive():
                response = http.post("/api/predict", content=digits[served % 10][0])
                assert response.status_code == 200
                served += 1
        attacker.join()
    finally:
        stop_server(proc)
    assert answers == [(200, "")] * 3  # no reading of these digits fits them
    assert served >= 1


@pytest.mark.parametrize(("pattern", "fragment"), [
    ("\\d{5}(" , "missing )"),
    ("(\\d)\\1", "no backreferences or lookarounds"),
    ("(?=1)\\d+", "no backreferences or lookarounds"),
    ("\\d" * 101, "over the limit of 200"),
])
def test_patterns_re2_cannot_run_are_refused_in_one_line(client: TestClient, digits, pattern,
                                                         fragment) -> None:
    response = client.post("/api/read", params={"pattern": pattern}, content=digits[0][0])
    assert_problem(response, 422, fragment)
    assert response.json()["code"] == "bad_parameter" and "\n" not in response.json()["detail"]


def test_a_request_that_gets_no_worker_in_time_is_told_503(digits) -> None:
    import anyio

    from digitrec.serve.pool import Pool

    release = threading.Event()

    class Slow:
        def predict(self, data: bytes):
            release.wait(10)
            return load_model(threads=1).predict(data)

    pool = Pool(Slow(), queue_timeout=0.2)  # type: ignore[arg-type]
    outcomes: list[str] = []

    async def ask() -> None:
        try:
            await pool.predict(digits[0][0], "one.png")
            outcomes.append("answered")
        except DigitrecError as exc:
            outcomes.append(f"{exc.code}: {exc}")

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(available_cores()):  # every worker taken, waiting on `release`
                group.start_soon(ask)
            await anyio.sleep(0.1)
            await ask()  # waits 0.2 s for a worker, then is refused
            release.set()

    anyio.run(main)
    assert outcomes[0].startswith("busy: one.png: the server is busy")
    assert outcomes[1:] == ["answered"] * (len(outcomes) - 1)
    app = create_app(load_model(threads=1))

    async def refused() -> None:
        raise DigitrecError("x: the server is busy", "busy")

    app.add_api_route("/busy", refused, response_model=None)
    with TestClient(app) as c:
        response = c.get("/busy")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json() == {"detail": "x: the server is busy", "code": "busy"}
