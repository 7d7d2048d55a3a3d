# SPDX-License-Identifier: MIT
"""Global and local correlation against naive loops; the adjoint identity; layouts; errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gocor_lite import (
    flat_to_global,
    flat_to_local,
    global_correlation,
    global_to_flat,
    local_correlation,
    local_correlation_adjoint,
    local_to_flat,
)
from gocor_lite.core import correlation as correlation_module


def naive_global(target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    batch, _, height, width = target.shape
    source_height, source_width = source.shape[2:]
    out = torch.zeros(batch, height, width, source_height, source_width, dtype=target.dtype)
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                for v in range(source_height):
                    for u in range(source_width):
                        out[b, y, x, v, u] = (target[b, :, y, x] * source[b, :, v, u]).sum()
    return out


def naive_local(target: torch.Tensor, source: torch.Tensor, radius: int, mean: bool = True):
    batch, channels, height, width = target.shape
    source_height, source_width = source.shape[2:]
    size = 2 * radius + 1
    out = torch.zeros(batch, height, width, size, size, dtype=target.dtype)
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                for dy in range(-radius, radius + 1):
                    for dx in range(-radius, radius + 1):
                        v, u = y + dy, x + dx
                        if 0 <= v < source_height and 0 <= u < source_width:
                            score = (target[b, :, y, x] * source[b, :, v, u]).sum()
                            out[b, y, x, radius + dy, radius + dx] = score / (
                                channels if mean else 1
                            )
    return out


shapes = st.tuples(
    st.integers(1, 2),  # batch
    st.integers(1, 5),  # channels
    st.integers(1, 6),  # target height
    st.integers(1, 7),  # target width
    st.integers(1, 6),  # source height
    st.integers(1, 7),  # source width
)
dtypes = st.sampled_from([torch.float32, torch.float64])


@pytest.fixture(scope="module", autouse=True, params=["tiles", "rows"])
def local_kernel(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test of this module runs with each of the local correlation's two kernels at every
    width: column tiles (wide maps) and whole rows (narrow maps, ``_ROWS_MAX_WIDTH``)."""
    limit = -1 if request.param == "tiles" else 10**9
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(correlation_module, "_ROWS_MAX_WIDTH", limit)
        yield request.param


def draw(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    return (
        {"atol": 1e-12, "rtol": 1e-10} if dtype == torch.float64 else {"atol": 1e-5, "rtol": 1e-5}
    )


@settings(max_examples=40, deadline=None)
@given(shapes, dtypes, st.integers(0, 2**16))
def test_global_matches_naive_loop(shape, dtype, seed):
    batch, channels, height, width, source_height, source_width = shape
    target = draw((batch, channels, height, width), dtype, seed)
    source = draw((batch, channels, source_height, source_width), dtype, seed + 1)
    expected = naive_global(target.double(), source.double())
    torch.testing.assert_close(
        global_correlation(target, source).double(), expected, **tolerance(dtype)
    )


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(0, 8), dtypes, st.booleans(), st.integers(0, 2**16))
def test_local_matches_naive_loop(shape, radius, dtype, mean, seed):
    # Sizes cover odd widths, widths above one column tile (16) are in the test below, radii
    # larger than the map, and sources smaller or larger than the target.
    batch, channels, height, width, source_height, source_width = shape
    target = draw((batch, channels, height, width), dtype, seed)
    source = draw((batch, channels, source_height, source_width), dtype, seed + 1)
    out = local_correlation(target, source, radius, reduction="mean" if mean else "sum")
    expected = naive_local(target.double(), source.double(), radius, mean)
    torch.testing.assert_close(out.double(), expected, **tolerance(dtype))


@pytest.mark.parametrize("width,radius", [(17, 3), (33, 4), (40, 8), (16, 0)])
def test_local_matches_naive_loop_across_tiles(width, radius, generator):
    target = torch.randn(1, 3, 5, width, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 3, 4, width + 3, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(
        local_correlation(target, source, radius), naive_local(target, source, radius)
    )


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 6), st.integers(0, 2**16))
def test_local_adjoint_identity(shape, radius, seed):
    """<L t, v> == <t, L^T v> for the local correlation L with the source fixed."""
    batch, channels, height, width, source_height, source_width = shape
    size = 2 * radius + 1
    target = draw((batch, channels, height, width), torch.float64, seed)
    source = draw((batch, channels, source_height, source_width), torch.float64, seed + 1)
    volume = draw((batch, height, width, size, size), torch.float64, seed + 2)
    for reduction in ("mean", "sum"):
        forward = local_correlation(target, source, radius, reduction)
        adjoint = local_correlation_adjoint(volume, source, radius, reduction)
        assert adjoint.shape == target.shape
        torch.testing.assert_close((forward * volume).sum(), (target * adjoint).sum())


def test_window_order_is_dy_major():
    """A source that is zero but for one cell lights exactly the window entry [R+dy, R+dx]."""
    target = torch.ones(1, 1, 5, 5)
    source = torch.zeros(1, 1, 5, 5)
    source[0, 0, 1, 4] = 1.0  # one row up (dy = -1) and two columns right (dx = +2) of (2, 2)
    volume = local_correlation(target, source, radius=2)
    assert volume[0, 2, 2, 2 - 1, 2 + 2] == 1.0
    assert volume[0, 2, 2].sum() == 1.0
    flat = local_to_flat(volume)
    assert flat[0, (2 - 1) * 5 + (2 + 2), 2, 2] == 1.0  # channel (dy+R)*(2R+1) + (dx+R)


def test_mean_reduction_divides_by_channels():
    target = torch.ones(1, 4, 2, 2)
    source = torch.full((1, 4, 2, 2), 2.0)
    assert local_correlation(target, source, 0)[0, 0, 0, 0, 0] == 2.0  # (4 * 2) / 4
    assert local_correlation(target, source, 0, reduction="sum")[0, 0, 0, 0, 0] == 8.0
    assert global_correlation(target, source)[0, 0, 0, 0, 0] == 8.0  # no 1/C


def test_layout_round_trips(generator):
    volume = torch.randn(2, 3, 4, 5, 6, generator=generator)
    flat = global_to_flat(volume)
    assert flat.shape == (2, 5 * 6, 3, 4)
    assert flat[1, 2 * 6 + 5, 0, 3] == volume[1, 0, 3, 2, 5]  # channel = source row-major
    torch.testing.assert_close(flat_to_global(flat, (5, 6)), volume)
    local = torch.randn(2, 3, 4, 5, 5, generator=generator)
    torch.testing.assert_close(flat_to_local(local_to_flat(local)), local)
    with pytest.raises(ValueError, match="odd square"):
        flat_to_local(torch.zeros(1, 24, 2, 2))
    with pytest.raises(ValueError, match="channels"):
        flat_to_global(flat, (5, 5))


def test_gradcheck_local_and_adjoint(generator):
    target = torch.randn(1, 2, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    source = torch.randn(1, 2, 4, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    volume = torch.randn(
        1, 3, 4, 3, 3, generator=generator, dtype=torch.float64, requires_grad=True
    )
    assert torch.autograd.gradcheck(lambda t, s: local_correlation(t, s, 1), (target, source))
    assert torch.autograd.gradcheck(
        lambda v, s: local_correlation_adjoint(v, s, 1), (volume, source)
    )
    assert torch.autograd.gradcheck(global_correlation, (target, source))


def test_runs_on_meta_and_follows_dtype():
    target = torch.empty(2, 8, 5, 6, device="meta")
    source = torch.empty(2, 8, 4, 7, device="meta")
    assert local_correlation(target, source, 3).shape == (2, 5, 6, 7, 7)
    assert local_correlation(target, source, 3).device.type == "meta"
    assert global_correlation(target, source).shape == (2, 5, 6, 4, 7)
    half = torch.randn(1, 4, 3, 3, generator=torch.Generator().manual_seed(0)).bfloat16()
    for volume, expected in (
        (local_correlation(half, half, 1), naive_local(half.double(), half.double(), 1)),
        (global_correlation(half, half), naive_global(half.double(), half.double())),
    ):
        assert volume.dtype == torch.bfloat16
        # Computed in bf16 (the features' dtype): within two bf16 units (2^-7) of each entry.
        torch.testing.assert_close(volume.double(), expected, rtol=2**-7, atol=0)


@pytest.mark.parametrize("radius", [0, 2])
def test_autocast_leaves_the_features_dtype(radius, generator):
    """Inside bf16 autocast a float32 pair gives the float32 volume, bit for bit: the global
    correlation is a matrix product, which autocast would otherwise run in bf16."""
    target = torch.randn(2, 5, 4, 6, generator=generator)
    source = torch.randn(2, 5, 3, 7, generator=generator)
    expected = (global_correlation(target, source), local_correlation(target, source, radius))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = (global_correlation(target, source), local_correlation(target, source, radius))
    for volume, want in zip(got, expected, strict=True):
        assert volume.dtype == torch.float32
        torch.testing.assert_close(volume, want, rtol=0, atol=0)


@pytest.mark.parametrize(
    "target,source,match",
    [
        (torch.zeros(2, 3, 4), torch.zeros(1, 2, 3, 4), r"target must have shape \(B, C, h, w\)"),
        (torch.zeros(1, 2, 3, 4), torch.zeros(1, 3, 3, 4), "same number of channels"),
        (torch.zeros(2, 2, 3, 4), torch.zeros(1, 2, 3, 4), "same batch size"),
        (torch.zeros(1, 2, 3, 4, dtype=torch.int64), torch.zeros(1, 2, 3, 4), "floating-point"),
        (torch.full((1, 2, 3, 4), float("nan")), torch.zeros(1, 2, 3, 4), "target contains NaN"),
        (torch.zeros(1, 2, 3, 4), torch.full((1, 2, 3, 4), float("inf")), "source contains NaN"),
        (torch.zeros(1, 2, 0, 4), torch.zeros(1, 2, 3, 4), "must not be empty"),
        ("an image", torch.zeros(1, 2, 3, 4), "torch.Tensor"),
    ],
)
def test_bad_input_names_the_argument(target, source, match):
    with pytest.raises(ValueError, match=match):
        global_correlation(target, source)
    with pytest.raises(ValueError, match=match):
        local_correlation(target, source, 1)


@pytest.mark.parametrize("radius", [-1, 1.5, True, "4"])
def test_bad_radius(radius):
    with pytest.raises(ValueError, match="radius must be an integer"):
        local_correlation(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), radius)


def test_adjoint_checks_the_volume_shape():
    with pytest.raises(ValueError, match=r"volume must have shape \(B, h, w, 3, 3\)"):
        local_correlation_adjoint(torch.zeros(1, 2, 2, 5, 5), torch.zeros(1, 1, 2, 2), 1)


@pytest.mark.gpu
def test_cuda_matches_cpu(generator):
    target = torch.randn(2, 16, 9, 21, generator=generator)
    source = torch.randn(2, 16, 9, 21, generator=generator)
    cpu = local_correlation(target, source, 4)
    torch.testing.assert_close(
        local_correlation(target.cuda(), source.cuda(), 4).cpu(), cpu, atol=1e-4, rtol=1e-4
    )
