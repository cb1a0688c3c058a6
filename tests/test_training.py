import dataclasses
from pathlib import Path

import pytest
import torch

from digitrec.errors import DigitrecError
from digitrec.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    load_result,
    read_checkpoint,
    resume_recipe,
)
from digitrec.training.loop import fit
from digitrec.training.recipes import PRESETS, Recipe
from digitrec.training.state import EpochStats
from digitrec.training.validation import accuracy, predict_logits, to_tensor


def test_training_on_real_mnist_reaches_97_percent(trained: dict) -> None:
    # How long it takes is bench/accuracy.py's to measure, on a machine it names.
    assert trained["test_accuracy"] >= 0.97
    history = trained["result"].history
    assert history[-1].val_loss < history[0].val_loss  # it learned across epochs


class _Interrupt:
    """Stands in for Ctrl-C right after a given epoch has been checkpointed."""

    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, stats: EpochStats, model: torch.nn.Module) -> None:
        if stats.epoch == self.after:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(mnist, tmp_path: Path) -> None:
    (x, y), (vx, vy) = mnist.split()
    subset, val = (x[:3000], y[:3000]), (vx[:500], vy[:500])
    recipe = dataclasses.replace(PRESETS["default"], epochs=3, seed=7)
    straight = fit(recipe, subset, val, out_dir=tmp_path / "a", progress=False)

    with pytest.raises(KeyboardInterrupt):
        fit(recipe, subset, val, out_dir=tmp_path / "b", progress=False,
                  on_epoch=_Interrupt(after=1))
    ckpt = read_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)
    assert ckpt["epoch"] == 1
    resumed = fit(recipe, subset, val, out_dir=tmp_path / "b", resume=ckpt, progress=False)

    assert [h.epoch for h in resumed.history] == [1, 2, 3]
    for (name, a), b in zip(straight.model.state_dict().items(),
                            resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert straight.history[-1].val_accuracy == resumed.history[-1].val_accuracy


def _checkpoint(mnist, folder: Path) -> Path:
    (x, y), (vx, vy) = mnist.split()
    recipe = Recipe(arch="seed", epochs=1, batch_size=256)
    fit(recipe, (x[:512], y[:512]), (vx[:256], vy[:256]), out_dir=folder, progress=False)
    return folder / CHECKPOINT_NAME


def test_checkpoint_of_another_architecture_is_refused(mnist, tmp_path: Path) -> None:
    path = _checkpoint(mnist, tmp_path)
    ckpt = read_checkpoint(path)
    assert resume_recipe(ckpt, path, {"arch": "seed"}).arch == "seed"
    with pytest.raises(DigitrecError, match="trained with arch='seed', cannot resume it with "
                                            "arch='digitnet'"):
        resume_recipe(ckpt, path, {"arch": "digitnet"})


def test_checkpoint_from_a_newer_format_is_refused(mnist, tmp_path: Path) -> None:
    path = _checkpoint(mnist, tmp_path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["format"] = CHECKPOINT_FORMAT + 1
    torch.save(ckpt, path)
    with pytest.raises(DigitrecError, match="newer than this digitrec"):
        read_checkpoint(path)


@pytest.mark.parametrize("payload", [b"not a checkpoint", "pickled code"])
def test_corrupt_or_unsafe_checkpoint_is_refused_in_one_line(tmp_path: Path, payload) -> None:
    path = tmp_path / "checkpoint.pt"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    else:  # a pickle that would run code: weights_only loading must refuse it
        torch.save({"format": 1, "hook": Path("x")}, path)
    with pytest.raises(DigitrecError, match="not a readable digitrec checkpoint") as info:
        read_checkpoint(path)
    assert "\n" not in str(info.value)


def test_recipe_rejects_nonsense() -> None:
    with pytest.raises(DigitrecError, match="unknown schedule"):
        Recipe(schedule="cosine-ish")
    with pytest.raises(DigitrecError, match="positive"):
        Recipe(epochs=0)


@pytest.mark.slow
def test_watching_each_step_does_not_change_training(mnist, tmp_path: Path) -> None:
    # The benchmark tests the network between steps to draw its curves: that must leave the
    # run exactly as it would have been.
    (x, y), (vx, vy) = mnist.split()
    subset, val = (x[:1024], y[:1024]), (vx[:256], vy[:256])
    recipe = dataclasses.replace(PRESETS["default"], epochs=2, batch_size=256)
    seen = []

    def watch(step: int, model: torch.nn.Module) -> None:
        seen.append(step)
        accuracy(model, vx[:100], vy[:100])  # switches the model to eval mode

    plain = fit(recipe, subset, val, progress=False)
    watched = fit(recipe, subset, val, out_dir=tmp_path, progress=False, on_step=watch)
    assert seen == list(range(1, 9))
    for a, b in zip(plain.model.state_dict().values(), watched.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)

    loaded = load_result(read_checkpoint(tmp_path / CHECKPOINT_NAME))
    assert loaded.recipe == recipe and len(loaded.history) == 2
    images = to_tensor(vx[:64])
    # Same weights; the trained copy is in channels-last layout, so sums run in another order.
    torch.testing.assert_close(predict_logits(loaded.model, images),
                               predict_logits(watched.model, images))
