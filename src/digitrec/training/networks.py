"""The networks, by name. The digit networks take (N, 1, 28, 28) pixels in [0, 1] and return
(N, 10) logits; the line reader takes a line (N, 1, 32, W) and returns per-column logits; the
locator takes an ink map (N, 1, H, W) and returns a logit of handwriting per pixel."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import DigitrecError

# MNIST training-set pixel statistics, for the optional standardisation layer.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class Standardize(nn.Module):
    """Inside the network, so an exported model still takes plain [0, 1] pixels."""

    def forward(self, x: Tensor) -> Tensor:
        return (x - MNIST_MEAN) / MNIST_STD


def seed(classes: int = 10) -> nn.Module:
    """The reference network users know from the Keras tutorial: two conv/pool stages, two dense."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, classes),
    )  # fmt: skip


def digitnet(channels: tuple[int, int, int] = (32, 64, 128), pooled: bool = False,
             classes: int = 10) -> nn.Module:
    """The default: more accurate than `seed` and cheaper per image on a CPU.

    A strided 5x5 first convolution replaces full-resolution conv + pool, which is where the
    seed spends its time; pooling comes before batch norm so BN runs on 4x fewer values; a
    third convolution replaces the large dense layer. ``channels`` are the three layers'
    widths; ``pooled`` averages the last 3x3 map before the classifier, whose weights then do
    not grow with the map's size (for the tiny network).
    """
    a, b, c = channels
    # Layers are made in order, so the seeded initial weights match across versions.
    body = [
        nn.Conv2d(1, a, 5, stride=2, bias=False), nn.BatchNorm2d(a), nn.ReLU(),  # 28 -> 12
        nn.Conv2d(a, b, 3, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(b), nn.ReLU(),  # -> 5
        nn.Conv2d(b, c, 3, bias=False), nn.BatchNorm2d(c), nn.ReLU(),  # -> 3
    ]  # fmt: skip
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)] if pooled else [
        nn.Flatten(), nn.Linear(c * 3 * 3, classes)]
    return nn.Sequential(*body, *head)


class LineReader(nn.Module):
    """A line of writing -> (N, W / 4, 1 + characters) logits, one row per 4 columns, for CTC.

    Convolutions see a digit's shape and pool the line's 32 rows down to one; a bidirectional
    GRU then lets every column see its neighbours, so a digit cut by a touching neighbour is
    still read whole (Shi et al.'s CRNN, scaled to 13 characters and a laptop CPU).
    """

    def __init__(self, classes: int = 14, channels: tuple[int, ...] = (24, 48, 64, 64),
                 hidden: int = 64) -> None:
        super().__init__()
        a, b, c, d = channels
        # A strided first convolution instead of convolving the full line, as in digitnet:
        # that is where a CPU would spend its time.
        self.features = nn.Sequential(
            nn.Conv2d(1, a, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(a), nn.ReLU(),
            nn.Conv2d(a, b, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(b),
            nn.ReLU(),  # 8 x W/4
            nn.Conv2d(b, c, 3, padding=1, bias=False), nn.MaxPool2d((2, 1)), nn.BatchNorm2d(c),
            nn.ReLU(),  # 4 x W/4
            nn.Conv2d(c, d, (4, 1), bias=False), nn.BatchNorm2d(d), nn.ReLU(),  # 1 x W/4
        )  # fmt: skip
        self.context = nn.GRU(d, hidden, batch_first=True, bidirectional=True)
        self.classify = nn.Linear(2 * hidden, classes)

    def forward(self, x: Tensor) -> Tensor:
        columns = self.features(x).squeeze(2).transpose(1, 2)  # (N, W/4, d)
        return self.classify(self.context(columns)[0])


def _conv(a: int, b: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(a, b, 3, stride, padding=dilation, dilation=dilation,
                                   bias=False), nn.BatchNorm2d(b), nn.ReLU())


class Locator(nn.Module):
    """An ink map -> (N, 1, H, W) logits of handwriting, for H and W multiples of 8.

    A small U-Net: three strided convolutions take the map to an eighth of its size, where
    dilated convolutions see about 100 pixels around each (a ruled line or a cell's border is
    told from a pen's stroke by its length and straightness, print by its regular strokes), and
    two upsampling steps with skip connections bring the decision back to half the size, where
    strokes two pixels wide are still one pixel; the logits are enlarged to the full size.
    Most of a CPU's time goes to the decoder, so it stays narrow.
    """

    def __init__(self, classes: int = 1, channels: tuple[int, int, int] = (8, 16, 32)) -> None:
        super().__init__()
        a, b, c = channels
        self.down1, self.down2, self.down3 = _conv(1, a, 2), _conv(a, b, 2), _conv(b, c, 2)
        self.context = nn.Sequential(_conv(c, c, dilation=2), _conv(c, c, dilation=4))
        self.up2, self.up1 = _conv(c + b, b), _conv(b + a, a)
        self.out = nn.Conv2d(a, classes, 1)

    def forward(self, x: Tensor) -> Tensor:
        half = self.down1(x)
        quarter = self.down2(half)
        deep = self.context(self.down3(quarter))
        up = F.interpolate(deep, scale_factor=2.0, mode="nearest")
        up = self.up2(torch.cat([up, quarter], 1))
        up = F.interpolate(up, scale_factor=2.0, mode="nearest")
        up = self.up1(torch.cat([up, half], 1))
        return F.interpolate(self.out(up), scale_factor=2.0, mode="bilinear",
                             align_corners=False)


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "seed": seed,
    "digitnet": digitnet,
    # Twice the channels: four times the compute, for the last tenths of a point.
    "digitnet-wide": partial(digitnet, (64, 128, 256)),
    # For microcontrollers: 10,124 weights, about 10 kB in int8.
    "tiny": partial(digitnet, (12, 24, 32), pooled=True),
    "linereader": LineReader,
    "locator": Locator,
}


def check_arch(arch: str) -> None:
    if arch not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise DigitrecError(f"unknown architecture {arch!r} (known: {known})")


def build_model(arch: str, standardize: bool = False, classes: int | None = None) -> nn.Module:
    """A freshly initialised network with ``classes`` outputs (the architecture's own count
    unless given); the caller seeds torch first for reproducible weights."""
    check_arch(arch)
    net = ARCHITECTURES[arch](**({} if classes is None else {"classes": classes}))
    return nn.Sequential(Standardize(), net) if standardize else net


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Ensemble(nn.Module):
    """Several trained networks voting: returns the log of their mean probabilities, so a
    softmax on top gives exactly that mean."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor) -> Tensor:
        probs = torch.stack([m(x).softmax(dim=1) for m in self.members]).mean(0)
        return probs.clamp_min(1e-12).log()
