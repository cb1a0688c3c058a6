import pytest
import torch

from digitrec.errors import DigitrecError
from digitrec.training.augment import Augmentation
from digitrec.training.networks import ARCHITECTURES, Ensemble, Standardize, build_model
from digitrec.training.recipes import LINE_ARCHITECTURES, LOCATOR_ARCHITECTURES


@pytest.mark.parametrize("arch", sorted(set(ARCHITECTURES) - set(LINE_ARCHITECTURES)
                                        - set(LOCATOR_ARCHITECTURES)))
@pytest.mark.parametrize("batch", [1, 5])
def test_output_shape(arch: str, batch: int) -> None:
    model = build_model(arch).eval()
    assert model(torch.rand(batch, 1, 28, 28)).shape == (batch, 10)


@pytest.mark.parametrize("shape", [(16, 16), (64, 96), (136, 48)])
def test_the_locator_gives_a_logit_of_writing_per_pixel(shape: tuple[int, int]) -> None:
    model = build_model("locator", classes=1).eval()
    assert model(torch.rand(2, 1, *shape)).shape == (2, 1, *shape)
    assert sum(p.numel() for p in model.parameters()) < 50_000


@pytest.mark.parametrize("width", [8, 100, 403])
def test_the_line_reader_gives_a_row_per_four_columns(width: int) -> None:
    model = build_model("linereader").eval()
    # A stride-2 convolution (padded) then a 2x pooling: ceil(width / 2) // 2 columns.
    assert model(torch.rand(3, 1, 32, width)).shape == (3, -(-width // 2) // 2, 14)


def test_seed_is_the_reference_network() -> None:
    # Conv(32,3x3), pool, Conv(64,3x3), pool, Dense(128), Dense(10): the Keras tutorial's CNN.
    assert sum(p.numel() for p in build_model("seed").parameters()) == 225_034


def test_standardize_is_inside_the_model() -> None:
    model = build_model("digitnet", standardize=True)
    assert isinstance(model[0], Standardize)
    assert model.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_unknown_architecture() -> None:
    with pytest.raises(DigitrecError, match=r"unknown architecture 'resnet9'.*digitnet"):
        build_model("resnet9")


def _bar_images(n: int) -> torch.Tensor:
    images = torch.zeros(n, 1, 28, 28)
    images[:, :, 8:20, 12:16] = 1.0  # a "1" whose centre of mass is the image centre
    return images


def _centroids(images: torch.Tensor) -> torch.Tensor:
    grid = torch.arange(28.0)
    mass = images[:, 0]
    total = mass.sum((1, 2))
    rows, cols = (mass.sum(2) * grid).sum(1), (mass.sum(1) * grid).sum(1)
    return torch.stack([rows / total, cols / total], 1)


def test_affine_part_zooms_within_its_range_and_shifts_at_most_its_shift() -> None:
    torch.manual_seed(0)
    aug = Augmentation(elastic=0, stroke=0)
    images = _bar_images(500)
    out = aug(images)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1 + 1e-6
    area = out.flatten(1).sum(1) / images.flatten(1).sum(1)
    # Ink area scales with the square of the zoom; 5% slack for bilinear resampling at edges.
    assert area.min() > (1 - aug.scale) ** 2 * 0.95 and area.max() < (1 + aug.scale) ** 2 * 1.05
    moved = (_centroids(out) - _centroids(images)).abs()
    assert moved.max() <= aug.shift + 0.5
    assert moved.max() > aug.shift / 2  # shifts are really applied


def test_elastic_part_distorts_every_image_but_keeps_the_digit_in_place() -> None:
    torch.manual_seed(0)
    images = _bar_images(500)
    affine_only = Augmentation(elastic=0, stroke=0)
    torch.manual_seed(1)
    plain = affine_only(images)
    torch.manual_seed(1)
    distorted = Augmentation(elastic=affine_only.shift, stroke=0)(images)
    assert ((distorted - plain).abs().flatten(1).sum(1) > 1).all()
    moved = (_centroids(distorted) - _centroids(images)).abs()
    assert moved.max() <= affine_only.shift + 4  # an elastic field is local, not a translation


def test_pen_width_thickens_and_thins_strokes() -> None:
    torch.manual_seed(0)
    images = _bar_images(400)
    out = Augmentation(degrees=0, scale=0, shift=0, elastic=0, stroke=0.5)(images)
    ink = out.flatten(1).sum(1) / images.flatten(1).sum(1)
    assert (ink > 1.05).any() and (ink < 0.95).any()  # both directions happen
    assert ink.min() > 0.4  # a thin pen still leaves the stroke


def test_augmentation_follows_the_seed() -> None:
    images = torch.rand(8, 1, 28, 28)
    torch.manual_seed(3)
    a = Augmentation()(images)
    torch.manual_seed(3)
    b = Augmentation()(images)
    torch.manual_seed(4)
    c = Augmentation()(images)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_ensemble_averages_its_members_probabilities() -> None:
    torch.manual_seed(0)
    members = [build_model("digitnet").eval() for _ in range(3)]
    x = torch.rand(4, 1, 28, 28)
    expected = torch.stack([m(x).softmax(1) for m in members]).mean(0)
    with torch.no_grad():
        got = Ensemble(members).eval()(x).softmax(1)
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, members[0](x).softmax(1))  # it is not just one member


def test_wide_digitnet_has_twice_the_channels() -> None:
    narrow, wide = build_model("digitnet"), build_model("digitnet-wide")
    channels = [m.out_channels for m in narrow if isinstance(m, torch.nn.Conv2d)]
    assert channels == [32, 64, 128]
    assert [m.out_channels for m in wide if isinstance(m, torch.nn.Conv2d)] == [64, 128, 256]


def test_augmentation_strength_scales_every_range() -> None:
    half = Augmentation().scaled(0.5)
    assert (half.degrees, half.shift, half.stroke) == (6.0, 1.25, 0.25)
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(Augmentation().scaled(0.0)(x), x)  # no range, no change
