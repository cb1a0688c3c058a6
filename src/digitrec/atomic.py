"""Atomic, durable file writes: a reader sees the old file or the new one, never half of one,
and once a write returns the new file survives a power cut. And a folder held by one run at a
time."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from .errors import DigitrecError, describe

LOCK_NAME = ".digitrec.lock"
# Why writing a file fails: a full disk or quota, a size limit, no permission, a read-only or
# failing file system.
_WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM,
                   errno.EROFS, errno.EIO}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    The temporary file lives in the same folder (so the final rename cannot cross file systems)
    and keeps the suffix, because writers such as matplotlib pick the format from it.

    The new file's content reaches the disk before the rename, and the rename before this
    returns: without the first, a file system may commit the rename ahead of the data and
    leave an empty file after a power cut; without the second, the old name may come back.

    A write that fails (a full disk, a folder that cannot be written, a failing disk) leaves
    ``path`` as it was and is refused in one line naming it.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        _sync(tmp)
        os.replace(tmp, path)
        _sync(path.parent)
    except OSError as exc:
        if exc.errno not in _WRITE_FAILURES:  # e.g. a download's error, inside the block
            raise
        raise DigitrecError(f"{path}: cannot write ({describe(exc)})", "write_failed") from None
    finally:
        tmp.unlink(missing_ok=True)


def _sync(path: Path) -> None:
    """Flush a file's or a folder's content to the disk (a read-only descriptor will do)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``folder`` for one run: a second run into it is refused in one line naming the
    owner's process and the lock file. The lock is the kernel's (flock), so a run killed with
    -9 leaves no lock behind, only the file, which the next run reuses."""
    folder = Path(folder)
    lock = folder / LOCK_NAME
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DigitrecError(f"{folder}: cannot use the folder ({describe(exc)})",
                            "write_failed") from None
    with os.fdopen(fd, "r+") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = held.read().strip() or "unknown"
            raise DigitrecError(f"{folder} is in use by another run (process {owner}; lock "
                                f"file {lock}): wait for it to end, or choose another --out",
                                "in_use") from None
        held.truncate(0)
        held.write(f"{os.getpid()}\n")
        held.flush()
        try:
            yield
        finally:
            held.truncate(0)  # the file stays (removing it would race a waiting run)
