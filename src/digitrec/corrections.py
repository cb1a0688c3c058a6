"""Corrections people sent for readings that were wrong, kept in one SQLite file: the images the
model saw, what it said, what was right, which model said it. `digitrec serve --feedback`
writes them; `digitrec feedback` and `finetune --feedback` read them back.

The server remembers each reading it serves in the same file (`Store.remember`), under an
unguessable id, for an hour; a correction names that id (`Store.correct`), so what is stored is
what the model saw, never an image a client made up. Keeping them in the file rather than in
memory bounds the server's memory and lets every worker process correct any worker's reading.

SQLite because it is a real database that needs no server: WAL lets readers and one writer work
at once, a busy timeout makes concurrent requests wait their turn instead of failing with
"database is locked", each correction is one transaction (all of it or none), and
``synchronous=FULL`` means an acknowledged correction survives the process being killed.
The schema's version is SQLite's ``user_version``; `MIGRATIONS` brings any older file up to date.
Torch-free: the server writes here.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import secrets
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DigitrecError, describe

KINDS = ("digit", "number")
BUSY_MS = 10_000  # how long a write waits for another to finish before giving up
MAX_ROWS = 100_000
MAX_BYTES = 512 * 2**20
# Served readings wait this long for a correction, and at most this many (and bytes) of them:
# the oldest go first.
KEEP_SECONDS = 3600
MAX_READINGS = 10_000
MAX_READING_BYTES = 64 * 2**20
PRUNE_EVERY = 64  # readings between checks of those limits: a check reads the whole index
NUMBER_CHARS = "0123456789.,-"  # what the readers write; lines are separated by newlines
MAX_LABEL = 200


def _create(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE corrections (
            id INTEGER PRIMARY KEY,
            created TEXT NOT NULL,               -- UTC, ISO 8601
            kind TEXT NOT NULL CHECK (kind IN ('digit', 'number')),
            label TEXT NOT NULL,                 -- what was right
            predicted TEXT,                      -- what the model said (NULL: nothing found)
            probabilities TEXT,                  -- JSON: per input, the model's probabilities
            model_sha256 TEXT NOT NULL,
            writer TEXT,                         -- a tag the client chose, if any
            images BLOB NOT NULL,                -- .npy of the (N, 28, 28) uint8 inputs
            original BLOB                        -- the uploaded file, if kept
        )""")


def _index(db: sqlite3.Connection) -> None:
    # `feedback stats` groups by these; fine-tuning for one writer selects by it.
    db.execute("CREATE INDEX corrections_label ON corrections (label)")
    db.execute("CREATE INDEX corrections_writer ON corrections (writer)")


def _readings(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE readings (
            id TEXT PRIMARY KEY,                 -- the unguessable id the client was given
            served REAL NOT NULL,                -- Unix time, for expiry
            kind TEXT NOT NULL,
            predicted TEXT,
            probabilities TEXT,
            model_sha256 TEXT NOT NULL,
            images BLOB NOT NULL,
            original BLOB,
            size INTEGER NOT NULL                -- bytes of images and original
        )""")
    db.execute("CREATE INDEX readings_served ON readings (served, size)")
    # A reading corrected twice keeps the second answer: the user changed their mind.
    db.execute("ALTER TABLE corrections ADD COLUMN reading TEXT")
    db.execute("CREATE UNIQUE INDEX corrections_reading ON corrections (reading)")


# Step k brings a file from version k to k + 1. Only ever append.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create, _index, _readings]
VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Correction:
    kind: str  # "digit" or "number"
    label: str
    images: np.ndarray  # (N, 28, 28) uint8: what the model saw, one image a digit
    model_sha256: str
    predicted: str | None = None
    probabilities: list[list[float]] | None = None
    writer: str | None = None
    original: bytes | None = None
    created: str | None = None  # set when stored
    id: int | None = None  # set when stored


def check_label(kind: str, label: str) -> str:
    """``label`` as stored for a correction of ``kind``; refused in one line unless it is one
    digit for a digit, or the characters the readers write for a number."""
    label = label.strip()
    if kind == "digit":
        if len(label) != 1 or label not in NUMBER_CHARS[:10]:
            raise DigitrecError(f"a digit's label must be one of 0-9, not {label[:20]!r}",
                                "bad_label")
    elif not 0 < len(label) <= MAX_LABEL or set(label) - set(NUMBER_CHARS + "\n"):
        raise DigitrecError(f"a number's label must be 1 to {MAX_LABEL} of the characters "
                            f"{NUMBER_CHARS!r}, lines apart by newlines, not {label[:20]!r}",
                            "bad_label")
    return label


def _npy(images: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(images, dtype=np.uint8), allow_pickle=False)
    return buf.getvalue()


class Store:
    """One corrections file. Each thread (and process) uses its own connection, so a Store can
    be shared by threads and processes alike."""

    def __init__(self, path: str | os.PathLike[str], max_rows: int = MAX_ROWS,
                 max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self._local = threading.local()
        with self._connect() as db:
            migrate(db, self.path)

    @classmethod
    def existing(cls, path: str | os.PathLike[str]) -> Store:
        """The store at ``path`` for reading it: a missing file is refused in one line, not
        created empty."""
        if not Path(path).is_file():
            raise DigitrecError(f"{path}: no such corrections database", "not_found")
        return cls(path)

    @contextmanager
    def _connect(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """This thread's connection (opened on first use: opening costs more than a served
        reading's whole write); a database error closes it and is one line."""
        db = self._connection()
        try:
            # A served reading lost to a power cut costs nothing; a correction must survive it.
            db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            yield db
        except sqlite3.DatabaseError as exc:
            self._local.__dict__.pop("db", None)
            db.close()
            raise DigitrecError(f"{self.path}: {describe(exc)}", "bad_database") from None

    def _connection(self) -> sqlite3.Connection:
        # Per thread, and per process: a connection must not cross a fork.
        opened = getattr(self._local, "db", None)
        if opened is not None and opened[0] == os.getpid():
            return opened[1]
        db = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Closed by `_close_in` (so from whichever thread drops the Store); each thread
            # still uses only its own.
            db = sqlite3.connect(self.path, timeout=BUSY_MS / 1000, isolation_level=None,
                                 check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            db.execute("PRAGMA journal_mode = WAL")
        except (OSError, sqlite3.Error) as exc:
            if db is not None:
                db.close()
            raise DigitrecError(f"{self.path}: cannot open the corrections database "
                                f"({describe(exc)})", "bad_database") from None
        self._local.db = (os.getpid(), db)
        weakref.finalize(self, _close_in, os.getpid(), db)
        return db

    def add(self, correction: Correction) -> int:
        """Store ``correction`` in one transaction and return its id; refused in one line when
        the file holds its limit of rows or bytes."""
        if correction.kind not in KINDS:
            raise DigitrecError(f"unknown kind {correction.kind!r}", "bad_parameter")
        with self._writing() as db:
            self._check_room(db)
            cursor = db.execute(
                "INSERT INTO corrections (created, kind, label, predicted, probabilities,"
                " model_sha256, writer, images, original) VALUES (?,?,?,?,?,?,?,?,?)",
                (_now(), correction.kind, correction.label, correction.predicted,
                 _json(correction.probabilities), correction.model_sha256, correction.writer,
                 _npy(correction.images), correction.original))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def remember(self, kind: str, images: np.ndarray, model_sha256: str,
                 predicted: str | None, probabilities: list[list[float]] | None,
                 original: bytes | None = None) -> str:
        """Keep a served reading for `KEEP_SECONDS` so it can be corrected; its new,
        unguessable id. The oldest readings make way when there are too many."""
        if kind not in KINDS:
            raise DigitrecError(f"unknown kind {kind!r}", "bad_parameter")
        key = secrets.token_urlsafe(18)
        blob = _npy(images)
        now = time.time()
        with self._writing(durable=False) as db:
            db.execute("DELETE FROM readings WHERE served < ?", (now - KEEP_SECONDS,))
            row = db.execute("INSERT INTO readings VALUES (?,?,?,?,?,?,?,?,?)",
                             (key, now, kind, predicted, _json(probabilities), model_sha256,
                              blob, original, len(blob) + len(original or b""))).lastrowid
            if row % PRUNE_EVERY:
                return key
            # sum(size) reads only the (served, size) index, not the images.
            count, size = db.execute("SELECT count(*), sum(size) FROM readings").fetchone()
            if count > MAX_READINGS or size > MAX_READING_BYTES:
                # Drop the oldest down to 90% of both limits: pruning once in a while, not on
                # every request once full.
                db.execute(
                    "DELETE FROM readings WHERE id IN (SELECT id FROM (SELECT id, sum(size) "
                    "OVER (ORDER BY served DESC, id) AS newer, row_number() OVER (ORDER BY "
                    "served DESC, id) AS n FROM readings) WHERE n > ? OR newer > ?)",
                    (int(MAX_READINGS * 0.9), int(MAX_READING_BYTES * 0.9)))
        return key

    def correct(self, reading: str, label: str, writer: str | None = None) -> int:
        """Store what the remembered ``reading`` should have been; the correction's id. An
        unknown or expired reading is refused (code not_found), as is a label that does not
        fit the reading's kind (bad_label); correcting a reading again replaces its label."""
        with self._writing() as db:
            found = db.execute("SELECT kind FROM readings WHERE id = ? AND served >= ?",
                               (reading, time.time() - KEEP_SECONDS)).fetchone()
            if found is None:
                raise DigitrecError("no reading with that id: it is unknown or older than "
                                    f"{KEEP_SECONDS // 60} minutes", "not_found")
            label = check_label(found[0], label)
            if db.execute("SELECT 1 FROM corrections WHERE reading = ?",
                          (reading,)).fetchone() is None:
                self._check_room(db)
            return db.execute(
                "INSERT INTO corrections (created, kind, label, predicted, probabilities, "
                "model_sha256, writer, images, original, reading) SELECT ?, kind, ?, "
                "predicted, probabilities, model_sha256, ?, images, original, id FROM readings "
                "WHERE id = ? ON CONFLICT (reading) DO UPDATE SET created = excluded.created, "
                "label = excluded.label, writer = excluded.writer RETURNING id",
                (_now(), label, writer, reading)).fetchone()[0]

    @contextmanager
    def _writing(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        with self._connect(durable) as db, _transaction(db):
            yield db

    def _check_room(self, db: sqlite3.Connection) -> None:
        rows, size = self._usage(db)
        if rows >= self.max_rows or size >= self.max_bytes:
            raise DigitrecError(
                f"{self.path}: the corrections database is full ({rows} corrections, "
                f"{size / 2**20:.0f} MiB)", "feedback_full")

    @staticmethod
    def _usage(db: sqlite3.Connection) -> tuple[int, int]:
        rows = db.execute("SELECT count(*) FROM corrections").fetchone()[0]
        pages, page = (db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count",
                                                                        "page_size"))
        return rows, pages * page

    def corrections(self, writer: str | None = None) -> Iterator[Correction]:
        """Every stored correction (one ``writer``'s only, if given), oldest first."""
        query = "SELECT * FROM corrections" + (" WHERE writer = ?" if writer else "")
        with self._connect() as db:
            cursor = db.cursor()
            cursor.row_factory = sqlite3.Row
            for row in cursor.execute(query + " ORDER BY id", (writer,) if writer else ()):
                yield _correction(row)

    def count(self) -> int:
        with self._connect() as db:
            return self._usage(db)[0]

    def stats(self) -> dict[str, Any]:
        """Counts by label, writer and model, and the confusions corrected most."""
        with self._connect() as db:
            def grouped(column: str) -> dict[str, int]:
                return {"(none)" if k is None else str(k): n for k, n in db.execute(
                    f"SELECT {column}, count(*) FROM corrections GROUP BY {column} "
                    "ORDER BY count(*) DESC, 1")}

            pairs = db.execute("SELECT predicted, label, count(*) FROM corrections GROUP BY "
                               "predicted, label ORDER BY count(*) DESC, 1, 2 LIMIT 10")
            return {"corrections": self._usage(db)[0], "by_label": grouped("label"),
                    "by_writer": grouped("writer"), "by_model": grouped("model_sha256"),
                    "confusions": [{"predicted": p, "label": lab, "count": n}
                                   for p, lab, n in pairs]}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _json(probabilities: list[list[float]] | None) -> str | None:
    return None if probabilities is None else json.dumps(probabilities)


def _correction(row: sqlite3.Row) -> Correction:
    return Correction(
        kind=row["kind"], label=row["label"],
        images=np.load(io.BytesIO(row["images"]), allow_pickle=False),
        model_sha256=row["model_sha256"], predicted=row["predicted"],
        probabilities=None if row["probabilities"] is None else json.loads(
            row["probabilities"]),
        writer=row["writer"], original=row["original"], created=row["created"], id=row["id"])


def _close_in(pid: int, db: sqlite3.Connection) -> None:
    """Close a Store's connection when the Store is gone. Python's sqlite3 connections are held
    in a cycle by their own statement cache, so unclosed they stay open, with the file's log
    and its locks, until the garbage collector runs; a process forked meanwhile inherits them,
    which SQLite forbids (8 processes forked so lost writes and read "short" here). Only the
    process that opened a connection may close it."""
    if os.getpid() == pid:
        db.close()


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring the file to `VERSION`, each step in its own transaction; the version it was."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > VERSION:
        raise DigitrecError(f"{path}: written by a newer digitrec (schema {found}, this one "
                            f"knows {VERSION}); upgrade digitrec to use it", "bad_database")
    for version in range(found, VERSION):
        with _transaction(db):
            if db.execute("PRAGMA user_version").fetchone()[0] == version:  # not raced
                MIGRATIONS[version](db)
                db.execute(f"PRAGMA user_version = {version + 1}")
    return found


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, its lock taken at the start so that what it reads stays true
    until it commits; rolled back if the block raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
