# SPDX-License-Identifier: MIT
"""GLU-Net's multi-scale training loss (``gocor_lite.training.small_glunet.network_loss``) against a
weighted sum written by hand, every level off the truth by its own known amount under its own
weight, and one optimiser step on it with a known answer.

Convention: flows ``(B, 2, h, w)`` x then y in the 256 x 256 pairs' pixels; the loss of a level
is the mean endpoint error over each pair's known cells, averaged over the pairs; the levels are
``(flow4, flow3_l, flow2, flow1)`` on grids of 16, 32, 32 and 64 cells.
"""

from __future__ import annotations

import pytest
import torch

from gocor_lite.data.synthetic import WarpedBatch
from gocor_lite.glunet.network import GLUNetOutput
from gocor_lite.training.small_glunet import LEVEL_WEIGHTS, network_loss

SIZE = 256
GRIDS = {"flow4": 16, "flow3_l": 32, "flow2": 32, "flow1": 64}
SHIFTS = ((1.5, -2.0), (-3.0, 0.5))  # each pair's true flow: a constant translation, pixels
# Each level's error, a 3-4-5 triangle scaled differently per level: (dx, dy) and its length.
OFFSETS = {"flow4": (0.6, 0.8), "flow3_l": (3.0, 4.0), "flow2": (6.0, 8.0), "flow1": (9.0, 12.0)}
LENGTHS = {"flow4": 1.0, "flow3_l": 5.0, "flow2": 10.0, "flow1": 15.0}
WRONG_WHERE_UNKNOWN = 1000.0  # px of error put where the truth is unknown: must not count


def translation_batch() -> WarpedBatch:
    """Two 256 x 256 pairs translated by :data:`SHIFTS`; the second's truth unknown on the left
    half of the target (columns < 128)."""
    flow = torch.zeros(2, 2, SIZE, SIZE, dtype=torch.float64)
    for index, (dx, dy) in enumerate(SHIFTS):
        flow[index, 0], flow[index, 1] = dx, dy
    valid = torch.ones(2, 1, SIZE, SIZE, dtype=torch.bool)
    valid[1, :, :, : SIZE // 2] = False
    images = torch.zeros(2, 3, SIZE, SIZE, dtype=torch.float64)
    return WarpedBatch(images, images, flow, valid)


def known_columns(grid: int) -> torch.Tensor:
    """The second pair's known columns: cell centre ``(i + 0.5) s - 0.5`` with its two
    neighbouring pixels right of column 128 (the cell grids divide 128, so no centre
    straddles it)."""
    stride = SIZE // grid
    centres = (torch.arange(grid, dtype=torch.float64) + 0.5) * stride - 0.5
    return centres > SIZE // 2


def level_flows(offsets: dict[str, tuple[float, float]]) -> dict[str, torch.Tensor]:
    """Each level's flow: the true translation plus its offset where the truth is known, and
    :data:`WRONG_WHERE_UNKNOWN` px off where it is not."""
    flows = {}
    for name, grid in GRIDS.items():
        flow = torch.zeros(2, 2, grid, grid, dtype=torch.float64)
        for index, (dx, dy) in enumerate(SHIFTS):
            flow[index, 0] = dx + offsets[name][0]
            flow[index, 1] = dy + offsets[name][1]
        flow[1, 0, :, ~known_columns(grid)] += WRONG_WHERE_UNKNOWN
        flows[name] = flow
    return flows


def output_of(flows: dict[str, torch.Tensor]) -> GLUNetOutput:
    extra = torch.zeros(1, dtype=torch.float64)
    return GLUNetOutput(
        flow4=flows["flow4"],
        flow3=flows["flow3_l"],
        flow3_l=flows["flow3_l"],
        flow2=flows["flow2"],
        flow1=flows["flow1"],
        corr4=extra,
        corr4_raw=extra,
    )


@pytest.mark.parametrize(
    "weights", [LEVEL_WEIGHTS, (1.0, 10.0, 100.0, 1000.0), (0.0, 0.0, 2.0, 0.5)]
)
def test_the_loss_is_each_levels_error_times_its_own_weight(weights):
    output = output_of(level_flows(OFFSETS))
    loss = network_loss(output, translation_batch(), weights)
    # Every known cell of every pair is off by the level's length: each level's mean is it.
    expected = sum(weight * LENGTHS[name] for weight, name in zip(weights, GRIDS, strict=True))
    assert float(loss) == pytest.approx(expected, rel=1e-9)


def test_the_default_weights_by_hand():
    # LEVEL_WEIGHTS = (0.32, 0.32, 0.08, 0.16): 0.32*1 + 0.32*5 + 0.08*10 + 0.16*15 = 5.12.
    loss = network_loss(output_of(level_flows(OFFSETS)), translation_batch())
    assert float(loss) == pytest.approx(5.12, rel=1e-9)


def test_one_sgd_step_on_the_flows_moves_each_known_cell_by_its_weight_over_its_count():
    """The gradient of ``w * mean_pairs(mean_known |f - t|)`` at a cell is ``w / (B n_b)``
    times the unit error vector (``n_b`` the pair's known cells); unknown cells get none. One
    SGD step of rate ``lr`` moves a known cell that much towards the truth."""
    weights = (0.5, 2.0, 3.0, 4.0)
    rate = 100.0
    flows = level_flows(OFFSETS)
    leaves = {name: flow.clone().requires_grad_(True) for name, flow in flows.items()}
    optimizer = torch.optim.SGD(list(leaves.values()), lr=rate)
    optimizer.zero_grad()
    loss = network_loss(output_of(leaves), translation_batch(), weights)
    loss.backward()
    optimizer.step()
    batch = 2
    for weight, (name, grid) in zip(weights, GRIDS.items(), strict=True):
        dx, dy = OFFSETS[name]
        unit = torch.tensor([dx, dy], dtype=torch.float64) / LENGTHS[name]
        counts = (grid * grid, grid * int(known_columns(grid).sum()))
        moved = (leaves[name] - flows[name]).detach()
        for index, count in enumerate(counts):
            step = -rate * weight / (batch * count) * unit
            known = torch.ones(grid, dtype=torch.bool) if index == 0 else known_columns(grid)
            expected = torch.zeros(2, grid, grid, dtype=torch.float64)
            expected[:, :, known] = step.view(2, 1, 1)
            torch.testing.assert_close(moved[index], expected, rtol=1e-9, atol=1e-12)
