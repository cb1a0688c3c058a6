"""The state of a training run: the network, its optimiser and schedule, the epochs so far.

Built fresh from a recipe, or restored from a checkpoint; the loop advances it one epoch at a
time and the checkpoint module saves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..cpus import available_cores
from .distributed import Group, parallel
from .networks import build_model
from .recipes import Recipe


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    images_per_second: float
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainResult:
    model: nn.Module
    recipe: Recipe
    history: list[EpochStats]


@dataclass
class TrainingState:
    recipe: Recipe
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    steps_per_epoch: int
    history: list[EpochStats] = field(default_factory=list)
    # The model as a step runs it in a process group (its gradients averaged); None alone.
    parallel: nn.Module | None = None
    group: Group | None = None

    @property
    def forward(self) -> nn.Module:
        return self.parallel or self.model

    @property
    def leader(self) -> bool:
        """Whether this process prints, writes checkpoints and exports: a process alone, or
        rank 0 of a group."""
        return self.group is None or self.group.leader

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return len(self.history)


def pick_device() -> torch.device:
    """The GPU (in a torchrun group, this process's: `distributed.join` made the one of its
    local rank current), else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())


def set_threads(threads: int | None = None) -> int:
    """Use every core unless told otherwise: torch's default can leave cores idle in containers."""
    threads = threads or available_cores()
    torch.set_num_threads(threads)
    return threads


def new_state(recipe: Recipe, images: int, device: torch.device,
              group: Group | None = None) -> TrainingState:
    """Freshly initialised weights (seeded by the recipe), optimiser and schedule, for a run
    over ``images`` training images an epoch; in ``group``, one process of a distributed run
    (the same weights in every process: the seed is the recipe's)."""
    torch.manual_seed(recipe.seed)
    model = build_model(recipe.arch, recipe.standardize, recipe.outputs).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr,
                                  weight_decay=recipe.weight_decay)
    steps = -(-images // recipe.batch_size)
    scheduler = None
    if recipe.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps)
    return TrainingState(recipe, model, optimizer, scheduler, steps,
                         parallel=None if group is None else parallel(model, device),
                         group=group)

