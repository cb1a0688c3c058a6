import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from digitrec import data
from digitrec.errors import DigitrecError


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path: Path, compress: bool) -> None:
    array = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    raw = idx_bytes(array)
    path = tmp_path / "images"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    np.testing.assert_array_equal(data.read_idx(path), array)


def test_truncated_idx_is_reported_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((3, 28, 28)))[:-100])
    with pytest.raises(DigitrecError, match=r"train-images-idx3-ubyte: truncated"):
        data.read_idx(path)


def test_trailing_bytes_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(5)) + b"xx")
    with pytest.raises(DigitrecError, match="trailing bytes"):
        data.read_idx(path)


@pytest.mark.parametrize("raw, problem", [
    (b"\x89PNG\r\n\x1a\n", "bad magic number"),
    (bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0\0\0\0", "not unsigned bytes"),
    (bytes([0, 0, 0x08, 3, 0, 0]), "header is truncated"),
    (b"", "bad magic number"),
])
def test_corrupt_idx_headers(tmp_path: Path, raw: bytes, problem: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(raw)
    with pytest.raises(DigitrecError, match=problem):
        data.read_idx(path)


def test_corrupt_gzip_is_one_clear_error(tmp_path: Path) -> None:
    good = gzip.compress(idx_bytes(np.zeros((10, 28, 28))))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(good[: len(good) // 2])  # a download cut off halfway
    with pytest.raises(DigitrecError, match=r"t10k-images-idx3-ubyte\.gz: cannot read"):
        data.read_idx(path)


def test_folder_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITREC_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.resolve_folder(tmp_path / "flag") == tmp_path / "flag"
    assert data.resolve_folder() == tmp_path / "env"
    monkeypatch.delenv("DIGITREC_DATA")
    assert data.resolve_folder() == tmp_path / "cache" / "digitrec" / "mnist"


def test_load_mnist_shapes_and_split(mnist: data.MNIST) -> None:
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.train_images.dtype == np.uint8
    assert mnist.test_images.shape == (10000, 28, 28)
    assert set(np.unique(mnist.test_labels)) == set(range(10))
    (x, y), (vx, vy) = mnist.split()
    assert len(x) == 55000 and len(vx) == data.VALIDATION_SIZE
    # The split is a partition of the training set, identical on every call.
    assert len(y) + len(vy) == len(mnist.train_labels)
    np.testing.assert_array_equal(mnist.split()[1][0], vx)
    assert np.bincount(vy, minlength=10).min() > 400  # every class is represented


def _copy_mnist(src: Path, dest: Path) -> None:
    dest.mkdir()
    for name in data.SHA256:
        (dest / f"{name}.gz").write_bytes((src / f"{name}.gz").read_bytes())


def test_load_rejects_altered_content(mnist_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    _copy_mnist(mnist_dir, folder)
    labels = bytearray(data.read_bytes(folder / "train-labels-idx1-ubyte.gz"))
    labels[100] = (labels[100] + 1) % 10
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(labels), 1))
    with pytest.raises(DigitrecError, match=r"train-labels-idx1-ubyte\.gz: content SHA-256"):
        data.load_mnist(folder, allow_download=False)


def test_download_from_mirror_after_a_dead_one(mnist_dir: Path, tmp_path: Path,
                                               http_server) -> None:
    good = http_server(mnist_dir)
    dead = "http://127.0.0.1:9/"  # discard port: nothing listens, the connection is refused
    dest = tmp_path / "cache"
    data.download(dest, mirrors=[dead, good], progress=False)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in data.SHA256)
    loaded = data.load_mnist(dest, allow_download=False)
    assert loaded.train_images.shape == (60000, 28, 28)


def test_corrupt_download_is_rejected_and_leaves_nothing(mnist_dir: Path, tmp_path: Path,
                                                         http_server) -> None:
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    for name in data.SHA256:
        content = bytearray(data.read_bytes(mnist_dir / f"{name}.gz"))
        content[-1] ^= 0xFF  # one flipped byte: still a valid IDX file, wrong content
        (bad / f"{name}.gz").write_bytes(gzip.compress(bytes(content), compresslevel=1))
    dest = tmp_path / "cache"
    with pytest.raises(DigitrecError, match=r"could not download train-images-idx3-ubyte: .*SHA"):
        data.download(dest, mirrors=[http_server(bad)], progress=False)
    assert list(dest.iterdir()) == []


def test_missing_data_without_network_is_one_clear_error(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITREC_MNIST_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(DigitrecError) as info:
        data.load_mnist(tmp_path / "empty", progress=False)
    message = str(info.value)
    assert str(tmp_path / "empty") in message and "could not download" in message
    assert "\n" not in message
    folder = tmp_path / "empty"
    assert not folder.exists() or not any(os.scandir(folder))
