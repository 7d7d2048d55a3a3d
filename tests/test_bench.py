# SPDX-License-Identifier: MIT
"""The benchmark: its work counts against hand formulas, its floors and ratios as printed, its
"(under load)" marks against an injected load average, and a ``--quick`` run end to end (no
timing is checked)."""

from __future__ import annotations

import itertools
import re
import time

import pytest
import torch
import torch.nn.functional as F

from gocor_lite import global_correlation, local_correlation, local_correlation_adjoint
from gocor_lite.cli import bench, floors


def test_naive_references_agree_with_the_library(generator):
    target = torch.randn(1, 3, 5, 5, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 3, 5, 5, generator=generator, dtype=torch.float64)
    for radius in (0, 2, 6):
        expected = local_correlation(target, source, radius)
        torch.testing.assert_close(bench.naive_local(target, source, radius), expected)
        torch.testing.assert_close(bench.unfold_local(target, source, radius), expected)


# -- work ---------------------------------------------------------------------------------------


def test_a_matrix_product_counts_two_m_n_k():
    m, n, k = 7, 5, 3
    a, b = torch.randn(m, k), torch.randn(k, n)
    assert floors.count_flops(lambda: a @ b) == floors.Work(matmul=2 * m * n * k)
    reference = floors.matmul_reference(16)
    assert reference.flops == 2 * 16 * 16 * 16 == floors.count_flops(reference.run).total


def test_a_3x3_convolution_counts_two_cin_cout_9_h_w():
    c_in, c_out, height, width = 3, 4, 6, 5
    image, weight = torch.randn(1, c_in, height, width), torch.randn(c_out, c_in, 3, 3)
    work = floors.count_flops(lambda: F.conv2d(image, weight, padding=1))
    assert work == floors.Work(conv=2 * c_in * c_out * 9 * height * width)
    assert work.kind == "conv"
    reference = floors.conv_reference(4, 6)
    assert reference.flops == 2 * 4 * 4 * 9 * 6 * 6 == floors.count_flops(reference.run).total


def test_correlations_count_a_multiply_add_per_channel_and_pair():
    batch, channels, height, width, radius = 2, 3, 4, 5, 2
    target = torch.randn(batch, channels, height, width)
    source = torch.randn(batch, channels, height, width)
    window = (2 * radius + 1) ** 2  # source cells per target cell
    local = floors.count_flops(lambda: local_correlation(target, source, radius))
    assert local == floors.Work(matmul=2 * batch * channels * height * width * window)
    volume = local_correlation(target, source, radius)
    adjoint = floors.count_flops(lambda: local_correlation_adjoint(volume, source, radius))
    assert adjoint == local
    every = floors.count_flops(lambda: global_correlation(target, source))
    assert every == floors.Work(matmul=2 * batch * channels * (height * width) ** 2)


# -- floors and ratios --------------------------------------------------------------------------


def test_the_ratio_is_the_median_round_and_equals_time_over_floor():
    # floors 1, 2, 4, 1, 1 s (speeds 1, 0.5, 0.25, 1, 1 FLOP/s for 1 FLOP); ratios 3, 1, 2, 5, 4
    seconds, speeds = [3.0, 2.0, 8.0, 5.0, 4.0], [1.0, 0.5, 0.25, 1.0, 1.0]
    floored = floors.against_floor(seconds, speeds, flops=1)
    assert floored.ratio == 3.0  # the median of the rounds' ratios (median time / median floor
    assert floored.ms == 3000.0  # would be 4 / 1 = 4)
    assert floored.floor_ms == 1000.0
    assert floored.ms / floored.floor_ms == floored.ratio


class _Log:
    """Functions that record their calls, each long enough to be run once per round."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def fn(self, name: str, seconds: float = 0.03):
        def run() -> None:
            self.calls.append(name)
            time.sleep(seconds)

        return run


def test_rounds_alternate_case_and_reference_and_read_the_load_before_and_after():
    log, loads = _Log(), iter([1.0, 2.0])
    references = {
        kind: floors.Reference(kind, kind, 1, log.fn(f"reference {kind}"))
        for kind in ("matmul", "conv")
    }
    timer = floors.Timer(
        references, torch.device("cpu"), rounds=5, load_limit=1.5, read_load=lambda: next(loads)
    )
    runs = timer.run({"case": log.fn("case"), "other": log.fn("other")})
    warm_up = ["case", "other", "reference matmul"]
    assert log.calls == warm_up + ["case", "other", "reference matmul"] * 5
    assert [len(values) for values in runs.seconds.values()] == [5, 5]
    assert len(runs.speeds) == 5
    assert (runs.load_start, runs.load_end, runs.under_load) == (1.0, 2.0, True)
    assert runs.load() == "1.0-2.0 (under load)"
    with pytest.raises(ValueError, match="at least 5"):
        floors.Timer(references, torch.device("cpu"), rounds=4)


@pytest.mark.parametrize(
    ("start", "end", "marked"),
    [(1.5, 1.5, False), (1.4, 1.51, True), (1.6, 0.2, True), (0.0, 1.0, False)],
)
def test_the_mark_appears_exactly_past_the_limit(start, end, marked):
    runs = floors.Runs({}, [], {}, floors.matmul_reference(2), start, end, load_limit=1.5)
    assert runs.under_load is marked
    assert runs.load().endswith("(under load)") is marked


# -- the whole command --------------------------------------------------------------------------


def _tables(report: str) -> dict[str, list[dict[str, str]]]:
    """Each markdown table of the report as rows of ``{column: cell}``, by title."""
    tables: dict[str, list[dict[str, str]]] = {}
    for block in report.split("### ")[1:]:
        title, _, body = block.partition("\n")
        lines = [line for line in body.splitlines() if line.startswith("|")]
        columns = [cell.strip() for cell in lines[0].strip("|").split("|")]
        tables[title] = [
            dict(zip(columns, (cell.strip() for cell in line.strip("|").split("|")), strict=True))
            for line in lines[2:]
        ]
    return tables


def _close(ratio: str, ms: str, floor: str) -> bool:
    """``ratio == ms / floor`` up to the three significant digits printed."""
    expected = float(ms) / float(floor)
    return abs(float(ratio) - expected) <= 0.01 * expected


def test_quick_run_prints_floors_and_marks_loaded_cases(tmp_path):
    loads = itertools.cycle([0.5, 1.0, 1.2, 2.4])  # the cases alternate quiet and loaded
    out = tmp_path / "bench.md"
    quiet_or_not = lambda: next(loads)  # noqa: E731
    report = bench.run(bench.QUICK, torch.device("cpu"), out, None, read_load=quiet_or_not)
    assert out.read_text() == report
    assert "Machine: CPU:" in report
    assert "Reference speeds measured here" in report
    tables = _tables(report)
    titles = ("Targets", "Local correlation", "Global correlation", "Global GOCor", "Local GOCor")
    for title in (*titles, "Training: backward", "Whole networks"):
        assert any(name.startswith(title) for name in tables), title

    marks = {True: 0, False: 0}
    for title, rows in tables.items():
        for row in rows:
            if "load" not in row:
                continue
            start, end = map(float, re.findall(r"\d+\.\d", row["load"]))
            loaded = max(start, end) > 1.5
            assert row["load"].endswith("(under load)") is loaded, (title, row)
            marks[loaded] += 1
    assert marks[True] and marks[False]

    # ratio = time / floor, as printed, beside every floor
    local = tables["Local correlation (B=1, square maps, float32)"]
    for row in local:
        assert _close(row["ours / floor"], row["ours ms"], row["floor ms"])
    global_rows = tables["Global correlation (B=1, square maps, float32)"]
    for row in global_rows:
        assert _close(row["ours (out=) / floor"], row["ours (out=) ms"], row["floor ms"])
        size, channels = int(row["h=w"]), int(row["C"])
        assert float(row["GFLOP"]) == pytest.approx(2 * channels * size**4 / 1e9, rel=0.01)
    for row in tables["Whole networks: the flow of an image pair"]:
        if row["floor ms"] != "-":
            assert _close(row["ms / floor"], row["ms"], row["floor ms"])
    backward = next(name for name in tables if name.startswith("Training"))
    for row in tables[backward]:
        assert _close(row["forward / floor"], row["forward ms"], row["forward floor ms"])
        if float(row["backward ms"]) > 0:
            assert _close(row["backward / floor"], row["backward ms"], row["backward floor ms"])


def test_targets_name_what_holds_and_what_misses():
    def table(*records):
        return bench.Table("t", [], records=list(records))

    local = [
        {"case": "a", "best_other_ratio": 1.2, "percent_of_peak": 25.0, "sampler_ratio": None},
        {"case": "b", "best_other_ratio": 0.8, "percent_of_peak": 5.0, "sampler_ratio": None},
    ]
    gocor = [
        {"case": "g1", "K": 3, "query": False, "ratio": 1.4},
        {"case": "g2", "K": 3, "query": True, "ratio": 2.0, "under_load": True},
        {"case": "g3", "K": 1, "query": True, "ratio": 9.0},  # not K=3
    ]
    checked = bench.targets(
        {
            "local": table(*local),
            "global": table({"case": "c", "ratio": 1.05}),
            "global_gocor": table(*gocor),
            "backward": table({"case": "x", "ratio": 2.0}, {"case": "y", "ratio": 4.5}),
            "networks": table(
                {"case": "ours", "seconds": 0.6, "ours": True},
                {"case": "authors'", "seconds": 9.0, "ours": False},  # not this project's
            ),
        }
    )
    measured = [row[1:] for row in checked.rows]  # the targets in the order of the issue
    assert measured == [
        ["min 0.80 (b)", "no: 1 of 2", "b: 0.80"],  # local correlation >= the best other
        ["not measured in this run", "-", ""],  # against the sampler op
        ["best 25.00 (a)", "reached in 1 of 2", ""],  # the 20% aim
        ["max 1.05 (c)", "yes", ""],  # global correlation
        ["max 1.40 (g1)", "yes", ""],  # global GOCor K=3 against its products, no query loss
        ["max 2.00 (g2)", "no: 1 of 1", "g2: 2.00"],  # with the query loss
        ["max 4.50 (y)", "no: 1 of 2", "y: 4.50"],  # backward / forward
        ["max 0.60 (ours)", "yes", ""],  # this project's network within 1.5 s
    ]
    assert any("(under load) below: 1 (e.g. g2)" in note for note in checked.notes)
