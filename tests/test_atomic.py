from pathlib import Path

import pytest

from digitrec.atomic import atomic_path, write_text


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_successful_write_replaces_and_keeps_suffix(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.json"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".json" and tmp.parent == target.parent
        tmp.write_text("{}")
    assert target.read_text() == "{}"
    write_text(target, "[]")
    assert target.read_text() == "[]"
