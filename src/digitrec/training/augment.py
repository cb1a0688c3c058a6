"""Random distortions of whole batches as tensors: one grid_sample a batch, no per-image loop."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random distortions; sampled independently for every image."""

    degrees: float = 12.0  # rotation, +/-
    scale: float = 0.12  # zoom factor in [1 - scale, 1 + scale]
    shift: float = 2.5  # translation, +/- pixels on each axis
    elastic: float = 1.0  # std of the smooth displacement field, in pixels
    elastic_grid: int = 4  # control points per side of that field: fewer is smoother
    stroke: float = 0.5  # pen width: blend up to this far toward a 3x3 dilation or erosion

    def scaled(self, strength: float) -> Augmentation:
        """Every range times ``strength``: milder distortions suit networks too small to learn
        the full range (the tiny preset)."""
        return replace(self, degrees=self.degrees * strength, scale=self.scale * strength,
                       shift=self.shift * strength, elastic=self.elastic * strength,
                       stroke=self.stroke * strength)

    def __call__(self, images: Tensor) -> Tensor:
        """Distort a batch (N, 1, H, W); uses torch's global RNG, which the trainer seeds."""
        n, _, h, w = images.shape
        dev = images.device
        if self.stroke > 0:
            images = self._pen_width(images)
        angle = (torch.rand(n, device=dev) * 2 - 1) * math.radians(self.degrees)
        # affine_grid maps output to input coordinates, so dividing by the zoom enlarges the digit.
        zoom = 1 + (torch.rand(n, device=dev) * 2 - 1) * self.scale
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        dx, dy = ((torch.rand(2, n, device=dev) * 2 - 1) * (2 * self.shift / w)).unbind()
        # The grid's translation is in input coordinates: -A @ d moves the digit by d pixels
        # of the output, whatever the rotation and zoom.
        theta = torch.stack([torch.stack([cos, -sin, -(cos * dx - sin * dy)], 1),
                             torch.stack([sin, cos, -(sin * dx + cos * dy)], 1)], 1)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        if self.elastic > 0:
            # A coarse random field upsampled bilinearly is smooth, like Simard et al.'s
            # Gaussian-filtered field, at a fraction of the cost of filtering at full size.
            coarse = torch.randn(n, 2, self.elastic_grid, self.elastic_grid, device=dev)
            field = F.interpolate(coarse * (2 * self.elastic / w), size=(h, w), mode="bilinear",
                                  align_corners=True)
            grid = grid + field.permute(0, 2, 3, 1)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False)

    def _pen_width(self, images: Tensor) -> Tensor:
        """Thicker or thinner strokes, as different pens draw them. A full 3x3 erosion would
        break MNIST's thinnest strokes, so each image moves only part of the way."""
        n = len(images)
        thick = F.max_pool2d(images, 3, stride=1, padding=1)
        thin = -F.max_pool2d(-images, 3, stride=1, padding=1)
        amount = torch.rand(n, 1, 1, 1, device=images.device) * self.stroke
        towards = torch.where(torch.rand(n, 1, 1, 1, device=images.device) < 0.5, thick, thin)
        return images + amount * (towards - images)
