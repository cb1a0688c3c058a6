"""Corrections people sent for readings that were wrong, kept in one SQLite file: the images the
model saw, what it said, what was right, which model said it. `digitrec serve --feedback`
writes them; `digitrec feedback` and `finetune --feedback` read them back.

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
import sqlite3
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


# Step k brings a file from version k to k + 1. Only ever append.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create, _index]
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


def _npy(images: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(images, dtype=np.uint8), allow_pickle=False)
    return buf.getvalue()


class Store:
    """One corrections file. Each call opens its own connection, so a Store can be shared by
    threads and processes alike."""

    def __init__(self, path: str | os.PathLike[str], max_rows: int = MAX_ROWS,
                 max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_rows, self.max_bytes = max_rows, max_bytes
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
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_MS / 1000, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DigitrecError(f"{self.path}: cannot open the corrections database "
                                f"({describe(exc)})", "bad_database") from None
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = FULL")
            yield db
        except sqlite3.DatabaseError as exc:
            raise DigitrecError(f"{self.path}: {describe(exc)}", "bad_database") from None
        finally:
            db.close()

    def add(self, correction: Correction) -> int:
        """Store ``correction`` in one transaction and return its id; refused in one line when
        the file holds its limit of rows or bytes."""
        if correction.kind not in KINDS:
            raise DigitrecError(f"unknown kind {correction.kind!r}", "bad_parameter")
        images = _npy(correction.images)
        created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # take the write lock now: the count stays true
            try:
                rows, size = self._usage(db)
                if rows >= self.max_rows or size >= self.max_bytes:
                    raise DigitrecError(
                        f"{self.path}: the corrections database is full ({rows} corrections, "
                        f"{size / 2**20:.0f} MiB)", "feedback_full")
                cursor = db.execute(
                    "INSERT INTO corrections (created, kind, label, predicted, probabilities,"
                    " model_sha256, writer, images, original) VALUES (?,?,?,?,?,?,?,?,?)",
                    (created, correction.kind, correction.label, correction.predicted,
                     None if correction.probabilities is None
                     else json.dumps(correction.probabilities), correction.model_sha256,
                     correction.writer, images, correction.original))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        assert cursor.lastrowid is not None
        return cursor.lastrowid

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
            db.row_factory = sqlite3.Row
            for row in db.execute(query + " ORDER BY id", (writer,) if writer else ()):
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


def _correction(row: sqlite3.Row) -> Correction:
    return Correction(
        kind=row["kind"], label=row["label"],
        images=np.load(io.BytesIO(row["images"]), allow_pickle=False),
        model_sha256=row["model_sha256"], predicted=row["predicted"],
        probabilities=None if row["probabilities"] is None else json.loads(
            row["probabilities"]),
        writer=row["writer"], original=row["original"], created=row["created"], id=row["id"])


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring the file to `VERSION`, each step in its own transaction; the version it was."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > VERSION:
        raise DigitrecError(f"{path}: written by a newer digitrec (schema {found}, this one "
                            f"knows {VERSION}); upgrade digitrec to use it", "bad_database")
    for version in range(found, VERSION):
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] == version:  # not raced
                MIGRATIONS[version](db)
                db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return found
