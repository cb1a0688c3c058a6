"""Other writers' characters: each source's format decoded into MNIST's form, the files
`data/writers/build.py` writes, writer-disjoint validation, and a network trained on them with
its card saying so."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run
from PIL import Image

from digitrec.contract import DIGITS
from digitrec.errors import DigitrecError
from digitrec.writers import HELD_OUT, MNIST_WRITERS, load_writers

BUILD = Path(__file__).parents[1] / "data" / "writers" / "build.py"


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("writers_build", BUILD)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _glyph(digit: np.ndarray, side: int) -> np.ndarray:
    """An MNIST digit at another scanner's size, ink in [0, 1]."""
    return np.asarray(Image.fromarray(digit).resize((side, side), Image.BILINEAR)) / 255


def test_each_sources_format_is_decoded_into_characters(build, mnist) -> None:
    digits, labels = mnist.test_images[:20], mnist.test_labels[:20]
    usps = "\n".join(" ".join([f"{d:.4f}", *(f"{v:.4f}" for v in (_glyph(x, 16) * 2 - 1).ravel())])
                     for x, d in zip(digits, labels, strict=True))
    found = list(build._usps({"zip.train.gz": gzip.compress(usps.encode())}))
    assert [c for _, c, _ in found] == [str(d) for d in labels]
    assert found[0][0].shape == (16, 16) and found[0][0].max() > 200  # ink bright

    semeion = "\n".join(" ".join([*(str(int(v > 0.5)) for v in _glyph(x, 16).ravel()),
                                  *("1" if k == d else "0" for k in range(10))])
                        for x, d in zip(digits, labels, strict=True))
    found = list(build._semeion({"semeion.data": semeion.encode()}))
    assert [c for _, c, _ in found] == [str(d) for d in labels]

    blocks = ["header line", "946"]
    for x, d in zip(digits, labels, strict=True):
        blocks += ["".join("1" if v > 0.5 else "0" for v in row) for row in _glyph(x, 32)]
        blocks.append(f" {d}")
    found = list(build._optdigits({"optdigits-orig.tra": "\n".join(blocks).encode()}))
    assert [c for _, c, _ in found] == [str(d) for d in labels]
    assert found[0][0].shape == (32, 32)

    rows = "\n".join(",".join(str(v) for v in x.ravel()) for x in digits)
    table = "\n".join(f"{k:08d}.png,{d}.0,1081_{k % 3}" for k, d in enumerate(labels))
    found = list(build._nsysu({"nsysu-digits/X.csv": rows.encode(),
                               "nsysu-digits/nsysu-digits.csv": table.encode()}))
    assert [c for _, c, _ in found] == [str(d) for d in labels]
    assert {w for _, _, w in found} == {"nsysu-1081_0", "nsysu-1081_1", "nsysu-1081_2"}

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("addition_plus", "division_slash", "multiplication_dot"):
            buf = io.BytesIO()
            Image.fromarray(digits[0]).save(buf, "PNG")
            z.writestr(f"symbols_partitioned/train/{name}/{name}-1.png", buf.getvalue())
            z.writestr(f"symbols_partitioned/train/{name}/rotated-1.png", buf.getvalue())
    found = list(build._mdas({"mdas_symbol_dataset/mdas_symbols_v1.zip": archive.getvalue()}))
    assert [c for _, c, _ in found] == ["+", "÷", "×"]  # the slash divides, the dot multiplies


def _qmnist_table(labels: np.ndarray, series: int) -> bytes:
    """QMNIST's extended labels as its TSV files give them: class, series, writer, ..."""
    return gzip.compress("\n".join(f"{d}\t{series}\t{k // 100}\t{k % 100}\t{30 + d}\t{k}\t0\t0"
                                   for k, d in enumerate(labels)).encode())


def test_mnist_writers_come_from_qmnists_labels_and_must_match_mnist(build, tmp_path, mnist,
                                                                     monkeypatch) -> None:
    clone = tmp_path / "mirrors" / "facebookresearch+qmnist" / "repo"
    clone.mkdir(parents=True)
    (clone / build.QMNIST_PATHS[0]).write_bytes(_qmnist_table(mnist.train_labels, 4))
    (clone / build.QMNIST_PATHS[1]).write_bytes(
        _qmnist_table(np.concatenate([mnist.test_labels, mnist.test_labels]), 0))  # 60,000 too
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "labels"]):
        subprocess.run([*git, *command], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    monkeypatch.setattr(build, "QMNIST_COMMIT", commit)
    out = tmp_path / "writers"
    out.mkdir()
    assert build.build_mnist_writers(tmp_path / "mirrors", out) == 600 + 100
    _writers_file(out, "others", mnist.test_images[:50],
                  [str(d) for d in mnist.test_labels[:50]], ["w"] * 50)
    found = load_writers(out)
    assert found.mnist is not None and found.mnist.source["commit"] == commit
    assert list(found.mnist.train[:2]) == ["4-0", "4-0"] and found.mnist.train[-1] == "4-599"
    assert len(found.mnist.test) == 10000
    found.mnist.check(mnist.train_labels, mnist.test_labels)
    with pytest.raises(DigitrecError, match=r"mnist-writers\.npz: its labels are not MNIST's"):
        found.mnist.check(mnist.train_labels[::-1], mnist.test_labels)
    assert len(found) == 50  # the writers of MNIST's digits are not characters
    alone = found.digest
    (out / MNIST_WRITERS).unlink()
    assert load_writers(out).mnist is None and load_writers(out).digest != alone


def test_strings_by_one_writer_take_every_digit_from_that_writer(mnist, monkeypatch) -> None:
    import digitrec.training.strings as strings

    images, labels = mnist.train_images[:3000], mnist.train_labels[:3000]
    writers = np.array([f"w{k % 30:02d}" for k in range(3000)])
    grouped = strings.hands(images, labels, writers)
    assert len(grouped) == 30
    for w, hand in enumerate(grouped):
        for d in range(10):
            assert np.array_equal(hand[d], images[(writers == f"w{w:02d}") & (labels == d)])
    drawn: list[np.ndarray] = []
    monkeypatch.setattr(strings, "number_layer",
                        lambda text, digits, *a, **k: drawn.extend(digits) or np.ones((40, 60)))
    pools = [images[labels == d] for d in range(10)]
    for k in range(20):
        strings.sample(pools, np.random.default_rng(k), looks=0.0, hand=grouped[k])
        mine = {x.tobytes() for d in range(10) for x in grouped[k][d]}
        assert drawn and all(x.tobytes() in mine for x in drawn), k
        drawn.clear()
    given = []
    monkeypatch.setattr(strings, "sample", lambda *a, hand=None, **k: given.append(hand))
    supply = strings.Strings(images, labels, seed=1, writers=writers)
    for index in range(400):
        supply.get(0, index)
    share = sum(h is not None for h in given) / len(given)
    assert abs(share - strings.ONE_WRITER) < 0.08, share
    given.clear()
    for index in range(50):
        strings.Strings(images, labels, seed=1).get(0, index)
    assert given == [None] * 50  # without writers, no string is one writer's


def _writers_file(folder: Path, name: str, images: np.ndarray, labels: list[str],
                  writers: list[str]) -> None:
    np.savez_compressed(folder / f"{name}.npz", images=images, labels=np.array(labels),
                        writers=np.array(writers), source_sha256=np.array("ab" * 32),
                        repo=np.array(f"someone/{name}"), commit=np.array("0" * 40),
                        licence=np.array("MIT"))


def test_writers_load_with_provenance_and_hold_out_whole_writers(tmp_path, mnist) -> None:
    images = mnist.test_images[:600]
    labels = [str(d) for d in mnist.test_labels[:600]]
    writers = [f"w{k % 60}" for k in range(600)]
    _writers_file(tmp_path, "digits", images, labels, writers)
    _writers_file(tmp_path, "signs", images[:30], ["+", "×", "÷"] * 10, ["s"] * 30)
    found = load_writers(tmp_path)
    assert len(found) == 630 and set(found.sources) == {"digits", "signs"}
    assert found.sources["digits"]["repo"] == "someone/digits"
    assert len(found.only(DIGITS)) == 600
    held = found.held_out()
    held_writers = set(found.writers[held])
    assert not held_writers & set(found.writers[~held])  # no writer on both sides
    assert 0.05 < held[:600].mean() < 0.3, held.mean()  # about HELD_OUT of 60 writers
    assert HELD_OUT == 0.15
    assert np.array_equal(held, load_writers(tmp_path).held_out())  # the same every time
    assert found.digest == load_writers(tmp_path).digest != load_writers(
        tmp_path, ["digits"]).digest
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DigitrecError, match=r"broken\.npz: not a writers' file"):
        load_writers(tmp_path)
    with pytest.raises(DigitrecError, match="no writers' files"):
        load_writers(tmp_path / "none")


def test_a_digit_network_learns_other_writers_and_says_so(tmp_path, mnist, mnist_dir) -> None:
    folder = tmp_path / "writers"
    folder.mkdir()
    images = mnist.test_images[:2000]
    _writers_file(folder, "others", images, [str(d) for d in mnist.test_labels[:2000]],
                  [f"w{k % 100}" for k in range(2000)])
    np.savez_compressed(folder / MNIST_WRITERS, train=np.array([f"4-{k // 100}" for k in
                                                                range(60000)]),
                        test=np.array(["0-1"] * 10000), train_labels=mnist.train_labels,
                        test_labels=mnist.test_labels, source_sha256=np.array("cd" * 32),
                        repo=np.array("someone/qmnist"), commit=np.array("1" * 40),
                        licence=np.array("BSD"))
    out = tmp_path / "run"
    result = run("train", "--preset", "fast", "--subset", "3000", "--writers", str(folder),
                 "--out", str(out), "--data-dir", str(mnist_dir), "--quiet")
    assert result.returncode == 0, result.stderr
    card = json.loads(run("info", str(out / "model.onnx"), "--json").stdout)
    learned = card["writers_data"]
    assert learned["sources"]["others"]["repo"] == "someone/others"
    assert learned["train"] + learned["held_out"] == 2000 and learned["held_out"] > 100
    assert learned["held_out_accuracy"] > 0.85, learned  # writers it never saw
    assert learned["mnist_writers"]["repo"] == "someone/qmnist"
    data = {entry["data"].partition(":")[0]: entry for entry in card["training_data"]}
    assert data["MNIST's training digits (less its validation split)"]["count"] == 3000
    assert data["others"]["count"] == learned["train"]
    assert data["others"]["licence"] == "MIT"
    shown = run("info", str(out / "model.onnx")).stdout
    assert f"{learned['train']:>10,}  others: someone/others@000000000000; licence: MIT" in shown
    assert card["recipe"]["writers"] == load_writers(folder).digest
    resumed = run("train", "--preset", "fast", "--resume", "--out", str(out),
                  "--data-dir", str(mnist_dir))
    assert_one_line_error(resumed, "--writers")
    refused = run("train", "--preset", "locate", "--writers", str(folder), "--out",
                  str(tmp_path / "loc"), "--data-dir", str(mnist_dir))
    assert_one_line_error(refused, "not the locator")
