# SPDX-License-Identifier: MIT
"""The benchmark runs end to end on a tiny grid and writes its report (no timing is checked)."""

from __future__ import annotations

import torch

from gocor_lite import bench, local_correlation


def test_naive_references_agree_with_the_library(generator):
    target = torch.randn(1, 3, 5, 5, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 3, 5, 5, generator=generator, dtype=torch.float64)
    for radius in (0, 2, 6):
        expected = local_correlation(target, source, radius)
        torch.testing.assert_close(bench.naive_local(target, source, radius), expected)
        torch.testing.assert_close(bench.unfold_local(target, source, radius), expected)


def test_tiny_run_writes_a_report(tmp_path):
    grid = bench.Grid(
        channels=(4,), sizes=(4, 6), radii=(1,), iterations=(0, 1), repeat=1, app=False
    )
    out = tmp_path / "bench.md"
    report = bench.run(grid, torch.device("cpu"), out, threads=None)
    assert out.read_text() == report
    for title in ("Local correlation", "Global correlation", "Global GOCor", "Local GOCor"):
        assert f"### {title}" in report
    assert "Machine: CPU:" in report
