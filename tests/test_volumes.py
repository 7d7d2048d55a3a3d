# SPDX-License-Identifier: MIT
"""A pair's volumes in one call: checked entry by entry against naive loops over the features."""

from __future__ import annotations

import pytest
import torch

from gocor_lite.core.features import DaisyExtractor
from gocor_lite.core.volumes import pair_volumes
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    base = torch.rand(1, 3, 40, 56, generator=generator, dtype=torch.float64)
    base = torch.nn.functional.avg_pool2d(base, 3, 1, 1)  # smooth, so DAISY sees structure
    return base[:, :, :, 8:], base[:, :, :, :-8]  # a shift by 8 px = one cell


@pytest.mark.parametrize("centre", ["same position", "coarse flow"])
def test_pair_volumes_entries(images, centre: str) -> None:
    target, source = images
    extractor = DaisyExtractor(stride=8)
    volumes = pair_volumes(
        extractor,
        target,
        source,
        GlobalGOCor(num_iter=2),
        LocalGOCor(num_iter=2, search_radius=1),
        normalization="l2",
        local_centre=centre,
    )
    t, s = volumes.target[0], volumes.source[0]  # (C, h, w)
    _, height, width = t.shape
    assert torch.allclose(t.norm(dim=0), torch.ones(height, width, dtype=t.dtype))
    for y in range(height):
        for x in range(width):
            expected = torch.einsum("c,chw->hw", t[:, y, x], s)
            torch.testing.assert_close(volumes.correlation[0, y, x], expected)
            torch.testing.assert_close(
                volumes.self_correlation[0, y, x], torch.einsum("c,chw->hw", t[:, y, x], t)
            )
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx  # the neighbour whose source cell the entry reads
                    value = volumes.local[0, y, x, 1 + dy, 1 + dx]
                    if not (0 <= ny < height and 0 <= nx < width):
                        assert value == 0
                        continue
                    if centre == "coarse flow":
                        flat = volumes.correlation[0, ny, nx].flatten().argmax()
                        sy, sx = divmod(int(flat), s.shape[2])
                    else:
                        sy, sx = ny, nx
                    if sy >= s.shape[1] or sx >= s.shape[2]:
                        assert value == 0
                        continue
                    torch.testing.assert_close(value, t[:, y, x] @ s[:, sy, sx])
    assert (volumes.coarse_matches is None) == (centre == "same position")
    assert volumes.global_trace.num_iter == 2 and volumes.local_trace.num_iter == 2
    torch.testing.assert_close(
        volumes.global_trace.volumes[-1], GlobalGOCor(num_iter=2).double()(volumes.target, s[None])
    )


def test_pair_volumes_refuses_an_unknown_centre(images) -> None:
    target, source = images
    with pytest.raises(ValueError, match="local_centre"):
        pair_volumes(
            DaisyExtractor(), target, source, GlobalGOCor(), LocalGOCor(), local_centre="middle"
        )
