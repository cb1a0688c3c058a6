"""The digit-likeness score: how far an image lies from the few directions MNIST's digits vary
along. A classifier answers for anything; an image far from this subspace (a letter, a scribble)
is unlike every digit it learned."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..vision import preprocess


@dataclass(frozen=True)
class DigitSubspace:
    mean: Tensor  # (784,)
    components: Tensor  # (k, 784), orthonormal
    # Distances above it are unusual: the 99.5th percentile of MNIST validation digits, until
    # `digitrec calibrate` (run after training) sets it on realistic digits.
    threshold: float

    @classmethod
    def fit(cls, train_images: np.ndarray, val_images: np.ndarray, components: int = 40,
            sample: int = 20000, calibration: int = 2000) -> DigitSubspace:
        """Principal components of (a fixed sample of) the training images. The threshold
        comes from validation images, which the components never saw, sent through
        `preprocess` as every input is: that is the distribution the score meets."""
        x = torch.tensor(train_images[:sample], dtype=torch.float64).flatten(1) / 255
        mean = x.mean(0)
        _, vectors = torch.linalg.eigh((x - mean).T @ (x - mean))  # ascending eigenvalues
        top = vectors[:, -components:].T.contiguous()
        sub = cls(mean.float(), top.float(), 0.0)
        seen = [p.image for p in map(preprocess, val_images[:calibration]) if p.image is not None]
        distances = sub.distance(torch.tensor(np.stack(seen))[:, None]).double()
        return cls(sub.mean, sub.components, float(torch.quantile(distances, 0.995)))

    def distance(self, images: Tensor) -> Tensor:
        """Euclidean distance (N,) of images (N, 1, 28, 28) in [0, 1] from the subspace."""
        return distance(images, self.mean, self.components)


def distance(images: Tensor, mean: Tensor, components: Tensor) -> Tensor:
    """Distance of images from the subspace through ``mean`` spanned by ``components``; written
    in plain tensor operations so it exports to ONNX inside the model."""
    centred = images.flatten(1) - mean
    return (centred - centred @ components.T @ components).norm(dim=1)
