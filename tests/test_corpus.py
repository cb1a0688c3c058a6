"""Real handwriting as training data (`digitrec.corpus`): the manifest's dev rows as lines for
the sequence reader and as digits for the digit model, where they came from in the model card,
and the test rows never handed out. Built on the corpus images committed in the repository."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, assert_one_line_error, run

from digitrec import corpus
from digitrec.contract import DIGITS, LINE_CHARS, LINE_HEIGHT, SUM_LINE_CHARS
from digitrec.errors import DigitrecError
from digitrec.inference import load_digit_model
from digitrec.inference.model import DEFAULT_MODEL
from digitrec.reading import load_model
from digitrec.training.strings import REAL, Strings

IMAGES = REPO / "bench" / "real" / "images"
CELLS = IMAGES / "OliverLengwinat+textbox_recognition"  # five dev numbers, MIT
SOURCE, COMMIT = "OliverLengwinat/textbox_recognition", "f6efbe04d86bc97f9953f2b7ec481b4080e7d24d"
CELL_LABELS = ["24", "30", "40", "23", "98"]


def manifest(folder, extra: list[tuple[str, str, str, str]] = ()) -> str:
    """A manifest of the five committed cells (dev) and ``extra`` (file, label, set, split)."""
    lines = [",".join(corpus.COLUMNS)]
    entries = [(str(CELLS / f"{k + 1:03d}.png"), label, "numbers", "dev")
               for k, label in enumerate(CELL_LABELS)] + list(extra)
    for file, label, kind, split in entries:
        lines.append(f"{file},{label},{kind},cell,{SOURCE},{COMMIT},page.png,MIT,{split}")
    path = folder / "labels.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_rows_are_read_by_split_and_bad_manifests_refused_in_one_line(tmp_path) -> None:
    path = manifest(tmp_path, [(str(CELLS / "001.png"), "24", "numbers", "test")])
    assert [r.label for r in corpus.rows(path)] == CELL_LABELS
    assert [r.split for r in corpus.rows(path, "test")] == ["test"]
    assert len(corpus.rows(path, None)) == 6 and corpus.is_manifest(path)

    plain = tmp_path / "plain.csv"
    plain.write_text("path,label\na.png,3\n", encoding="utf-8")
    assert not corpus.is_manifest(plain)
    (tmp_path / "gone").mkdir()
    (tmp_path / "odd").mkdir()
    cases = [(plain, "not a corpus manifest"),
             (manifest(tmp_path / "gone", [(str(tmp_path / "nowhere.png"), "7", "numbers",
                                            "dev")]), "nowhere.png: image not there"),
             (manifest(tmp_path / "odd", [(str(CELLS / "001.png"), "7", "numbers", "train")]),
              "split 'train'")]
    for bad, fragment in cases:
        with pytest.raises(DigitrecError) as caught:
            corpus.rows(bad)
        assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_lines_are_found_as_read_finds_them_and_their_provenance_kept(tmp_path) -> None:
    # A test row and a sum beside the five dev numbers: a reader of numbers takes neither.
    path = manifest(tmp_path, [(str(CELLS / "001.png"), "77", "numbers", "test"),
                               (str(CELLS / "002.png"), "3×0", "sums", "dev")])
    lines = corpus.load_lines(path, LINE_CHARS, sums=False)
    assert lines.texts == CELL_LABELS
    assert all(image.shape[0] == LINE_HEIGHT and image.dtype == np.float32
               and image.max() > 0.5 for image in lines.images)
    record = lines.provenance
    assert record["rows"] == 5 and record["split"] == "dev"
    assert record["sources"] == {f"{SOURCE}@{COMMIT}": 5}
    assert record["licences"] == {SOURCE: "MIT"}
    assert record["sha256"] == corpus.digest(corpus.rows(path))

    sums = corpus.load_lines(path, SUM_LINE_CHARS, sums=True)
    assert sums.texts == [*CELL_LABELS, "3×0"] and sums.provenance["sha256"] == record["sha256"]
    # The hash is of labels and images: another label is other data.
    relabelled = manifest(tmp_path, [(str(CELLS / "001.png"), "77", "numbers", "test"),
                                     (str(CELLS / "002.png"), "3×1", "sums", "dev")])
    assert corpus.digest(corpus.rows(relabelled)) != record["sha256"]


def test_a_share_of_the_strings_are_the_real_lines(mnist) -> None:
    lines = [np.full((LINE_HEIGHT, 40 + 10 * k), 0.8, np.float32) for k in range(3)]
    texts = ["12", "345", "6.7"]
    digits = (mnist.test_images[:500], mnist.test_labels[:500])
    mixed = Strings(*digits, seed=3, real=(lines, texts))
    samples = [mixed.get(1, k) for k in range(400)]
    real = [s for s in samples if s.image.max() <= 1 and s.text in texts
            and s.image.shape[1] in range(34, 62)]
    assert abs(len(real) / len(samples) - REAL) < 0.06, len(real)
    assert all(s.image.shape[0] == LINE_HEIGHT for s in samples)
    again = mixed.get(1, 7)
    assert again.text == samples[7].text and np.array_equal(again.image, samples[7].image)
    # Without real lines, the supply is what it always was.
    plain = Strings(*digits, seed=3)
    assert plain.get(1, 5).text == Strings(*digits, seed=3).get(1, 5).text


def test_digits_are_cut_where_the_label_puts_them(tmp_path) -> None:
    # Of the five cells, 24, 40 and 98 have digits that touch: the segmentation alone cannot
    # spell them, so they are left out (the shipped model cuts 30 and 23).
    data = corpus.load_digits(manifest(tmp_path), DEFAULT_MODEL, DIGITS)
    used = data.provenance["rows"]
    assert used >= 2 and used + data.provenance["skipped"] == 5 == used + len(data.skipped)
    assert len(data) == 2 * used and data.images.shape[1:] == (28, 28)
    for file, label in zip(data.files, data.labels, strict=True):
        cell, k = file.rsplit("#", 1)
        assert CELL_LABELS[int(cell[-7:-4]) - 1][int(k)] == DIGITS[label]
    # The cuts are the digits themselves: the model reads them as labelled.
    said = load_digit_model().probabilities(data.images).argmax(1)
    assert (said == data.labels).mean() >= 0.75


def test_train_and_finetune_take_the_dev_rows_and_record_them(tmp_path, mnist_dir) -> None:
    path = manifest(tmp_path)
    assert_one_line_error(run("train", "--preset", "default", "--real", path, "--out",
                              str(tmp_path / "digits")), "teaches a sequence reader")

    out = tmp_path / "reader"
    done = run("train", "--preset", "read", "--epochs", "1", "--subset", "64", "--batch-size",
               "32", "--real", path, "--out", str(out), "--quiet", "--data-dir", str(mnist_dir))
    assert done.returncode == 0, done.stderr
    info = json.loads(subprocess.run([sys.executable, "-m", "digitrec", "info", "--json",
                                      str(out / "model.onnx")], capture_output=True,
                                     text=True, timeout=120).stdout)
    assert info["real_data"]["rows"] == 5 and info["recipe"]["real"] == info["real_data"]["sha256"]
    learned = {entry["data"]: entry for entry in info["training_data"]}
    assert learned[f"real writing (dev rows): {SOURCE}@{COMMIT}"]["count"] == 5
    assert learned[f"real writing (dev rows): {SOURCE}@{COMMIT}"]["licence"] == "MIT"
    assert learned["strings composed of those digits, new every epoch"]["count"] == 64
    assert_one_line_error(run("train", "--resume", "--out", str(out), "--data-dir",
                              str(mnist_dir)), "same --real")

    tuned = tmp_path / "tuned.onnx"
    done = run("finetune", "default", "--data", path, "--out", str(tuned), "--steps", "10",
               "--quiet", "--data-dir", str(mnist_dir))
    assert done.returncode == 0, done.stderr
    card = load_digit_model(tuned).card
    assert card.real_data["sources"] == {f"{SOURCE}@{COMMIT}": card.real_data["rows"]}
    assert card.finetuning["images"] == 2 * card.real_data["rows"]


def test_the_locator_learns_the_ink_of_dev_images_read_right(tmp_path) -> None:
    """`load_inks`: each dev image the shipped models read as labelled (without a locator)
    gives its ink map and the mask of its ink; the others are left out with the reading."""
    from digitrec.training.scenes import Scenes

    path = manifest(tmp_path, [(str(CELLS / "001.png"), "24", "numbers", "test")])
    inks = corpus.load_inks(path)
    reader = load_model().without_locator()
    right = [k for k, label in enumerate(CELL_LABELS)
             if reader.read(CELLS / f"{k + 1:03d}.png").text == label]
    assert len(inks) == len(right) >= 1 and len(inks.skipped) == 5 - len(right)
    assert all("read as" in why for _, why in inks.skipped)
    for ink, mask in zip(inks.maps, inks.masks, strict=True):
        assert ink.shape == mask.shape and set(np.unique(mask)) <= {0.0, 1.0}
        assert ink[mask > 0].mean() > 3 * max(1e-3, ink[mask == 0].mean())
    assert inks.provenance["rows"] == len(right) and inks.provenance["split"] == "dev"
    # A quarter of the locator's scenes are cut from them: ink and mask, 128 pixels square.
    supply = Scenes(np.zeros((10, 28, 28), np.uint8), np.arange(10), seed=1,
                    real=(inks.maps, inks.masks))
    real = [s for s in (supply.get(0, k) for k in range(40)) if s.kind == "real"]
    assert 4 <= len(real) <= 20
    assert all(s.image.shape == (128, 128) and s.target.any() for s in real)
