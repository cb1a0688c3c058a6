"""The corrections database: schema and migrations, limits, many writers at once, and a writer
killed mid-transaction."""

import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from digitrec.corrections import MIGRATIONS, VERSION, Correction, Store
from digitrec.errors import DigitrecError


def correction(k: int = 0, label: str = "4", writer: str | None = "ana") -> Correction:
    images = np.full((1, 28, 28), k % 256, np.uint8)
    return Correction("digit", label, images, "ab" * 32, predicted="9",
                      probabilities=[[0.1] * 10], writer=writer)


def test_a_correction_comes_back_as_stored(tmp_path):
    store = Store(tmp_path / "fb.db")
    number = Correction("number", "1375,80", np.arange(4 * 784, dtype=np.uint8).reshape(
        4, 28, 28) % 255, "cd" * 32, predicted="1575,80", original=b"\x89PNG...")
    ids = [store.add(correction(7)), store.add(number)]
    back = list(store.corrections())
    assert [c.id for c in back] == ids and store.count() == 2
    assert back[0].label == "4" and back[0].predicted == "9" and back[0].writer == "ana"
    np.testing.assert_array_equal(back[0].images, correction(7).images)
    assert back[0].probabilities == [[0.1] * 10] and back[0].created.endswith("+00:00")
    np.testing.assert_array_equal(back[1].images, number.images)
    assert back[1].original == b"\x89PNG..." and back[1].kind == "number"
    assert [c.label for c in store.corrections(writer="ana")] == ["4"]


def test_a_new_file_has_the_current_schema(tmp_path):
    Store(tmp_path / "fb.db")
    db = sqlite3.connect(tmp_path / "fb.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"corrections_label", "corrections_writer"} <= indexes


def test_an_older_file_is_migrated_keeping_its_rows(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    MIGRATIONS[0](db)  # the first schema, as the first version wrote it
    db.execute("PRAGMA user_version = 1")
    blob = io.BytesIO()
    np.save(blob, np.zeros((1, 28, 28), np.uint8))
    db.execute("INSERT INTO corrections (created, kind, label, model_sha256, images) "
               "VALUES ('2026-11-01T00:00:00+00:00', 'digit', '7', 'ef', ?)",
               (blob.getvalue(),))
    db.commit()
    db.close()
    store = Store(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION == 3
    assert db.execute("SELECT label FROM corrections").fetchall() == [("7",)]
    assert store.add(correction()) == 2
    assert [c.label for c in store.corrections()] == ["7", "4"]


@pytest.mark.parametrize(("content", "fragment"), [
    (b"this is no database at all, just text" * 100, "not a database"),
    (None, "newer digitrec"),
])
def test_files_that_are_not_ours_are_refused_in_one_line(tmp_path, content, fragment):
    path = tmp_path / "fb.db"
    if content is None:
        db = sqlite3.connect(path)
        db.execute(f"PRAGMA user_version = {VERSION + 1}")
        db.close()
    else:
        path.write_bytes(content)
    with pytest.raises(DigitrecError, match=fragment) as info:
        Store(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_full_database_refuses_more_in_one_line(tmp_path):
    store = Store(tmp_path / "fb.db", max_rows=3)
    for k in range(3):
        store.add(correction(k))
    with pytest.raises(DigitrecError, match="full") as info:
        store.add(correction(3))
    assert info.value.code == "feedback_full" and store.count() == 3
    small = Store(tmp_path / "small.db", max_bytes=64 * 1024)
    with pytest.raises(DigitrecError, match="full"):
        for k in range(200):
            small.add(correction(k))
    assert 0 < small.count() < 200


def test_a_store_dropped_leaves_no_file_open(tmp_path):
    # Python's sqlite3 connections hold themselves in a cycle; a Store that did not close its
    # own kept the file, its log and its locks open until the garbage collector ran, and
    # processes forked meanwhile (the next test's pool) lost writes.
    import gc

    path = tmp_path / "fb.db"

    def open_files() -> list[str]:
        names = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                names.append(os.readlink(f"/proc/self/fd/{fd}"))
        return [n for n in names if n.startswith(str(path))]

    gc.disable()
    try:
        store = Store(path)
        store.add(correction(1))
        assert open_files()
        del store
        assert open_files() == []
    finally:
        gc.enable()


def _add_many(path: str, worker: int, count: int) -> list[int]:
    store = Store(path)
    return [store.add(correction(worker * 1000 + k, writer=f"w{worker}")) for k in range(count)]


def test_many_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "fb.db")
    Store(path)
    with ProcessPoolExecutor(8) as pool:
        ids = [i for part in pool.map(_add_many, [path] * 8, range(8), [25] * 8) for i in part]
    store = Store(path)
    assert len(set(ids)) == 200 and store.count() == 200
    assert store.stats()["by_writer"] == {f"w{k}": 25 for k in range(8)}


_WRITER = """
import sys
import numpy as np
from digitrec.corrections import Correction, Store
store = Store(sys.argv[1])
k = 0
while True:
    k += 1
    images = np.full((3, 28, 28), k % 256, np.uint8)
    i = store.add(Correction("number", str(k), images, "ab" * 32, writer="kill"))
    print(i, flush=True)  # acknowledged: committed before this line is written
"""


def test_a_writer_killed_mid_write_leaves_every_acknowledged_row(tmp_path):
    path = tmp_path / "fb.db"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    acknowledged = []
    began = time.monotonic()
    while len(acknowledged) < 150 and time.monotonic() - began < 60:
        acknowledged.append(int(proc.stdout.readline()))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    acknowledged += [int(line) for line in proc.stdout.read().split()]
    assert len(acknowledged) >= 150
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {r[0] for r in db.execute("SELECT id FROM corrections")}
    assert set(acknowledged) <= stored
    assert Store(path).add(correction()) > max(acknowledged)


def test_stats_count_labels_writers_models_and_confusions(tmp_path):
    store = Store(tmp_path / "fb.db")
    for label, writer in (("4", "ana"), ("4", "ana"), ("7", "bo"), ("4", None)):
        store.add(correction(label=label, writer=writer))
    found = store.stats()
    assert found["corrections"] == 4
    assert found["by_label"] == {"4": 3, "7": 1}
    assert found["by_writer"] == {"ana": 2, "(none)": 1, "bo": 1}
    assert found["by_model"] == {"ab" * 32: 4}
    assert found["confusions"][0] == {"predicted": "9", "label": "4", "count": 3}


@pytest.mark.slow
def test_stats_export_and_finetune_from_a_small_database(mnist, mnist_dir, tmp_path):
    from conftest import assert_one_line_error, run

    from digitrec.inference import load_digit_model
    from digitrec.labelled import from_corrections

    path = tmp_path / "fb.db"
    store = Store(path)
    for k in range(30):  # mirror-written digits, as a child writes them
        image = np.ascontiguousarray(mnist.test_images[k][:, ::-1])
        store.add(Correction("digit", str(mnist.test_labels[k]), image[None], "ab" * 32,
                             predicted="?", writer="child"))
    store.add(Correction("number", "12", np.stack([mnist.test_images[2],  # a 1 and a 2
                                                   mnist.test_images[1]]), "ab" * 32))
    store.add(Correction("number", "123", mnist.test_images[:2], "ab" * 32))  # 2 images, 3 digits

    stats = run("feedback", "stats", str(path))
    assert stats.returncode == 0 and "32 corrections" in stats.stdout
    assert "child 30" in stats.stdout

    out = tmp_path / "export"
    exported = run("feedback", "export", str(path), str(out))
    assert exported.returncode == 0, exported.stderr
    files = sorted(out.glob("*/*.png"))
    assert len(files) == 32 and "1 corrections whose images and label" in exported.stdout
    assert sorted(f.parent.name for f in files) == sorted(
        [str(d) for d in mnist.test_labels[:30]] + ["1", "2"])

    data = from_corrections(path, "0123456789")
    assert len(data) == 32 and len(data.skipped) == 1
    assert len(from_corrections(path, "0123456789", writer="child")) == 30

    model = tmp_path / "fb.onnx"
    tuned = run("finetune", "default", "--feedback", str(path), "--out", str(model), "--quiet",
                "--steps", "20", "--data-dir", str(mnist_dir))
    assert tuned.returncode == 0, tuned.stderr
    record = load_digit_model(model).card.finetuning
    assert record["images"] == 32 and record["data_sha256"] == data.sha256
    assert record["data"] == str(path)

    assert_one_line_error(run("feedback", "stats", str(tmp_path / "none.db")), "no such")
    assert_one_line_error(run("finetune", "default", "--feedback", str(path), "--writer", "x",
                              "--out", str(tmp_path / "x.onnx"), "--data-dir", str(mnist_dir)),
                          "no corrections to learn from for writer 'x'")
