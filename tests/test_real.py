"""The corpus of real handwriting (bench/real/): well formed, split by source, no reserved
source, the shareable images committed, and bench/real.py's comparison of readings."""

from __future__ import annotations

import csv
import sys
from collections import defaultdict

import pytest
from conftest import REPO, missing

from digitrec.corpus import COLUMNS

sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "real"))
import build
import real

CORPUS = REPO / "bench" / "real"
NUMBER_CHARS = set("0123456789.,-")
SUM_CHARS = NUMBER_CHARS | set("+×÷=()")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    with (CORPUS / "labels.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_row_is_well_formed(rows) -> None:
    assert tuple(rows[0]) == COLUMNS
    files = [r["file"] for r in rows]
    assert len(files) == len(set(files))
    for r in rows:
        assert r["set"] in ("numbers", "sums") and r["split"] in ("dev", "test"), r
        assert r["kind"] in ("photo", "scan", "drawing", "cell", "form", "cheque"), r
        allowed = NUMBER_CHARS if r["set"] == "numbers" else SUM_CHARS
        assert r["label"] and set(r["label"]) <= allowed, r
        assert len(r["commit"]) == 40 and r["source"].count("/") == 1, r
        name, _, box = build.parse_path(r["path"])
        assert name and (box is None or (box[0] < box[2] and box[1] < box[3])), r


def test_no_reserved_source_and_the_split_is_by_source(rows) -> None:
    reserved_file = REPO.parent / "shared" / "reserved-sources.txt"
    if not reserved_file.exists():
        missing(f"{reserved_file} not found")
    reserved = {line.strip().lower() for line in reserved_file.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert len(reserved) > 10
    splits = defaultdict(set)
    for r in rows:
        assert r["source"].lower() not in reserved, r["source"]
        splits[r["source"]].add(r["split"])
    assert all(len(s) == 1 for s in splits.values()), splits
    sources = (CORPUS / "SOURCES.md").read_text()
    assert all(source in sources for source in splits)


def test_shareable_images_are_committed_with_their_licences(rows) -> None:
    # The others are made by bench/real/build.py from the sources.
    shared = [r for r in rows if r["licence"] == "MIT"]
    assert shared
    for r in shared:
        assert (CORPUS / r["file"]).is_file(), r["file"]
        assert (CORPUS / "licences" / f"{r['source'].replace('/', '+')}.txt").is_file()


def test_readings_are_compared_as_digitrec_writes_them() -> None:
    assert real.normalised(" 12 x 7 = \n\n 3 : 4 ") == "12×7=\n3÷4"
    assert real.normalised("1 375,80") == "1375,80"
    assert real.normalised("−5*2") == "-5×2"

