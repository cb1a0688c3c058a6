"""Training under torchrun: two processes (gloo, on this machine's CPU) and two "nodes" on
loopback take the steps one process takes, and only the leader writes."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import free_port, until

from digitrec.settings import Settings
from digitrec.training.distributed import Group, group_of

# The Keras tutorial's network has no batch norm, so two processes' steps equal one's to float
# rounding; augmentation on and a batch that does not divide the subset test the sharing out.
RECIPE = ["--preset", "seed", "--augment", "--subset", "1000", "--epochs", "1",
          "--batch-size", "48", "--quiet", "--overwrite"]


@pytest.fixture(autouse=True)
def _every_core() -> Iterator[None]:
    """torchrun's processes spread over the machine's cores, as outside the tests (an xdist
    worker keeps to one core of its own, conftest.py): they inherit this for the test."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def _train(launcher: list[str], out: Path, mnist_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DIGITREC_DATA": str(mnist_dir)}
    return subprocess.run([*launcher, "-m", "digitrec", "train", *RECIPE, "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env=env)


def _torchrun(*options: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *options]


@pytest.fixture(scope="module")
def alone(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("alone")
    run = _train([sys.executable], out, mnist_dir)
    assert run.returncode == 0, run.stderr
    return out


def _same_weights(a: Path, b: Path) -> None:
    mine, theirs = torch.load(a / "checkpoint.pt", weights_only=True), torch.load(
        b / "checkpoint.pt", weights_only=True)
    assert mine["model"].keys() == theirs["model"].keys()
    # Adam moves a weight by up to its rate (1e-3) a step; rounding differs with the order of
    # sums, and Adam amplifies it where gradients are near zero: measured at most 1.2e-4
    # apart after the epoch's 21 steps, the losses equal to 6 digits.
    for name in mine["model"]:
        assert torch.allclose(mine["model"][name], theirs["model"][name], atol=1e-3), name
    for ours, yours in zip(mine["history"], theirs["history"], strict=True):
        assert abs(ours["train_loss"] - yours["train_loss"]) < 1e-4
        assert ours["val_accuracy"] == pytest.approx(yours["val_accuracy"], abs=1e-3)


def test_two_processes_take_the_steps_one_process_takes(alone, mnist_dir, tmp_path) -> None:
    out = tmp_path / "two"
    run = _train(_torchrun("--standalone", "--nproc-per-node", "2"), out, mnist_dir)
    assert run.returncode == 0, run.stderr
    _same_weights(alone, out)
    # One process speaks for the group: a single result line, and the leader's model file.
    assert run.stdout.count("model saved to") == 1 and (out / "model.onnx").is_file()


def test_two_nodes_on_loopback_train_one_model(alone, mnist_dir, tmp_path) -> None:
    out = tmp_path / "nodes"
    port = free_port()
    agents = [_torchrun("--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                        "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "digitrec-test")
              for _ in range(2)]
    env = {**os.environ, "DIGITREC_DATA": str(mnist_dir)}
    procs = [subprocess.Popen([*agent, "-m", "digitrec", "train", *RECIPE, "--out", str(out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for agent in agents]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    _same_weights(alone, out)
    assert sum(o.count("model saved to") for o, _ in outputs) == 1


def test_the_group_is_torchruns_environment() -> None:
    assert group_of(Settings.from_environment({}).torchrun) is None
    assert group_of(Settings.from_environment({"WORLD_SIZE": "1", "RANK": "0"}).torchrun) is None
    torchrun = {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    group = group_of(Settings.from_environment(torchrun).torchrun)
    assert group == Group(3, 4, 1, 2) and not group.leader
    # Shares of a batch cover it once, in order, and differ by one row at most.
    for n in (1, 7, 48, 128):
        shares = [Group(r, 4, 0, 4).share(n) for r in range(4)]
        assert [s.start for s in shares[1:]] == [s.stop for s in shares[:-1]]
        assert shares[0].start == 0 and shares[-1].stop == n
        assert max(s.stop - s.start for s in shares) - min(s.stop - s.start for s in shares) <= 1


def test_the_sequence_reader_trains_in_two_processes(mnist_dir, tmp_path) -> None:
    # 96 strings in batches of 20 (the last one uneven), each process composing its share;
    # --subset: composed from the first 96 digits, validated and tested on 96 strings.
    # Its batch norm and padding are each process's own, so the steps are close to one
    # process's, not equal: the same loss to a few percent.
    recipe = ["--preset", "read", "--epochs", "1", "--subset", "96", "--batch-size", "20",
              "--quiet"]
    env = {**os.environ, "DIGITREC_DATA": str(mnist_dir)}
    runs = {}
    for name, launcher in [("one", [sys.executable]),
                           ("two", _torchrun("--standalone", "--nproc-per-node", "2"))]:
        runs[name] = tmp_path / name
        done = subprocess.run([*launcher, "-m", "digitrec", "train", *recipe, "--out",
                               str(runs[name])], capture_output=True, text=True, env=env,
                              timeout=600)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("model saved to") == 1
    one, two = (torch.load(runs[k] / "checkpoint.pt", weights_only=True)["history"][0]
                for k in ("one", "two"))
    assert abs(one["train_loss"] - two["train_loss"]) < 0.05 * one["train_loss"], (one, two)
    assert abs(one["val_loss"] - two["val_loss"]) < 0.05 * one["val_loss"], (one, two)


def test_ctrl_c_stops_every_process_and_resume_continues(mnist_dir, tmp_path) -> None:
    # Interrupted once the first epoch's checkpoint is written, resumed under torchrun: the
    # same steps as one process's uninterrupted two epochs.
    import signal

    recipe = [a if a != "1" else "2" for a in RECIPE]  # two epochs
    env = {**os.environ, "DIGITREC_DATA": str(mnist_dir)}
    out = tmp_path / "stopped"
    launcher = _torchrun("--standalone", "--nproc-per-node", "2")
    proc = subprocess.Popen([*launcher, "-m", "digitrec", "train", *recipe, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # its own group, as a terminal's job is
    until(lambda: (out / "checkpoint.pt").exists() or proc.poll() is not None, 300,
          "the first checkpoint")
    assert proc.poll() is None, "the run ended before Ctrl-C"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and err.count("interrupted: completed epochs are saved") == 1
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = subprocess.run([*launcher, "-m", "digitrec", "train", *recipe, "--out", str(out),
                              "--resume"], capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    single = tmp_path / "single"
    once = subprocess.run([sys.executable, "-m", "digitrec", "train", *recipe, "--out",
                           str(single)], capture_output=True, text=True, env=env, timeout=600)
    assert once.returncode == 0, once.stderr
    _same_weights(single, out)


def test_a_refused_option_is_said_once_and_leaves_no_folder(tmp_path) -> None:
    out = tmp_path / "run"
    done = subprocess.run([*_torchrun("--nproc-per-node", "2", "--master-port",
                                      str(free_port())), "-m", "digitrec", "train",
                           "--lr", "-1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    said = [line for line in done.stderr.splitlines() if line.startswith("digitrec: error:")]
    assert said == ["digitrec: error: epochs, batch size and learning rate must be positive"]
    assert not out.exists()
