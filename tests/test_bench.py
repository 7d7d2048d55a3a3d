# SPDX-License-Identifier: MIT
"""The benchmark runs end to end on a tiny grid and writes its report (no timing is checked)."""

from __future__ import annotations

import torch

from gocor_lite import local_correlation
from gocor_lite.cli import bench


def test_naive_references_agree_with_the_library(generator):
    target = torch.randn(1, 3, 5, 5, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 3, 5, 5, generator=generator, dtype=torch.float64)
    for radius in (0, 2, 6):
        expected = local_correlation(target, source, radius)
        torch.testing.assert_close(bench.naive_local(target, source, radius), expected)
        torch.testing.assert_close(bench.unfold_local(target, source, radius), expected)


def test_tiny_run_writes_a_report(tmp_path):
    grid = bench.Grid(channels=(4,), sizes=(4, 6), radii=(1,), iterations=(0, 1), repeat=1)
    out = tmp_path / "bench.md"
    report = bench.run(grid, torch.device("cpu"), out, threads=None)
    assert out.read_text() == report
    titles = ("Targets", "Local correlation", "Global correlation", "Global GOCor", "Local GOCor")
    for title in titles:
        assert f"### {title}" in report
    assert "Machine: CPU:" in report


def test_targets_name_what_holds_and_what_misses():
    def table(*records):
        return bench.Table("t", [], records=list(records))

    local = [
        {"case": "a", "best_other_ratio": 1.2, "percent_of_peak": 25.0, "sampler_ratio": None},
        {"case": "b", "best_other_ratio": 0.8, "percent_of_peak": 5.0, "sampler_ratio": None},
    ]
    gocor = [
        {"case": "g1", "K": 3, "query": False, "ratio": 1.4},
        {"case": "g2", "K": 3, "query": True, "ratio": 2.0},
        {"case": "g3", "K": 1, "query": True, "ratio": 9.0},  # not K=3
    ]
    checked = bench.targets(
        {
            "local": table(*local),
            "global": table({"case": "c", "ratio": 1.05}),
            "global_gocor": table(*gocor),
            "backward": table({"case": "x", "ratio": 2.0}, {"case": "y", "ratio": 4.5}),
        }
    )
    measured = [row[1:] for row in checked.rows]  # the targets in the order of the issue
    assert measured == [
        ["min 0.80 (b)", "no: 1 of 2", "b: 0.80"],  # local correlation >= the best other
        ["not measured in this run", "-", ""],  # against the sampler op
        ["best 25.00 (a)", "reached in 1 of 2", ""],  # the 20% aim
        ["max 1.05 (c)", "yes", ""],  # global correlation
        ["max 1.40 (g1)", "yes", ""],  # global GOCor K=3 against its floor, no query loss
        ["max 2.00 (g2)", "no: 1 of 1", "g2: 2.00"],  # with the query loss
        ["max 4.50 (y)", "no: 1 of 2", "y: 4.50"],  # backward / forward
    ]
