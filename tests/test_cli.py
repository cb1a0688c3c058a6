"""The command line as users meet it: exit codes and messages, through `main` in this process
(`conftest.run`) and as real processes where that is what is tested."""

import dataclasses
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, assert_one_line_error, run, until

from digitrec.cli import build_parser
from digitrec.training.recipes import PRESETS


def test_every_option_is_explained_in_help() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == {"train", "finetune", "evaluate", "predict", "read", "calc", "table",
                             "form", "serve", "feedback", "export", "calibrate", "import", "info"}
    for name, sub in commands.items():
        result = run(name, "--help")
        assert result.returncode == 0
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings} has no help"
            for option in action.option_strings:
                assert option in result.stdout


def test_closed_output_pipe_is_not_a_crash(trained: dict) -> None:
    # As in `digitrec info MODEL | head -1`: the reader is gone before digitrec writes.
    proc = subprocess.Popen([sys.executable, "-m", "digitrec", "info", str(trained["path"])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_module_and_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("digitrec ")


def test_missing_data_folder(tmp_path: Path) -> None:
    result = run("evaluate", "--data-dir", str(tmp_path / "no-mnist"),
                 env={"DIGITREC_MNIST_MIRRORS": "http://127.0.0.1:9/"})
    assert_one_line_error(result, str(tmp_path / "no-mnist"), "could not download")


@pytest.mark.parametrize(("flags", "fragment"), [
    (["--lr", "-1"], "learning rate must be positive"),
    (["--arch", "digitnte"], "digitnte"),
    (["--ensemble", "0"], "--ensemble must be at least 1"),
    (["--subset", "0"], "--subset must be at least 1"),
    (["--resume"], "no checkpoint to resume from"),
])
def test_train_refuses_a_bad_option_before_it_makes_its_folder(tmp_path: Path, flags,
                                                               fragment) -> None:
    out = tmp_path / "typo"
    assert_one_line_error(run("train", *flags, "--out", str(out)), fragment)
    assert not out.exists()


def test_corrupt_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00garbage" * 100)
    assert_one_line_error(run("evaluate", "--model", str(bad)), str(bad), "not a valid ONNX")
    assert_one_line_error(run("info", str(bad)), str(bad))


def test_unknown_architecture(tmp_path: Path) -> None:
    result = run("train", "--arch", "resnet152", "--out", str(tmp_path))
    assert_one_line_error(result, "unknown architecture 'resnet152'")


def test_bad_option_value_is_a_usage_error() -> None:
    result = run("train", "--epochs", "many")
    assert result.returncode == 2 and "invalid int value" in result.stderr


def test_info_and_evaluate_on_a_trained_model(trained: dict, mnist_dir: Path,
                                              tmp_path: Path) -> None:
    info = run("info", str(trained["path"]))
    assert info.returncode == 0 and "architecture:        digitnet" in info.stdout
    as_json = json.loads(run("info", str(trained["path"]), "--json").stdout)
    assert as_json["recipe"]["arch"] == "digitnet"

    result = run("evaluate", "--model", str(trained["path"]), "--report-dir", str(tmp_path),
                 "--data-dir", str(mnist_dir))
    assert result.returncode == 0, result.stderr
    assert "precision" in result.stdout and "confusion matrix" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    # Same test set, ONNX Runtime instead of torch: the same accuracy.
    assert report["accuracy"] == pytest.approx(trained["test_accuracy"], abs=2e-4)
    assert (tmp_path / "confusion_matrix.png").exists()


def test_ctrl_c_saves_the_last_epoch_and_resume_finishes(mnist_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--epochs", "4", "--subset", "8000", "--out", str(out), "--quiet",
            "--data-dir", str(mnist_dir)]
    # A shell that starts jobs in the background has them ignore SIGINT, and Python keeps an
    # inherited SIG_IGN; a terminal's Ctrl-C reaches a process with the default action.
    proc = subprocess.Popen([sys.executable, "-m", "digitrec", *args], stderr=subprocess.PIPE,
                            text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    checkpoint = out / "checkpoint.pt"
    until(lambda: checkpoint.exists() or proc.poll() is not None, 180, "the first checkpoint")
    assert proc.poll() is None, "the run ended before Ctrl-C"
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "digitrec train --resume" in stderr
    assert not (out / "model.onnx").exists()

    again = run(*args)
    assert_one_line_error(again, "holds an earlier run", "--resume")

    resumed = run(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "model.onnx").exists()
    info = json.loads(run("info", str(out / "model.onnx"), "--json").stdout)
    assert [h["epoch"] for h in info["history"]] == [1, 2, 3, 4]

    other = run("train", "--resume", "--arch", "seed", "--out", str(out),
                "--data-dir", str(mnist_dir))
    assert_one_line_error(other, "arch='digitnet'", "arch='seed'")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_trains_and_exports(preset: str, mnist_dir: Path, tmp_path: Path) -> None:
    # A smoke run of each preset's own network and recipe; the benchmark measures them in full.
    result = run("train", "--preset", preset, "--epochs", "1", "--subset", "300", "--quiet",
                 "--out", str(tmp_path), "--data-dir", str(mnist_dir))
    assert result.returncode == 0, result.stderr
    info = json.loads(run("info", str(tmp_path / "model.onnx"), "--json").stdout)
    assert info["architecture"] == PRESETS[preset].arch
    # A sequence reader's (a locator's) quick check also trains on as many strings (scenes) as
    # --subset.
    strings = {"strings": 300} if PRESETS[preset].task in ("read", "locate") else {}
    assert info["recipe"] == {**dataclasses.asdict(PRESETS[preset]), "epochs": 1, **strings}


def test_ensemble_averages_members_trained_with_successive_seeds(mnist_dir: Path,
                                                                 tmp_path: Path) -> None:
    from digitrec.inference import load_digit_model

    result = run("train", "--preset", "fast", "--ensemble", "2", "--seed", "5", "--subset",
                 "1000", "--quiet", "--out", str(tmp_path), "--data-dir", str(mnist_dir))
    assert result.returncode == 0, result.stderr
    assert "member seed 6" in result.stdout
    ensemble = load_digit_model(tmp_path / "model.onnx")
    info = ensemble.info()
    assert info["architecture"] == "ensemble of 2 digitnet"
    assert [m["seed"] for m in info["members"]] == [5, 6]
    images = np.random.default_rng(0).random((20, 28, 28), dtype=np.float32)
    # The networks' own probabilities: each model file is calibrated on its own.
    members = [load_digit_model(tmp_path / f"member-{k}" / "model.onnx").probabilities(
        images, tempered=False) for k in (1, 2)]
    np.testing.assert_allclose(ensemble.probabilities(images, tempered=False),
                               np.mean(members, axis=0), atol=1e-5)


# -- predict ------------------------------------------------------------------------------------

EXAMPLES = sorted((Path(__file__).parents[1] / "examples" / "digits").iterdir())


def _label(path: Path) -> int:
    return int(path.stem.rsplit("-", 1)[1])


def test_predict_reads_the_examples(tmp_path: Path) -> None:
    result = run("predict", *map(str, EXAMPLES), "--json",
                 "--save-processed", str(tmp_path / "seen"), "--show", str(tmp_path / "fig.png"))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["digit"] for r in rows] == [_label(p) for p in EXAMPLES]
    for row in rows:
        assert len(row["probabilities"]) == 10 and row["top3"][0][0] == row["digit"]
    seen = sorted((tmp_path / "seen").iterdir())
    assert [p.stem for p in seen] == sorted(p.stem for p in EXAMPLES)
    from PIL import Image
    assert Image.open(seen[0]).size == (28, 28)
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_table_csv_folder_glob_and_uncertainty() -> None:
    folder = str(EXAMPLES[0].parent)
    table = run("predict", folder, "--min-confidence", "0.9999")
    assert table.returncode == 0
    assert table.stdout.count("(uncertain)") == len(EXAMPLES)  # nothing is 99.99% sure
    csv_out = run("predict", str(Path(folder) / "*.png"), "--csv")  # a glob the shell left
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0].startswith("file,digit,confidence,status,unusual,p0")
    assert len(lines) == 1 + sum(p.suffix == ".png" for p in EXAMPLES)


def test_predict_keeps_going_past_bad_files(tmp_path: Path) -> None:
    import io

    from PIL import Image

    good = EXAMPLES[0]
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not a picture")
    buf = io.BytesIO()
    Image.open(good).convert("RGB").save(buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[:1500])
    Image.new("L", (1, 1)).save(tmp_path / "dot.png")
    (tmp_path / "no-images").mkdir()
    bad = ["empty.png", "text.png", "cut.jpg", "dot.png", "no-images", "missing.png"]
    result = run("predict", str(good), *(str(tmp_path / b) for b in bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(bad) and all(e.startswith("digitrec: error: ") for e in errors)
    for name, problem in zip(bad, ["empty file", "not an image", "corrupt or truncated",
                                   "too small", "no images in this folder", "no such file"],
                             strict=True):
        assert any(name in e and problem in e for e in errors), (name, errors)
    assert str(good) in result.stdout and f"  {_label(good)}  " in result.stdout


def test_predict_with_a_model_that_is_not_onnx(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_text("{}")
    assert_one_line_error(run("predict", str(EXAMPLES[0]), "--model", str(fake)),
                          str(fake), "not a valid ONNX model")


def test_predict_command_never_imports_torch() -> None:
    code = ("import sys\nfrom digitrec.cli import main\n"
            f"assert main(['predict', {str(EXAMPLES[0])!r}]) == 0\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")


def test_export_writes_smaller_models_that_predict(trained: dict, mnist_dir: Path,
                                                   tmp_path: Path) -> None:
    for flag in ("--int8", "--fp16"):
        out = tmp_path / f"model{flag[1:]}.onnx"
        result = run("export", str(trained["path"]), flag, "--out", str(out),
                     "--data-dir", str(mnist_dir))
        assert result.returncode == 0, result.stderr
        assert f"{flag[2:]} model written to {out}" in result.stdout
        assert out.stat().st_size < trained["path"].stat().st_size
        assert run("predict", str(EXAMPLES[0]), "--model", str(out)).returncode == 0
    bad = tmp_path / "bad.onnx"
    bad.write_text("not a model")
    assert_one_line_error(run("export", str(bad), "--fp16"), str(bad), "not a valid ONNX model")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_refuses_a_bad_model_in_one_line(tmp_path: Path, workers: str) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_text("not a model")
    result = run("serve", "--model", str(bad), "--workers", workers, "--port", "9")
    assert_one_line_error(result, str(bad), "not a valid ONNX model")


def test_predict_flags_a_letter(tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    page = Image.new("L", (280, 280), 255)
    draw = ImageDraw.Draw(page)
    for line in [(60, 60, 220, 220), (220, 60, 60, 220)]:  # an X
        draw.line(line, fill=0, width=14)
    page.save(tmp_path / "x.png")
    table = run("predict", str(tmp_path / "x.png"))
    assert table.returncode == 0 and "(unlike any digit)" in table.stdout
    row = json.loads(run("predict", str(tmp_path / "x.png"), "--json").stdout)[0]
    assert row["unusual"] is True


def test_an_archive_is_read_by_worker_processes_into_json_lines(tmp_path) -> None:
    # Two workers stream each image's row, in order, to a JSON-lines file; the rows are the
    # ones `predict --json` prints, a bad file is a row with its error, and --resume after an
    # interruption reads only what is missing (a line cut short is dropped first).
    examples = sorted(str(p) for p in (REPO / "examples" / "digits").iterdir())
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    images = [*examples, str(bad)]
    alone = json.loads(run("predict", *images, "--json").stdout)
    out = tmp_path / "results.jsonl"
    first = run("predict", *images, "--jobs", "2", "--output", str(out))
    assert first.returncode == 1  # one image could not be read
    assert f"{len(images)} images read with 2 processes: 1 error, " in first.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["file"] for r in rows] == images
    for mine, theirs in zip(rows, alone, strict=True):
        assert (mine["digit"], mine["status"], mine["confidence"]) == (
            theirs["digit"], theirs["status"], theirs["confidence"])
    # Interrupted after three rows and a half: resumed, each image is there once.
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:3]) + lines[3][:20])
    again = run("predict", *images, "--jobs", "2", "--output", str(out), "--resume")
    assert f"{len(images) - 3} images read" in again.stdout
    assert f"3 already in {out}" in again.stdout
    assert [json.loads(line)["file"] for line in out.read_text().splitlines()] == images
    assert_one_line_error(run("predict", *images, "--resume"), "--output")
    notes = tmp_path / "notes.jsonl"
    notes.write_text("these are my notes\n")
    assert_one_line_error(run("predict", *images, "--output", str(notes), "--resume"),
                          "not a file of results to resume")
    assert notes.read_text() == "these are my notes\n"  # left as it was
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert_one_line_error(run("predict", *images, "--output", str(blocked / "out.jsonl")),
                          "cannot write the results")


def test_numbers_and_sums_read_by_workers_are_read_as_alone() -> None:
    numbers = sorted(str(p) for p in (REPO / "examples" / "numbers").iterdir())
    alone = json.loads(run("read", *numbers, "--json").stdout)
    workers = json.loads(run("read", *numbers, "--json", "--jobs", "2").stdout)
    assert [r["text"] for r in workers] == [r["text"] for r in alone]
    sums = sorted(str(p) for p in (REPO / "examples" / "sums").iterdir())
    table = run("calc", *sums, "--jobs", "2")
    assert table.returncode == 0 and "12×7 = 84" in table.stdout
