# SPDX-License-Identifier: MIT
"""Warping by a flow, rescaling a flow, its colours and its error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gocor_lite.core.warp import resize_flow, warp
from gocor_lite.data.examples import load_example
from gocor_lite.evaluation.metrics import accuracy, endpoint_error
from gocor_lite.files.images import to_tensor
from gocor_lite.pictures.flow_colours import colour_wheel, flow_to_colour


def test_zero_flow_is_identity(device, dtype, generator):
    source = torch.rand(2, 3, 5, 7, generator=generator).to(device, dtype)
    flow = torch.zeros(2, 2, 5, 7, device=device, dtype=dtype)
    torch.testing.assert_close(warp(source, flow), source)


@pytest.mark.parametrize(("dx", "dy"), [(1, 0), (0, 2), (-2, 1), (3, -1)])
def test_integer_flow_reads_shifted_pixels(dx, dy, generator):
    source = torch.rand(1, 2, 6, 8, generator=generator, dtype=torch.float64)
    flow = torch.zeros(1, 2, 6, 8, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = dx, dy
    out = warp(source, flow)
    for y in range(6):
        for x in range(8):
            inside = 0 <= y + dy < 6 and 0 <= x + dx < 8
            expected = source[0, :, y + dy, x + dx] if inside else torch.zeros(2)
            torch.testing.assert_close(out[0, :, y, x], expected.to(out.dtype))


def test_half_pixel_flow_interpolates(generator):
    source = torch.rand(1, 1, 4, 5, generator=generator, dtype=torch.float64)
    flow = torch.zeros(1, 2, 4, 5, dtype=torch.float64)
    flow[:, 0] = 0.5
    out = warp(source, flow)
    torch.testing.assert_close(out[..., :-1], (source[..., :-1] + source[..., 1:]) / 2)


def test_example_pair_true_flow_warps_source_onto_target():
    pair = load_example("chelsea-shift")
    target, source = to_tensor(pair.target), to_tensor(pair.source)
    flow = torch.from_numpy(pair.flow)[None]
    known = torch.isfinite(flow[0, 0])
    # The pair is a shift by (-100, -24) of two 320x240 crops: known where p + shift is inside.
    shift = torch.tensor([-100.0, -24.0])
    assert torch.equal(flow[0, :, known], shift[:, None].expand(2, int(known.sum())))
    x = torch.arange(target.shape[3]) - 100
    y = torch.arange(target.shape[2]) - 24
    inside = ((y >= 0) & (y < source.shape[2]))[:, None] & ((x >= 0) & (x < source.shape[3]))
    assert torch.equal(known, inside) and inside.sum() > 1000
    warped = warp(source, torch.nan_to_num(flow))
    difference = (warped - target).abs().amax(1)[0]
    assert float(difference[inside].max()) < 1e-5


def test_resize_flow_scales_components():
    flow = torch.zeros(1, 2, 8, 12, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 6.0, -4.0
    small = resize_flow(flow, (2, 3))  # stride 4
    torch.testing.assert_close(small[:, 0], torch.full((1, 2, 3), 1.5, dtype=torch.float64))
    torch.testing.assert_close(small[:, 1], torch.full((1, 2, 3), -1.0, dtype=torch.float64))


def test_resize_flow_keeps_correspondence_of_an_affine_flow():
    # An affine flow stays exact under bilinear resampling at cell centres.
    height, width, stride = 16, 24, 4
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64),
        torch.arange(width, dtype=torch.float64),
        indexing="ij",
    )
    flow = torch.stack([0.1 * xs + 2.0, -0.05 * ys + 0.02 * xs])[None]
    cells = resize_flow(flow, (height // stride, width // stride))
    centre = lambda i: (i + 0.5) * stride - 0.5  # noqa: E731
    for cy in range(height // stride):
        for cx in range(width // stride):
            px, py = centre(cx), centre(cy)
            target_x = px + 0.1 * px + 2.0
            target_y = py - 0.05 * py + 0.02 * px
            # The cell flow points from cell (cx, cy) to the cell holding that source pixel.
            assert math.isclose(cx + float(cells[0, 0, cy, cx]), (target_x + 0.5) / stride - 0.5)
            assert math.isclose(
                cy + float(cells[0, 1, cy, cx]), (target_y + 0.5) / stride - 0.5, abs_tol=1e-12
            )


def test_endpoint_error_and_accuracy():
    flow = torch.zeros(1, 2, 2, 2)
    true = torch.zeros(1, 2, 2, 2)
    true[0, 0, 0, 0] = 3.0
    true[0, 1, 0, 0] = 4.0
    true[0, :, 1, 1] = float("nan")
    error = endpoint_error(flow, true)
    assert error[0, 0, 0] == 5.0
    assert torch.isnan(error[0, 1, 1])
    assert accuracy(flow, true, threshold=1.0) == pytest.approx(2 / 3)
    assert accuracy(flow, true, threshold=6.0) == 1.0
    assert math.isnan(accuracy(flow, torch.full_like(true, float("nan")), 1.0))
    # A 1x2 source: only pixels (x, y) = (0, 0) and (1, 0) have their true match inside it.
    true[0, :, 0, 0] = 0.0
    true[0, 0, 1, 0] = 5.0
    assert accuracy(flow, true, threshold=1.0, source_size=(1, 2)) == 1.0
    with pytest.raises(ValueError, match="differ in shape"):
        endpoint_error(flow, torch.zeros(1, 2, 3, 3))


def _middlebury_reference(dx: float, dy: float) -> list[int]:
    """The wheel's colour for a unit flow, written out by hand from its definition: 55 colours
    in six ramps (15, 6, 4, 11, 13, 6 steps), position ``(atan2(-dy, -dx) / pi + 1) / 2 * 54``,
    linear between neighbours; an independent oracle for :func:`flow_to_colour`."""
    ring = []
    corners = [(1, 0, 0), (1, 1, 0), (0, 1, 0), (0, 1, 1), (0, 0, 1), (1, 0, 1), (1, 0, 0)]
    for steps, start, end in zip((15, 6, 4, 11, 13, 6), corners[:-1], corners[1:], strict=True):
        for k in range(steps):
            ring.append([s + (e - s) * k / steps for s, e in zip(start, end, strict=True)])
    position = (math.atan2(-dy, -dx) / math.pi + 1) / 2 * 54
    low = math.floor(position)
    weight = position - low
    mixed = [
        (1 - weight) * a + weight * b for a, b in zip(ring[low], ring[(low + 1) % 55], strict=True)
    ]
    return [round(255 * value) for value in mixed]


def test_flow_colours_follow_the_middlebury_wheel():
    directions = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0), (0.6, -0.8), (-0.8, 0.6)]
    flow = torch.tensor(directions).T.reshape(2, 1, len(directions))
    colours = flow_to_colour(flow)[0]
    for colour, (dx, dy) in zip(colours, directions, strict=True):
        assert colour.tolist() == _middlebury_reference(dx, dy), (dx, dy)
    assert colours[0].tolist() == [255, 0, 0]  # right: red
    assert colours[1].tolist() == [255, 230, 0]  # down: orange-yellow (between 13 and 14 of 15)
    assert colours[2].tolist() == [0, 209, 255]  # left: cyan, 2/11 of the way to blue
    assert flow_to_colour(torch.tensor([[[0.0, float("nan")]], [[0.0, 0.0]]]))[0].tolist() == [
        [255, 255, 255],  # still: white
        [0, 0, 0],  # unknown: black
    ]
    assert flow_to_colour(np.zeros((1, 2, 3, 4))).shape == (3, 4, 3)
    with pytest.raises(ValueError, match="shape"):
        flow_to_colour(np.zeros((3, 4, 4)))


def test_colour_wheel():
    wheel = colour_wheel(33)
    assert wheel.shape == (33, 33, 3) and wheel.dtype == np.uint8
    assert wheel[16, 16].tolist() == [255, 255, 255]  # centre: no motion
    assert wheel[16, 32].tolist() == [255, 0, 0]  # right edge: +x, saturated
    assert wheel[32, 16].tolist() == [255, 230, 0]  # bottom edge: +y
    assert wheel[0, 0].tolist() == [255, 255, 255]  # outside the disc


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        warp(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="batch"):
        warp(torch.zeros(2, 3, 4, 4), torch.zeros(1, 2, 4, 4))
