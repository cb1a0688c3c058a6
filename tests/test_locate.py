"""The handwriting locator: its training scenes, its network and file, and reading through it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import assert_one_line_error, run
from PIL import Image

import digitrec
from digitrec.contract import LOCATOR_PREPROCESSING
from digitrec.data import MNIST
from digitrec.errors import DigitrecError
from digitrec.inference.locator import DEFAULT_LOCATOR, load_locator
from digitrec.training.locate import f1, f1_counts
from digitrec.training.scenes import KINDS, Scenes, scene
from digitrec.vision.ink import ink_mask
from digitrec.vision.pipeline import LIKELY, NO_WRITING, WRITTEN, only_writing


@pytest.fixture(scope="module")
def pools(mnist: MNIST) -> list[np.ndarray]:
    """MNIST's test digits by class: what held-out scenes are written with."""
    return [mnist.test_images[mnist.test_labels == d] for d in range(10)]


def test_scenes_are_the_same_each_time_and_their_targets_are_the_writing(mnist: MNIST) -> None:
    supply = Scenes(mnist.train_images[:3000], mnist.train_labels[:3000], seed=5)
    first, again = supply.get(2, 7), supply.get(2, 7)
    assert np.array_equal(first.image, again.image) and np.array_equal(first.target,
                                                                       again.target)
    images, targets = supply.batch(0, 0, 12)
    assert images.shape == targets.shape == (12, 1, 128, 128)
    assert images.min() >= 0 and images.max() <= 1
    assert set(np.unique(targets)) <= {0.0, 1.0}
    for k in range(12):
        if targets[k].any():  # handwriting is ink: bright in the map the network sees
            assert images[k][targets[k] > 0].mean() > 2 * images[k][targets[k] == 0].mean()


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_scene_holds_writing_except_print(pools: list[np.ndarray],
                                                       kind: str) -> None:
    rng = np.random.default_rng(11)
    scenes = [scene(pools, rng, kind) for _ in range(20)]
    written = sum(s.target.any() for s in scenes)
    if kind == "print":
        assert written == 0
    else:
        assert written >= 15, f"{kind}: {written} of 20 scenes hold writing"
        # ...and ink besides the writing, except writing alone: what must be told apart
        other = np.mean([(s.image[s.target == 0] > 0.3).mean() for s in scenes])
        assert kind == "plain" or other > 0.005, f"{kind}: no context ({other:.4f})"


def test_only_writing_keeps_the_groups_of_ink_the_locator_takes_for_handwriting() -> None:
    mask = np.zeros((40, 60), bool)
    mask[10:30, 10:14] = True  # a stroke the locator is unsure of, as of real thin writing
    mask[20, 14:40] = True  # ...a rule running through it, which it is sure of
    mask[35, :] = True  # a rule alone
    mask[2:5, 50:53] = True  # a speck of print
    mask[0:3, 20:40] = True  # a border, with writing fused to it
    mask[3:12, 30:33] = True
    writing = np.zeros(mask.shape, np.float32)
    writing[10:30, 10:14] = (LIKELY + WRITTEN) / 2
    writing[20, 14:40] = NO_WRITING / 2
    writing[35] = LIKELY / 2
    writing[2:5, 50:53] = LIKELY / 2
    writing[3:12, 30:33] = WRITTEN + 0.1
    kept = only_writing(mask, writing)
    assert kept[10:30, 10:14].all()  # the stroke stays whole: most of its group is likely
    assert not kept[20, 14:40].any()  # the rule through it goes: the locator is sure of it
    assert not kept[35].any() and not kept[2:5, 50:53].any()  # no writing in them
    assert kept[3:12, 30:33].all() and not kept[0:3, 20:40].any()  # only the sure part
    assert not only_writing(mask, np.zeros_like(writing)).any()
    assert not only_writing(np.zeros_like(mask), writing).any()


def test_the_locator_pads_any_size_and_refuses_other_models(tmp_path) -> None:
    locator = load_locator()
    assert locator is not None and locator.card.preprocessing == LOCATOR_PREPROCESSING
    for shape in ((37, 53), (8, 8), (3, 200)):
        out = locator(np.zeros(shape, np.float32))
        assert out.shape == shape and out.min() >= 0 and out.max() <= 1
    with pytest.raises(DigitrecError, match="not a digitrec handwriting locator"):
        load_locator(digitrec.inference.DEFAULT_MODEL)


def test_the_shipped_locator_finds_writing_that_rules_do_not(pools: list[np.ndarray]) -> None:
    """Held-out scenes (test digits, a seed training never used) of cells, forms and cheques:
    the locator's ink matches the handwriting far better than thresholds and rules."""
    locator = load_locator()
    assert DEFAULT_LOCATOR.stat().st_size < 1_000_000
    for kind, least in (("cell", 0.8), ("form", 0.8), ("cheque", 0.65), ("plain", 0.85)):
        rng = np.random.default_rng([99, KINDS.index(kind)])
        located, rules = np.zeros(3), np.zeros(3)
        for _ in range(40):
            s = scene(pools, rng, kind)
            truth = s.target > 0
            located += f1_counts(only_writing(ink_mask(s.image), locator(s.image)), truth)
            rules += f1_counts(ink_mask(s.image), truth)
        ours, theirs = f1(*located.astype(int)), f1(*rules.astype(int))
        assert ours >= least, f"{kind}: F1 {ours:.3f}"
        assert kind == "plain" or ours > theirs + 0.1, f"{kind}: {ours:.3f} vs {theirs:.3f}"


def _cell(pools: list[np.ndarray], rng: np.random.Generator, text: str) -> bytes:
    """``text`` handwritten in a cell of a ruled table, its borders heavy, print beside it,
    scanned: as a PNG file."""
    from io import BytesIO

    from digitrec.synthetic import number_layer

    digits = [pools[int(c)][int(rng.integers(len(pools[int(c)])))] for c in text]
    strip = number_layer(text, digits, 40, rng)
    page = np.full((120, 260), 235, np.float32)
    h, w = min(strip.shape[0], 90), min(strip.shape[1], 200)
    page[20 : 20 + h, 40 : 40 + w] -= 215 * strip[:h, :w]
    for rule in (8, 110):
        page[rule : rule + 4, :] = 20
    for rule in (25, 250):
        page[:, rule : rule + 4] = 20
    page[:, :10] = 5  # the scanner's black margin
    buf = BytesIO()
    Image.fromarray(np.uint8(np.clip(page, 0, 255))).save(buf, "PNG")
    return buf.getvalue()


def test_reading_a_ruled_cell_through_the_locator(pools: list[np.ndarray]) -> None:
    reader = digitrec.load_model()
    assert reader.locator is not None and "locator" in reader.files
    rng = np.random.default_rng(3)
    texts = ["".join(str(d) for d in rng.integers(0, 10, int(rng.integers(2, 5))))
             for _ in range(30)]
    cells = [_cell(pools, rng, t) for t in texts]
    located = sum(reader.read(c).text == t for c, t in zip(cells, texts, strict=True))
    rules = sum(reader.without_locator().read(c).text == t
                for c, t in zip(cells, texts, strict=True))
    assert located >= 24 and located > rules, (located, rules)


def test_a_digit_in_a_cell_on_a_form_or_a_cheque_is_predicted_through_the_locator(
        pools: list[np.ndarray], tmp_path) -> None:
    # One digit written where people write them (scenes.around: a table's cell with its rules,
    # a form's line and label, guilloche, lined paper), photographed: the rules alone take
    # a border or the print for the digit.
    from digitrec.synthetic import number_layer
    from digitrec.training.scenes import around

    reader = digitrec.load_model()
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 10, 60)
    images = [np.uint8(255 * around(number_layer(str(d), [pools[d][k]], 44, rng), rng))
              for k, d in enumerate(labels)]
    located = sum(p.digit == d for p, d in zip(reader.predict_batch(images), labels, strict=True))
    rules = sum(p.digit == d for p, d in zip(reader.without_locator().predict_batch(images),
                                             labels, strict=True))
    assert located >= 54 and rules <= located - 10, (located, rules)  # measured 57 and 40
    # The command line does the same by default, and without it on --no-locator.
    files = []
    for k in range(6):
        files.append(tmp_path / f"{k}-{labels[k]}.png")
        Image.fromarray(images[k]).save(files[-1])
    for flags in ([], ["--no-locator"]):
        result = run("predict", *map(str, files), "--json", *flags)
        assert result.returncode == 0, result.stderr
        expected = reader.predict_batch(images[:6]) if not flags else \
            reader.without_locator().predict_batch(images[:6])
        assert [r["digit"] for r in json.loads(result.stdout)] == [p.digit for p in expected]
    assert_one_line_error(run("predict", str(files[0]), "--no-locator", "--locator",
                              str(DEFAULT_LOCATOR)), "--no-locator")
    # `finetune` learns a user's images as predict sees them.
    from digitrec.contract import DIGITS
    from digitrec.labelled import load_labelled

    k = next(k for k, d in enumerate(labels)  # a digit the rules read wrong
             if reader.without_locator().predict(images[k]).digit != d)
    folder = tmp_path / "mine" / str(labels[k])
    folder.mkdir(parents=True)
    Image.fromarray(images[k]).save(folder / "cell.png")
    learned = load_labelled(folder.parent, DIGITS, reader.locator).images[0]
    assert np.array_equal(learned, reader.predict(images[k]).processed)
    assert not np.array_equal(learned, reader.without_locator().predict(images[k]).processed)


def test_read_show_tints_what_was_taken_for_writing(tmp_path, pools: list[np.ndarray]) -> None:
    cell = tmp_path / "cell.png"
    cell.write_bytes(_cell(pools, np.random.default_rng(4), "47"))
    shown = tmp_path / "shown.png"
    result = run("read", str(cell), "--show", str(shown))
    assert result.returncode == 0, result.stderr
    pixels = np.asarray(Image.open(shown).convert("RGB"), np.int32)
    blue = (pixels[..., 2] > pixels[..., 0] + 60) & (pixels[..., 2] > pixels[..., 1] + 40)
    assert blue.sum() > 100
    plain = tmp_path / "plain.png"
    assert run("read", str(cell), "--no-locator", "--show", str(plain)).returncode == 0
    assert_one_line_error(run("read", str(cell), "--no-locator", "--locator",
                              str(DEFAULT_LOCATOR)), "--no-locator")


@pytest.mark.slow
def test_train_a_locator_briefly(tmp_path, mnist_dir) -> None:
    """`train --preset locate` on a few hundred scenes a quick run: it learns (pixel F1 well
    above chance), exports a file the reader loads, and `read` uses it."""
    out = tmp_path / "locate"
    result = run("train", "--preset", "locate", "--subset", "800", "--epochs", "2", "--out",
                 str(out), "--data-dir", str(mnist_dir), "--quiet")
    assert result.returncode == 0, result.stderr
    locator = load_locator(out / "model.onnx")
    card = locator.card
    assert card.architecture == "locator" and card.recipe["strings"] == 800
    assert card.validation_accuracy >= 0.6 and card.test_accuracy >= 0.6, card
    reader = digitrec.load_model(locator=out / "model.onnx")
    assert reader.files["locator"] == out / "model.onnx"


def test_an_ensemble_of_locators_is_refused_in_one_line(tmp_path) -> None:
    from digitrec.training.recipes import PRESETS
    from digitrec.training.run import plan_members

    for preset in ("locate", "read"):
        with pytest.raises(DigitrecError, match="trains alone") as caught:
            plan_members(PRESETS[preset], tmp_path, ensemble=2)
        assert "\n" not in str(caught.value)


def test_the_locate_preset_is_a_recipe_of_its_own() -> None:
    from digitrec.training.recipes import PRESETS, Recipe

    recipe = PRESETS["locate"]
    assert recipe.task == "locate" and recipe.outputs == 1 and recipe.classes == ""
    with pytest.raises(DigitrecError, match="no symbols"):
        dataclasses.replace(recipe, symbols="+")
    assert Recipe().task == "digits"
