"""Scoring a network in PyTorch: logits, loss and accuracy over a set of images, in batches."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def to_tensor(images: np.ndarray) -> Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return torch.tensor(images, dtype=torch.uint8).unsqueeze(1).float().div_(255)


@torch.no_grad()
def predict_logits(model: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    model.eval()
    device = next(model.parameters()).device
    out = [model(batch.to(device).contiguous(memory_format=torch.channels_last))
           for batch in images.split(batch_size)]
    return torch.cat(out).float().cpu()


def loss_and_accuracy(model: nn.Module, images: Tensor, labels: Tensor) -> tuple[float, float]:
    logits = predict_logits(model, images)
    loss = F.cross_entropy(logits, labels).item()
    return loss, (logits.argmax(1) == labels).float().mean().item()


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    return loss_and_accuracy(model, to_tensor(images), torch.tensor(labels, dtype=torch.long))[1]
