"""Correcting readings through the API: ids, validation, the token rule, what is stored, and a
real server under concurrent corrections and killed in the middle of them."""

import hashlib
import importlib.util
import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from digitrec import corrections, load_model
from digitrec.corrections import Store
from digitrec.serve import create_app

EXAMPLES = Path(__file__).parents[1] / "examples"
BENCH = Path(__file__).parents[1] / "bench" / "feedback.py"
LOCAL = ("127.0.0.1", 50000)  # a client on this machine (the test client's own name is no address)


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def model():
    return load_model(threads=1)


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "feedback.db"


@pytest.fixture
def client(model, db) -> TestClient:
    with TestClient(create_app(model, feedback=db), client=LOCAL) as c:
        yield c


def rows(db: Path, columns: str = "label, kind, predicted, writer") -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(f"SELECT {columns} FROM corrections ORDER BY id").fetchall()


def test_without_feedback_readings_have_no_id_and_corrections_are_refused(model, mnist):
    with TestClient(create_app(model)) as c:
        result = c.post("/api/predict", content=png(mnist.test_images[0])).json()
        assert result["id"] is None and result["digit"] == mnist.test_labels[0]
        response = c.post("/api/feedback", json={"id": "x", "label": "4"})
        assert response.status_code == 404 and response.json()["code"] == "feedback_off"


def test_a_corrected_digit_is_stored_with_what_the_model_saw(client, db, model, mnist):
    result = client.post("/api/predict", content=png(mnist.test_images[1])).json()
    assert len(result["id"]) >= 24  # 18 random bytes: not guessable
    said = result["digit"]
    response = client.post("/api/feedback",
                           json={"id": result["id"], "label": "4", "writer": "ana"})
    assert response.status_code == 200, response.text
    assert response.json() == {"correction": 1, "label": "4"}
    [stored] = list(Store(db).corrections())
    assert (stored.label, stored.kind, stored.predicted, stored.writer) == ("4", "digit",
                                                                           str(said), "ana")
    seen = model.predict(png(mnist.test_images[1])).processed
    np.testing.assert_array_equal(stored.images[0], (seen * 255).round().astype(np.uint8))
    assert stored.model_sha256 == hashlib.sha256(model.path.read_bytes()).hexdigest()
    assert np.argmax(stored.probabilities[0]) == said and stored.original is None

    # Changing one's mind replaces the label; it does not add a row.
    again = client.post("/api/feedback", json={"id": result["id"], "label": " 7 "})
    assert again.json() == {"correction": 1, "label": "7"}
    assert rows(db) == [("7", "digit", str(said), None)]
    # A digit sent as a JSON number, as most clients send one, is the same label.
    number = client.post("/api/feedback", json={"id": result["id"], "label": 3})
    assert number.status_code == 200, number.text
    assert number.json() == {"correction": 1, "label": "3"}
    assert rows(db) == [("3", "digit", str(said), None)]


def test_a_number_is_corrected_with_its_digits_images(client, db):
    data = (EXAMPLES / "numbers" / "photo-2026.jpg").read_bytes()
    result = client.post("/api/read", content=data).json()
    assert result["text"] == "2026" and result["id"]
    assert client.post("/api/feedback", json={"id": result["id"], "label": 2028}).status_code \
        == 200
    [stored] = list(Store(db).corrections())
    assert (stored.kind, stored.label, stored.predicted) == ("number", "2028", "2026")
    assert stored.images.shape == (4, 28, 28) and len(stored.probabilities) == 4


def test_a_database_gone_bad_leaves_readings_standing(client, db, mnist):
    db.unlink()
    db.mkdir()  # the file is now a folder: every write fails
    result = client.post("/api/predict", content=png(mnist.test_images[0]))
    assert result.status_code == 200 and result.json()["id"] is None
    assert result.json()["digit"] == mnist.test_labels[0]


def test_nothing_read_gives_nothing_to_correct(client):
    blank = client.post("/api/predict", content=png(np.full((64, 64), 255, np.uint8))).json()
    assert blank["status"] == "no digit" and blank["id"] is None


@pytest.mark.parametrize(("endpoint", "body", "status", "code", "fragment"), [
    ("/api/predict", {"label": "12"}, 422, "bad_label", "one of 0-9"),
    ("/api/predict", {"label": "x"}, 422, "bad_label", "one of 0-9"),
    ("/api/predict", {"label": ""}, 422, "bad_label", "one of 0-9"),
    ("/api/read", {"label": "20a6"}, 422, "bad_label", "characters"),
    ("/api/predict", {"id": "made-up-id", "label": "4"}, 404, "not_found", "unknown"),
    ("/api/predict", {"label": 12}, 422, "bad_label", "one of 0-9"),
    ("/api/predict", {"label": True}, 422, "bad_request", "label"),
    ("/api/predict", {"label": 4.5}, 422, "bad_request", "label"),
    ("/api/predict", {}, 422, "bad_request", "label: Field required"),
    ("/api/predict", {"label": "4", "writer": "<script>"}, 422, "bad_request", "writer"),
    ("/api/predict", {"label": "4", "writer": "w" * 101}, 422, "bad_request", "writer"),
])
def test_bad_corrections_are_refused_in_one_line(client, db, mnist, endpoint, body, status,
                                                 code, fragment):
    data = (png(mnist.test_images[2]) if endpoint == "/api/predict"
            else (EXAMPLES / "numbers" / "photo-2026.jpg").read_bytes())
    reading = client.post(endpoint, content=data).json()["id"]
    response = client.post("/api/feedback", json={"id": reading, **body})
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["code"] == code and fragment in problem["detail"]
    assert "\n" not in problem["detail"] and rows(db) == []


def test_a_reading_expires(client, db, mnist):
    reading = client.post("/api/predict", content=png(mnist.test_images[3])).json()["id"]
    with sqlite3.connect(db) as con:
        con.execute("UPDATE readings SET served = served - ?", (corrections.KEEP_SECONDS + 1,))
    response = client.post("/api/feedback", json={"id": reading, "label": "1"})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_remembered_readings_are_bounded_oldest_first(db, monkeypatch):
    monkeypatch.setattr(corrections, "MAX_READINGS", 20)
    monkeypatch.setattr(corrections, "PRUNE_EVERY", 5)
    store = Store(db)
    image = np.zeros((1, 28, 28), np.uint8)
    ids = [store.remember("digit", image, "ab", "1", [[0.1] * 10]) for _ in range(25)]
    with sqlite3.connect(db) as con:
        kept = {r[0] for r in con.execute("SELECT id FROM readings")}
    assert len(kept) <= 20 and ids[-1] in kept and ids[0] not in kept
    assert store.correct(ids[-1], "3") == 1
    with pytest.raises(corrections.DigitrecError, match="unknown"):
        store.correct(ids[0], "3")


def test_originals_are_kept_only_when_asked_and_under_the_cap(model, db, mnist, monkeypatch):
    from digitrec.serve import feedback

    small = png(mnist.test_images[4])
    big = png(np.kron(mnist.test_images[4], np.ones((4, 4), np.uint8)))
    monkeypatch.setattr(feedback, "MAX_ORIGINAL", len(small))
    with TestClient(create_app(model, feedback=db, keep_originals=True), client=LOCAL) as c:
        for data, label in ((small, "4"), (big, "4")):
            reading = c.post("/api/predict", content=data).json()["id"]
            assert c.post("/api/feedback", json={"id": reading, "label": label}).status_code \
                == 200
    assert len(small) < len(big) and rows(db, "original") == [(small,), (None,)]


def test_with_a_token_only_its_holder_may_correct_or_read_back(model, db, mnist):
    with TestClient(create_app(model, feedback=db, feedback_token="s3cret"),
                    client=("203.0.113.7", 40000)) as c:  # a token admits any address
        reading = c.post("/api/predict", content=png(mnist.test_images[6])).json()["id"]
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            for response in (c.post("/api/feedback", json={"id": reading, "label": "4"},
                                    headers=headers),
                             c.get("/api/feedback/stats", headers=headers)):
                assert response.status_code == 401, response.text
                assert response.json()["code"] == "unauthorized"
                assert response.headers["www-authenticate"] == "Bearer"
        auth = {"Authorization": "Bearer s3cret"}
        assert c.post("/api/feedback", json={"id": reading, "label": "4"},
                      headers=auth).status_code == 200
        stats = c.get("/api/feedback/stats", headers=auth).json()
        assert stats["corrections"] == 1 and stats["by_label"] == {"4": 1}
        assert "images" not in str(stats)


def test_without_a_token_only_this_machine_may_correct(model, db, mnist):
    app = create_app(model, feedback=db)
    with TestClient(app, client=("203.0.113.7", 40000)) as remote:
        reading = remote.post("/api/predict", content=png(mnist.test_images[7])).json()["id"]
        response = remote.post("/api/feedback", json={"id": reading, "label": "4"})
        assert response.status_code == 401 and "--feedback-token" in response.json()["detail"]
        assert remote.get("/api/feedback/stats").status_code == 401
    with TestClient(app, client=LOCAL) as local:
        assert local.post("/api/feedback", json={"id": reading, "label": "4"}).status_code == 200


@pytest.mark.parametrize(("flags", "fragment"), [
    (["--host", "0.0.0.0", "--feedback", "{db}"], "give a token"),
    (["--keep-originals"], "needs --feedback"),
    (["--feedback", "{tmp}"], "cannot open the corrections database"),
])
def test_serve_refuses_unsafe_or_impossible_feedback_in_one_line(tmp_path, db, flags, fragment):
    args = [f.format(db=db, tmp=tmp_path) for f in flags]
    out = subprocess.run([sys.executable, "-m", "digitrec", "serve", "--port", "1", *args],
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "DIGITREC_FEEDBACK_TOKEN": ""})
    assert out.returncode == 1 and fragment in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


# -- a real server, through bench/feedback.py's load and kill runs ----------------------------

spec = importlib.util.spec_from_file_location("feedback_bench", BENCH)
bench = importlib.util.module_from_spec(spec)
sys.path.insert(0, str(BENCH.parent))  # it reads adapt.py's writers
spec.loader.exec_module(bench)


@pytest.mark.slow
def test_two_workers_under_eight_clients_lose_no_correction(tmp_path, mnist):
    result = bench.load(tmp_path, png(mnist.test_images[0]), seconds=5, count=8, workers=2)
    assert result["acknowledged"] >= 40 and result["stored"] == result["acknowledged"]
    assert result["lost"] == result["not_200"] == 0 and result["integrity"] == "ok"


def test_a_server_killed_mid_write_keeps_every_acknowledged_correction(tmp_path, mnist):
    result = bench.kill(tmp_path, png(mnist.test_images[1]), after=40)
    assert result["acknowledged"] >= 40 and result["stored"] >= result["acknowledged"]
    assert result["lost"] == result["server_errors"] == 0 and result["integrity"] == "ok"
