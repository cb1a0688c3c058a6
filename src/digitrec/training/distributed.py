"""Training on several processes at once, as `torchrun` starts them: on one machine's cores or
GPUs, or across machines.

The group is what torchrun's environment says (RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE); gloo joins processes on CPUs, NCCL on CUDA with one GPU a process. Every
process holds the whole training set, draws the same seeded order and the same distortions for
each global batch, and trains on its own share of that batch; DistributedDataParallel sums the
gradients, each share's weighted by its size, so N processes take the steps one process would
with the same global batch: exactly so for networks without batch norm; with it, each process
normalises its own share, as DDP does by default (synchronised batch norm runs on GPUs only,
and a process group should train the same network on either). The sequence reader's strings
are shared out the same way (`lines.batches`). Only the leader (rank 0) prints, writes
checkpoints, tests and exports.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..settings import Torchrun


@dataclass(frozen=True)
class Group:
    rank: int
    size: int
    local_rank: int
    local_size: int  # processes on this machine

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This process's rows of a global batch of ``n``: shares differ by one at most."""
        return slice(n * self.rank // self.size, n * (self.rank + 1) // self.size)


def share_weight(group: Group | None, mine: int, whole: int) -> float:
    """What this process's mean loss over ``mine`` of a batch of ``whole`` is multiplied by:
    DDP averages the processes' gradients, and weighting each share by its size makes that
    average the gradient of the whole batch's mean loss, uneven last batch included."""
    return 1.0 if group is None else mine * group.size / whole


def group_of(torchrun: Torchrun | None) -> Group | None:
    """The group torchrun started this process in (`Settings.torchrun`); None for a process
    on its own."""
    if torchrun is None:
        return None
    return Group(torchrun.rank, torchrun.size, torchrun.local_rank, torchrun.local_size)


def join(group: Group) -> None:
    """Join the process group: NCCL, with this process's GPU its current device, on CUDA;
    gloo on a CPU."""
    if torch.cuda.is_available():
        torch.cuda.set_device(group.local_rank)
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` as every process's step sees it: its gradients averaged across the group."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                   else None)


def summed(values: list[float], device: torch.device) -> list[float]:
    """Each value summed over the group (an epoch's loss and correct answers)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()
