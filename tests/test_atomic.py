import errno
import os
from pathlib import Path

import pytest

from digitrec.atomic import atomic_path, write_text
from digitrec.errors import DigitrecError


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


def test_the_new_file_reaches_the_disk_before_the_rename_and_the_rename_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.onnx"
    target.write_text("old")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        synced.append(f"{name} (target {target.read_text()})")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_text(target, "new")
    assert len(synced) == 2
    assert synced[0].startswith(".model.") and synced[0].endswith("(target old)")
    assert synced[1] == f"{tmp_path.name} (target new)"


def test_a_failing_fsync_keeps_the_old_file_whole(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "checkpoint.pt"
    target.write_text("old and whole")

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(DigitrecError, match=r"checkpoint.pt: cannot write \(.*Input/output"):
        write_text(target, "new")
    assert target.read_text() == "old and whole"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
