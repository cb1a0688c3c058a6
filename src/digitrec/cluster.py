"""Reading archives on a Dask cluster (``pip install digitrec[cluster]``): every image of a list
of paths or a Dask bag, read in partitions by the cluster's workers, each worker loading the
model once. The rows are those `digitrec predict/read/calc --json` print for the same files.

    from dask.distributed import Client
    from digitrec.cluster import read_paths
    rows = read_paths(paths, client=Client("tcp://scheduler:8786"))

The workers open the paths themselves: they must see the same files (a shared or network file
system) and have digitrec installed, with the model file at the same path if it is not the
shipped one.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .batch import Job, Row
from .errors import DigitrecError

if TYPE_CHECKING:
    import dask.bag
    from dask.distributed import Client

    from .reading import Reader

PARTITION = 256  # images a task at most: enough to hide the scheduler's cost per task
MIN_TASKS = 16  # a short list is still cut into this many tasks, to spread over the workers


def read_bag(paths: Sequence[str] | dask.bag.Bag, job: Job | None = None,
             partition_size: int = PARTITION) -> dask.bag.Bag:
    """A lazy bag of each path's row (``job``'s, else the digit's), in the paths' order."""
    try:
        import dask.bag as db
    except ImportError:
        raise DigitrecError("the Dask integration needs Dask: pip install 'digitrec[cluster]'",
                            "missing_dependency") from None
    if isinstance(paths, str):
        raise DigitrecError("give a list of paths, not one path", "bad_parameter")
    if not isinstance(paths, db.Bag):
        paths = list(paths)
        size = max(1, min(partition_size, math.ceil(len(paths) / MIN_TASKS)))
        paths = db.from_sequence(paths, partition_size=size)
    return paths.map_partitions(read_partition, job or Job())


def read_partition(paths: Iterable[str], job: Job) -> list[Row]:
    """One partition's rows, with this worker's model (loaded on its first partition)."""
    model = _model(job)
    return [job.row(model, str(path)) for path in paths]


@functools.lru_cache(maxsize=4)
def _model(job: Job) -> Reader:
    # One thread: a worker's other threads and processes run other partitions on the cores.
    return job.load(1)


def read_paths(paths: Sequence[str] | dask.bag.Bag, job: Job | None = None,
               client: Client | None = None, partition_size: int = PARTITION) -> list[Row]:
    """Each path's row, read on ``client``'s cluster (else Dask's default scheduler: the
    cluster of the Client made last, if any)."""
    bag = read_bag(paths, job, partition_size)
    return bag.compute(**({} if client is None else {"scheduler": client}))
