"""The benchmarks still run end to end (the accuracy one's full run takes most of an hour), and
the helpers in bench/_common.py write reports whole and pick each script's own percentile."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import _common

BENCH = Path(__file__).parents[1] / "bench" / "accuracy.py"
READ = Path(__file__).parents[1] / "bench" / "read.py"


def test_write_json_replaces_the_report_whole(tmp_path: Path) -> None:
    out = tmp_path / "results" / "x.json"
    _common.write_json(out, {"old": 1})
    _common.write_json(out, {"sum": "3×4"}, indent=1, ensure_ascii=False)
    assert out.read_text(encoding="utf-8") == '{\n "sum": "3×4"\n}\n'
    _common.write_json(out, {"sum": "3×4"})
    assert out.read_text() == '{\n  "sum": "3\\u00d74"\n}\n'
    assert [p.name for p in out.parent.iterdir()] == ["x.json"]  # no temporary left


def test_percentile_keeps_each_benchmarks_pick() -> None:
    ms = [float(k) for k in range(1000)]
    # bench/export.py and bench/serve.py: the sample at int(share * n).
    assert _common.percentile(ms, 0.99) == 990 and _common.percentile(ms, 0.5) == 500
    # bench/real.py: numpy's "lower", at int(share * (n - 1)).
    for share in (0.5, 0.95, 0.99):
        lower = np.percentile(ms, 100 * share, method="lower")
        assert _common.percentile(ms, share, lower=True) == lower


def test_accuracy_benchmark_smoke_run(mnist_dir: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--presets", "best", "--seeds", "0", "1",
         "--data-dir", str(mnist_dir), "--runs-dir", str(tmp_path / "runs"),
         "--output", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "accuracy.json").read_text())
    assert [(r["preset"], r["seed"]) for r in report["runs"]] == [("best", 0), ("best", 1)]
    for run in report["runs"]:
        # The time excludes the curve's test passes but includes start-up: positive, and
        # how long it is the benchmark's to say, not a test's.
        assert run["wall_seconds"] > 0
        seconds = [s for s, _ in run["curve"]]
        assert seconds == sorted(seconds) and seconds[-1] <= run["wall_seconds"]
        # The last point of the curve is the final network, tested through torch; the run's
        # accuracy is read through the exported ONNX model: they agree.
        assert abs(run["curve"][-1][1] - run["onnx_test_accuracy"]) < 2e-3
    assert report["ensemble"]["members"] == [0, 1]
    assert report["ensemble"]["onnx_test_accuracy"] > 0.5
    assert (tmp_path / "time_to_accuracy.png").stat().st_size > 10_000
    assert "| best, ensemble of 2 |" in result.stdout


def test_read_benchmark_smoke_run(mnist_dir: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(READ), "-n", "3", "--no-peers", "--data-dir", str(mnist_dir),
         "--output", str(tmp_path / "read.json")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "read.json").read_text())
    conditions = report["results"]
    assert {"gap", "touch", "overlap", "form", "lengths 1-10", "marks"} <= set(conditions)
    for by_reader in conditions.values():
        assert set(by_reader) == {"digitrec read", "segmentation alone", "sequence alone",
                                  "naive segmentation"}
        for r in by_reader.values():
            assert r["numbers"] == 3 and 0 <= r["exact"] <= 1 and r["cer"] >= 0
    # Three numbers with clear gaps between their digits: digitrec reads most characters.
    assert conditions["gap"]["digitrec read"]["cer"] < 0.3
    assert report["photo_5_digits_ms"] > 0
    assert "| gap | 3 |" in result.stdout


def test_calc_benchmark_smoke_run(mnist_dir: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(READ.parent / "calc.py"), "-n", "2", "--no-peers", "--data-dir",
         str(mnist_dir), "--output", str(tmp_path / "calc.json")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "calc.json").read_text())
    assert set(report["results"]) == {"3 symbols", "5 symbols", "7 symbols", "9 symbols"}
    for by_reader in report["results"].values():
        assert set(by_reader) == {"digitrec calc", "segmentation alone", "sequence alone"}
        for r in by_reader.values():
            assert r["sums"] == 2 and 0 <= r["exact"] <= r["value"] <= 1 and r["ms_median"] > 0
    alone = report["alone"]
    assert set(alone["operators"]) == set("+-×÷=()") and alone["operators_mean"] > 0.9
    assert abs(alone["digits_calculator"] - alone["digits_model"]) < 0.01
