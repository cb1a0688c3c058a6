"""Training data composed as it is needed: an epoch's batches made by worker processes ahead of
the training step, from any supply that makes batch k of an epoch the same every time (the
sequence readers' strings, the locator's scenes)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from ..cpus import available_cores
from .distributed import Group


class Supply(Protocol):
    def batch(self, epoch: int, start: int, size: int) -> Any:
        """Items [start, start + size) of ``epoch``, as one batch."""
        ...


class _Batches(Dataset):
    """An epoch's batches, each composed where the loader asks for it (in a worker process
    where there are cores to spare): item k is the same batch whichever process makes it. In
    a process group, each process composes its share of every batch: (batch, its size)."""

    def __init__(self, supply: Supply, epoch: int, count: int, batch_size: int,
                 group: Group | None = None) -> None:
        self.supply, self.epoch, self.count, self.batch_size = supply, epoch, count, batch_size
        self.group = group

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def __getitem__(self, k: int) -> tuple[Any, int]:
        start = k * self.batch_size
        size = min(self.batch_size, self.count - start)
        share = slice(0, size) if self.group is None else self.group.share(size)
        return self.supply.batch(self.epoch, start + share.start, share.stop - share.start), size


def batches(supply: Supply, epoch: int, count: int, batch_size: int,
            workers: int, group: Group | None = None) -> DataLoader:
    """The batches of ``count`` items of ``epoch`` in order, made by ``workers`` processes
    ahead of the training step (0: in this one), each with the whole batch's size: in
    ``group``, this process's share of each."""
    return DataLoader(_Batches(supply, epoch, count, batch_size, group), batch_size=None,
                      num_workers=workers, prefetch_factor=4 if workers else None,
                      collate_fn=_as_made)


def _as_made(batch: tuple[Any, int]) -> tuple[Any, int]:
    """A batch as the supply made it (a named function: spawned workers pickle it)."""
    return batch


def default_workers(device: torch.device) -> int:
    """Processes composing batches. On a GPU every spare core. On a CPU half the cores, the
    other half left to the training step: on 2 cores one worker and one torch thread made 66
    strings/s against 58 with none and two threads (bench/NOTES.md)."""
    cores = available_cores()
    return max(0, cores - 1) if device.type == "cuda" else cores // 2


@contextlib.contextmanager
def leaving_cores(device: torch.device, workers: int) -> Iterator[None]:
    """Within: on a CPU, the training step's threads leave a core to each composing worker."""
    threads = torch.get_num_threads()
    try:
        if device.type == "cpu" and workers:
            torch.set_num_threads(max(1, threads - workers))
        yield
    finally:
        torch.set_num_threads(threads)
