# SPDX-License-Identifier: MIT
"""Synthetic warps: the ground-truth flow reproduces the target, and its direction is pinned."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from gocor_lite.data.examples import load_example
from gocor_lite.data.synthetic import KINDS, WarpOptions, make_pair, random_warp_batch

KINDS_AND_RANDOM = [*KINDS, "random"]


def smooth_image(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A textured but smooth uint8 (H, W, 3) image, so that bilinear sampling is meaningful."""
    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, 3))
    smooth = ndimage.gaussian_filter(noise, sigma=(2, 2, 0))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return np.round(smooth * 255).astype(np.uint8)


def warp_by_flow(source: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Independent oracle: sample ``source (H, W, C)`` at ``p + flow(p)`` with scipy (order 1)."""
    height, width = flow.shape[1:]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    coords = [ys + flow[1], xs + flow[0]]
    return np.stack(
        [
            ndimage.map_coordinates(source[..., c], coords, order=1, mode="nearest")
            for c in range(source.shape[2])
        ],
        axis=-1,
    )


@pytest.mark.parametrize("kind", KINDS_AND_RANDOM)
def test_flow_reproduces_target_uint8(kind: str) -> None:
    image = smooth_image()
    pair = make_pair(image, seed=7, kind=kind, photometric=False)
    assert pair.target.shape == pair.source.shape == image.shape
    assert pair.target.dtype == pair.source.dtype == np.uint8
    assert pair.flow is not None and pair.flow.dtype == np.float32
    assert pair.flow.shape == (2, *image.shape[:2])
    np.testing.assert_array_equal(pair.source, image)  # no photometric change asked
    visible = np.isfinite(pair.flow[0])
    assert visible.mean() > 0.5
    assert np.array_equal(visible, np.isfinite(pair.flow[1]))
    warped = warp_by_flow(pair.source.astype(np.float64), np.nan_to_num(pair.flow))
    error = np.abs(warped - pair.target.astype(np.float64))[visible]
    assert error.max() <= 1.0 + 1e-3  # the target is rounded to uint8 once
    # Not trivially true: a flow of the wrong sign or convention does not reproduce it.
    wrong = warp_by_flow(pair.source.astype(np.float64), -np.nan_to_num(pair.flow))
    assert np.abs(wrong - pair.target)[visible].mean() > 5


@pytest.mark.parametrize("kind", KINDS)
def test_flow_reproduces_target_float64(kind: str) -> None:
    images = torch.from_numpy(
        np.stack([smooth_image(seed=s) for s in range(2)]).transpose(0, 3, 1, 2) / 255.0
    )
    warped = random_warp_batch(images, torch.Generator().manual_seed(3), (kind,), photometric=False)
    assert warped.target.dtype == warped.flow.dtype == torch.float64
    assert warped.valid.dtype == torch.bool and warped.valid.shape == (2, 1, 48, 64)
    for index in range(2):
        source = warped.source[index].permute(1, 2, 0).numpy()
        flow = warped.flow[index].numpy()
        target = warped.target[index].permute(1, 2, 0).numpy()
        visible = warped.valid[index, 0].numpy()
        np.testing.assert_allclose(warp_by_flow(source, flow)[visible], target[visible], atol=1e-9)
        # Valid exactly where the match lies inside the source's pixel centres; black elsewhere.
        ys, xs = np.mgrid[0:48, 0:64]
        inside = (
            (xs + flow[0] >= 0) & (xs + flow[0] <= 63) & (ys + flow[1] >= 0) & (ys + flow[1] <= 47)
        )
        np.testing.assert_array_equal(visible, inside)
        assert np.all(target[~visible] == 0)


def test_translation_pins_the_flow_direction() -> None:
    """A pure translation: a bright dot at source pixel q shows up at target pixel q - flow."""
    options = WarpOptions(zoom=(1.0, 1.0), rotation_deg=0.0, corner_jitter=0.0, shift=0.2)
    image = np.zeros((41, 61, 3), dtype=np.uint8)
    dot_x, dot_y = 30, 20
    image[dot_y, dot_x] = 255
    pair = make_pair(image, seed=11, kind="homography", photometric=False, options=options)
    assert pair.flow is not None
    finite = pair.flow[:, np.isfinite(pair.flow[0])]
    shift_x, shift_y = finite[0].mean(), finite[1].mean()
    # A translation: the same flow everywhere.
    np.testing.assert_allclose(finite[0], shift_x, atol=1e-4)
    np.testing.assert_allclose(finite[1], shift_y, atol=1e-4)
    assert abs(shift_x) > 0.5 or abs(shift_y) > 0.5
    # Bilinear sampling of a single dot keeps its centroid: target(p) = source(p + flow).
    weights = pair.target[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0:41, 0:61]
    centroid_x = (weights * xs).sum() / weights.sum()
    centroid_y = (weights * ys).sum() / weights.sum()
    assert centroid_x == pytest.approx(dot_x - shift_x, abs=0.02)
    assert centroid_y == pytest.approx(dot_y - shift_y, abs=0.02)


def test_deterministic_given_the_seed() -> None:
    image = smooth_image()
    first = make_pair(image, seed=5, kind="random")
    second = make_pair(image, seed=5, kind="random")
    other = make_pair(image, seed=6, kind="random")
    np.testing.assert_array_equal(first.target, second.target)
    np.testing.assert_array_equal(first.source, second.source)
    np.testing.assert_array_equal(first.flow, second.flow)
    assert not np.array_equal(np.nan_to_num(first.flow), np.nan_to_num(other.flow))


def test_photometric_changes_colours_not_geometry() -> None:
    image = smooth_image()
    plain = make_pair(image, seed=2, kind="tps", photometric=False)
    changed = make_pair(image, seed=2, kind="tps", photometric=True)
    np.testing.assert_array_equal(plain.flow, changed.flow)
    assert np.abs(changed.source.astype(float) - image).mean() > 1.0
    assert np.abs(changed.target.astype(float) - plain.target).mean() > 1.0


def test_batch_follows_dtype_and_draws_kinds() -> None:
    images = torch.rand(6, 3, 24, 32, generator=torch.Generator().manual_seed(0))
    warped = random_warp_batch(images, torch.Generator().manual_seed(1))
    assert warped.target.shape == warped.source.shape == (6, 3, 24, 32)
    assert warped.flow.shape == (6, 2, 24, 32) and warped.flow.dtype == torch.float32
    assert torch.isfinite(warped.flow).all()
    assert float(warped.target.min()) >= 0.0 and float(warped.target.max()) <= 1.0
    # Kinds differ in shape: affine flows have zero second derivatives, the others do not.
    second_x = warped.flow[..., 2:] - 2 * warped.flow[..., 1:-1] + warped.flow[..., :-2]
    curved = second_x.abs().amax(dim=(1, 2, 3)) > 1e-4
    assert curved.any() and (~curved).any()


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown warp kind"):
        make_pair(smooth_image(), seed=0, kind="spiral")
    with pytest.raises(ValueError, match="unknown warp kind"):
        random_warp_batch(torch.rand(1, 3, 8, 8), torch.Generator(), ("spiral",))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        random_warp_batch(torch.rand(3, 8, 8), torch.Generator())


@pytest.mark.parametrize("name", ["astronaut-warp", "gravel-warp"])
def test_gallery_pairs_have_exact_flow(name: str) -> None:
    pair = load_example(name)
    assert pair.name == name and pair.flow is not None
    assert pair.target.shape == pair.source.shape
    assert pair.flow.shape == (2, *pair.target.shape[:2])
    assert np.isfinite(pair.flow[0]).mean() > 0.8


def test_batch_follows_the_device(device: torch.device) -> None:
    """The same generator state gives the same pairs on every device (draws stay on the CPU)."""
    images = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    here = random_warp_batch(images, torch.Generator().manual_seed(4))
    there = random_warp_batch(images.to(device), torch.Generator().manual_seed(4))
    for name, value in there._asdict().items():
        assert value.device.type == device.type
        expected = getattr(here, name)
        if value.dtype == torch.bool:
            assert torch.equal(value.cpu(), expected)
        else:
            torch.testing.assert_close(value.cpu(), expected, atol=1e-4, rtol=1e-4)
