# SPDX-License-Identifier: MIT
"""The fast paths of GOCor against the slow, obvious computations they replace.

The optimiser sweeps target rows in blocks, reads the learned tables as a band of exact values
plus a far-field constant, and runs the query loss over a few source rows at a time. Here the
block and chunk sizes are shrunk so that small maps exercise every branch (several blocks, far
pieces on both sides, chunks with halos at the map's edges), and the results are compared with
the float64 oracle of ``test_gocor`` and with whole-volume computations.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from gocor_lite import (
    GlobalGOCor,
    LocalGOCor,
    global_correlation,
    local_correlation,
    local_correlation_adjoint,
)
from gocor_lite.gocor import optimizer as optimizer_module
from gocor_lite.gocor.kinds import GlobalKind
from gocor_lite.gocor.modules import GlobalGOCorConfig, GOCorBase
from gocor_lite.gocor.optimizer import DistanceTables, QueryLoss
from gocor_lite.gocor.spatial import DistanceFunctions, offset_distances, pairwise_table
from tests.test_gocor import assert_steps_match_the_oracle, randomise


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of one or two target rows and query chunks of one source row."""
    monkeypatch.setattr(optimizer_module, "_BLOCK_ENTRIES", 1)
    monkeypatch.setattr(optimizer_module, "_BLOCK_MIN_CELLS", 9)
    monkeypatch.setattr(optimizer_module, "_QUERY_CHUNK_ENTRIES", 1)


@pytest.mark.parametrize("width", [5, 9])
@pytest.mark.parametrize("bin_width", [0.5, 0.25])
def test_distance_tables_match_the_dense_table(width, bin_width, generator):
    height, rows = 13, 2
    functions = DistanceFunctions(10, bin_width).double()
    with torch.no_grad():
        for parameter in functions.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    like = torch.zeros((), dtype=torch.float64)
    tables = DistanceTables(functions, functions.reach, height, width, rows, like)
    dense = [
        pairwise_table(values, height, width).view(height, width, height * width)
        for values in functions(offset_distances(height, width, like=like))
    ]
    half = dense[1] / 2
    expected = (half * (1 - dense[2]), half * (1 + dense[2]), dense[1] * dense[0])
    covered = 0
    for first in range(0, height, rows):
        block = slice(first, min(first + rows, height))
        pieces = tables.pieces(block)
        assert len(pieces) >= 2 or first == 0  # a far field exists on a 13-row map
        for piece in pieces:
            columns = torch.arange(height * width)[piece.columns]
            covered += len(columns) * (block.stop - block.start)
            for got, want in zip(
                (piece.abs_coeff, piece.lin_coeff, piece.offset), expected, strict=True
            ):
                want = want[block][..., columns]
                torch.testing.assert_close(got.expand_as(want), want, rtol=0, atol=1e-15)
    assert covered == height * height * width  # every column of every row exactly once


@pytest.mark.parametrize(
    "options",
    [
        dict(initializer="simple"),
        dict(initializer="context-aware"),
        dict(initializer="simple", query_loss=True, query_hidden_channels=3, query_out_channels=2),
        dict(initializer="simple", query_loss=True, query_kernel_size=5),
    ],
    ids=["simple", "context", "query", "query-k5"],
)
def test_blocked_global_steps_match_the_oracle(options, generator, small_blocks):
    module = GlobalGOCor(num_iter=2, **options).double()
    randomise(module, generator)
    target = torch.randn(1, 3, 9, 3, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 3, 9, 3, generator=generator, dtype=torch.float64)
    trace = module.trace(target, source)
    assert_steps_match_the_oracle(module, trace, target, source, local=False)
    torch.testing.assert_close(module(target, source), trace.volumes[-1])


@dataclass(frozen=True)
class UnblockedGlobalKind(GlobalKind):
    """A variant in a few lines: global GOCor that sweeps all target rows as one block."""

    def block_rows(self, batch: int, height: int, width: int, cells: int) -> int:
        return height


class UnblockedGlobalGOCor(GOCorBase):
    def __init__(self, **overrides):
        config = GlobalGOCorConfig(**overrides)
        super().__init__(config, UnblockedGlobalKind())


def test_a_new_kind_is_all_a_variant_needs(generator, small_blocks):
    """GOCorBase takes everything variant-specific from its kind: the same objective swept in
    one block (and its tables built for one block) gives the blocked module's trace."""
    blocked, whole = GlobalGOCor(num_iter=2).double(), UnblockedGlobalGOCor(num_iter=2).double()
    randomise(blocked, generator)
    whole.load_state_dict(blocked.state_dict())
    target = torch.randn(1, 3, 9, 4, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 3, 8, 5, generator=generator, dtype=torch.float64)
    objective = whole.objective(target, source)
    assert objective.correlation.block_rows(1, 9, 4, 36) == 9
    assert blocked.objective(target, source).correlation.block_rows(1, 9, 4, 36) < 9
    one, many = whole.trace(target, source), blocked.trace(target, source)
    for got, want in zip(one.filters + one.volumes, many.filters + many.volumes, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("query", [False, True])
def test_blocked_and_whole_sweeps_agree(dtype, query, generator, monkeypatch):
    """The same module with one block and with many, on an odd-sized map, float32 and 64."""
    module = GlobalGOCor(num_iter=3, query_loss=query, query_hidden_channels=4).to(dtype)
    randomise(module, generator)
    target = torch.randn(2, 6, 11, 7, generator=generator).to(dtype)
    source = torch.randn(2, 6, 11, 7, generator=generator).to(dtype)
    whole = module(target, source)
    monkeypatch.setattr(optimizer_module, "_BLOCK_ENTRIES", 1)
    monkeypatch.setattr(optimizer_module, "_BLOCK_MIN_CELLS", 1)
    monkeypatch.setattr(optimizer_module, "_QUERY_CHUNK_ENTRIES", 1)
    blocked = module(target, source)
    tolerance = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {}
    torch.testing.assert_close(blocked, whole, **tolerance)


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
@pytest.mark.parametrize("source_size", [(1, 4), (5, 3), (7, 6)])
def test_chunked_query_loss_matches_the_whole_volume(kernel_size, source_size, generator):
    query = QueryLoss(kernel_size, 3, 2, init_std=1.0).double()
    scores = torch.randn(2, 4, 3, source_size[0] * source_size[1], generator=generator)
    scores = scores.double()
    projected = query(scores, source_size)
    energy = projected.square().flatten(1).sum(1)
    gradient = query.adjoint(projected, source_size)
    for chunk in (1, 10**9):
        optimizer_module._QUERY_CHUNK_ENTRIES, saved = chunk, optimizer_module._QUERY_CHUNK_ENTRIES
        try:
            torch.testing.assert_close(query.energy(scores, source_size), energy)
            loss, chunked = query.gradient(scores, source_size)
        finally:
            optimizer_module._QUERY_CHUNK_ENTRIES = saved
        torch.testing.assert_close(loss, 0.5 * energy)
        torch.testing.assert_close(chunked, gradient)


def test_blocked_forward_has_the_same_gradients(generator, monkeypatch):
    module = GlobalGOCor(num_iter=2, query_loss=True, query_hidden_channels=2).double()
    randomise(module, generator)
    target = torch.randn(1, 3, 7, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    source = torch.randn(1, 3, 7, 4, generator=generator, dtype=torch.float64)
    weights = torch.randn(1, 7, 4, 7, 4, generator=generator, dtype=torch.float64)

    def gradients() -> list[torch.Tensor]:
        loss = (module(target, source) * weights).sum()
        return torch.autograd.grad(loss, [target, *module.parameters()])

    whole = gradients()
    monkeypatch.setattr(optimizer_module, "_BLOCK_ENTRIES", 1)
    monkeypatch.setattr(optimizer_module, "_BLOCK_MIN_CELLS", 1)
    monkeypatch.setattr(optimizer_module, "_QUERY_CHUNK_ENTRIES", 1)
    for got, want in zip(gradients(), whole, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_iteration_zero_on_a_large_map_is_the_scaled_correlation(generator):
    """A map larger than one block with the default sizes."""
    target = torch.randn(1, 4, 40, 33, generator=generator)
    trace = GlobalGOCor(num_iter=1).trace(target, target)
    energy = target.square().sum(1)[..., None, None]
    torch.testing.assert_close(trace.volumes[0], global_correlation(target, target) / energy)
    # After the step, the blocked sweep's target scores are those of the new filters.
    after = torch.einsum("bci,bcj->bij", trace.filters[1].flatten(2), target.flatten(2))
    torch.testing.assert_close(trace.target_scores[1], after.view(1, 40, 33, 40, 33))


def test_local_gocor_float32_matches_float64(generator):
    module = LocalGOCor(search_radius=3).double()
    randomise(module, generator)
    target = torch.randn(1, 8, 9, 13, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 8, 9, 13, generator=generator, dtype=torch.float64)
    expected = module(target, source)
    got = module.float()(target.float(), source.float())
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-5)


def test_global_correlation_into_a_reused_buffer(generator):
    target = torch.randn(2, 5, 3, 4, generator=generator)
    source = torch.randn(2, 5, 6, 2, generator=generator)
    out = torch.full((2, 3, 4, 6, 2), float("nan"))
    result = global_correlation(target, source, out=out)
    assert result.data_ptr() == out.data_ptr()
    torch.testing.assert_close(out, global_correlation(target, source))
    with pytest.raises(ValueError, match="out must be a contiguous"):
        global_correlation(target, source, out=torch.empty(2, 3, 4, 2, 6))


def test_memory_limit_names_a_size_that_fits():
    module = GlobalGOCor(memory_limit=2**20)  # 1 MiB
    with pytest.raises(ValueError, match=r"at 32x32 .* at most (\d+)x\1 fits"), torch.no_grad():
        module(torch.randn(1, 4, 32, 32), torch.randn(1, 4, 32, 32))
    with torch.no_grad():
        module(torch.randn(1, 4, 12, 12), torch.randn(1, 4, 12, 12))  # 12^4 * 4 B = 81 KiB
    with pytest.raises(ValueError, match="trace"):
        module.trace(torch.randn(1, 4, 16, 16), torch.randn(1, 4, 16, 16))
    with pytest.raises(ValueError, match="memory_limit must be"):
        GlobalGOCor(memory_limit=0)


def test_trace_of_a_few_cells(generator):
    module = GlobalGOCor(num_iter=2, query_loss=True)
    target = torch.randn(1, 6, 5, 7, generator=generator)
    source = torch.randn(1, 6, 4, 6, generator=generator)
    full = module.trace(target, source)
    cells = [(4, 6), (0, 0), (2, 3)]
    some = module.trace(target, source, cells=cells, storage="cpu")
    for k in range(3):
        assert some.volumes[k].shape == (1, 3, 4, 6)
        assert some.target_scores[k].shape == (1, 3, 5, 7)
        for p, (y, x) in enumerate(cells):
            torch.testing.assert_close(some.volumes[k][:, p], full.volumes[k][:, y, x])
            torch.testing.assert_close(some.target_scores[k][:, p], full.target_scores[k][:, y, x])
    torch.testing.assert_close(some.losses.total, full.losses.total)
    whole = LocalGOCor(search_radius=2).trace(target, target)
    local = LocalGOCor(search_radius=2).trace(target, target, cells=[(1, 1), (4, 0)])
    for k in range(len(whole.volumes)):
        torch.testing.assert_close(local.volumes[k], whole.volumes[k][:, [1, 4], [1, 0]])
        torch.testing.assert_close(
            local.target_scores[k], whole.target_scores[k][:, [1, 4], [1, 0]]
        )
    with pytest.raises(ValueError, match="cells must be"):
        module.trace(target, source, cells=[(5, 0)])


@pytest.mark.slow
@pytest.mark.parametrize(
    "target_size,source_size,radius",
    [((3, 11), (4, 9), 1), ((2, 3), (3, 2), 4), ((3, 19), (3, 19), 2)],
    ids=["wider-than-a-tile", "radius-beyond-the-map", "two-tiles"],
)
def test_local_correlation_gradients_are_exact_twice(target_size, source_size, radius, generator):
    """The tiled kernels' hand-written backward against finite differences, to second order."""
    options = {"generator": generator, "dtype": torch.float64, "requires_grad": True}
    target = torch.randn(2, 2, *target_size, **options)
    source = torch.randn(2, 2, *source_size, **options)
    size = 2 * radius + 1
    volume = torch.randn(2, *target_size, size, size, **options)

    def forward(t, s):
        return local_correlation(t, s, radius)

    def adjoint(v, s):
        return local_correlation_adjoint(v, s, radius, reduction="sum")

    assert torch.autograd.gradcheck(forward, (target, source))
    assert torch.autograd.gradgradcheck(forward, (target, source))
    assert torch.autograd.gradcheck(adjoint, (volume, source))
    assert torch.autograd.gradgradcheck(adjoint, (volume, source))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_local_correlation_on_larger_maps_matches_shifted_products(dtype, generator):
    """Maps of several tiles, batch 3, against the benchmark's shifted-product loop."""
    from gocor_lite.cli.bench import naive_local

    target = torch.randn(3, 5, 13, 29, generator=generator, dtype=torch.float64)
    source = torch.randn(3, 5, 13, 29, generator=generator, dtype=torch.float64)
    for radius in (0, 3, 9):
        expected = naive_local(target, source, radius)
        got = local_correlation(target.to(dtype), source.to(dtype), radius)
        tolerance = (
            {"rtol": 1e-5, "atol": 1e-5}
            if dtype == torch.float32
            else {"rtol": 1e-12, "atol": 1e-12}
        )
        torch.testing.assert_close(got.double(), expected, **tolerance)


@pytest.mark.slow
@pytest.mark.parametrize(
    "query,volumes",
    [(False, 1), (True, 2)],
    ids=["no-query: the output", "query: scores on the source and their gradient"],
)
def test_peak_memory_is_a_fixed_number_of_volumes(query, volumes, monkeypatch):
    """Measured (torch's allocations, profiler memory events): with small blocks, an inference
    call never holds more than ``volumes`` (h*w) x (h'*w') volumes plus a small margin, for
    any number of iterations."""
    from gocor_lite.cli.bench import peak_mib

    monkeypatch.setattr(optimizer_module, "_BLOCK_ENTRIES", 2**12)
    monkeypatch.setattr(optimizer_module, "_BLOCK_MIN_CELLS", 32)
    monkeypatch.setattr(optimizer_module, "_QUERY_CHUNK_ENTRIES", 2**15)
    size = 32
    volume_mib = 4 * size**4 / 2**20  # 4 MiB in float32
    target, source = torch.randn(1, 8, size, size), torch.randn(1, 8, size, size)
    for num_iter in (1, 4):
        # Query chunks are one source row of D1 channels: small next to a volume with D1 = 2.
        module = GlobalGOCor(
            num_iter=num_iter, query_loss=query, query_hidden_channels=2, query_out_channels=2
        )
        with torch.no_grad():
            peak = peak_mib(lambda: module(target, source), torch.device("cpu"))
        assert peak is not None
        assert volumes * volume_mib <= peak <= (volumes + 0.5) * volume_mib, peak
