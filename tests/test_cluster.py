"""Reading an archive on a Dask cluster: a LocalCluster of 2 worker processes gives, file by
file, the rows the command line writes, and each worker loads the model once."""

import json

import dask.bag as db
import numpy as np
import pytest
from conftest import REPO, run
from dask import distributed

import digitrec
from digitrec.batch import Job
from digitrec.errors import DigitrecError
from digitrec.synthetic import render


@pytest.fixture(scope="module")
def archive(mnist, tmp_path_factory):
    """40 photo-like digits, a broken file, and the example numbers and sums."""
    folder = tmp_path_factory.mktemp("archive")
    rng = np.random.default_rng(3)
    for k in range(40):
        rendered = render(mnist.test_images[k], rng)
        (folder / f"{k:02d}{rendered.suffix}").write_bytes(rendered.data)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    for example in sorted(p for kind in ("digits", "numbers", "sums")
                          for p in (REPO / "examples" / kind).iterdir()):
        (folder / example.name).write_bytes(example.read_bytes())
    return folder


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def cli_rows(archive, tmp_path, command: str) -> list[dict]:
    out = tmp_path / f"{command}.jsonl"
    result = run(command, str(archive), "--output", str(out), "--jobs", "2")
    assert result.returncode == 1, result.stderr  # the broken file is an error
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("task", ["predict", "read", "calc"])
def test_cluster_rows_equal_the_cli_rows(archive, client, tmp_path, task):
    from digitrec.cluster import _model, read_paths

    expected = cli_rows(archive, tmp_path, task)
    paths = [row["file"] for row in expected]
    assert len(paths) == 40 + 1 + 14
    before = client.run(lambda: _model.cache_info())
    rows = read_paths(paths, Job(task), client=client)
    assert rows == expected
    assert sum(r["status"] == "error" for r in rows) == 1
    # Both workers took part, each loading the model for this job once and reusing it.
    after = client.run(lambda: _model.cache_info())
    assert len(after) == 2
    for worker, info in after.items():
        assert info.misses - before[worker].misses == 1
        assert info.hits > before[worker].hits


def test_a_dask_bag_of_paths_is_read_in_its_order(archive, client):
    from digitrec.cluster import read_bag

    paths = sorted(str(p) for p in archive.glob("[0-9]*.*"))[:20]
    bag = db.from_sequence(paths, npartitions=4)
    rows = read_bag(bag).compute(scheduler=client)
    assert [r["file"] for r in rows] == paths
    model = digitrec.load_model(threads=1)  # predict as the workers do: through the locator
    assert [r["digit"] for r in rows] == [model.predict(p).digit for p in paths]


def test_one_path_instead_of_a_list_is_refused(client):
    from digitrec.cluster import read_paths

    with pytest.raises(DigitrecError, match="list of paths"):
        read_paths("one.png")
    with pytest.raises(DigitrecError, match="unknown task"):
        Job("translate")
