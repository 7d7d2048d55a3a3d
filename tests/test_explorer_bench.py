# SPDX-License-Identifier: MIT
"""The app benchmark (``python -m tools.explorer_bench``, and its rows in ``python -m
gocor_lite.cli.bench``) runs and times every bundled pair."""

from __future__ import annotations

import math

from explorer.pipeline import WORKING_SIZES
from gocor_lite.data.examples import example_names
from tools import explorer_bench as bench


def test_measure_times_every_pair_at_a_small_size() -> None:
    timings = bench.measure(min(WORKING_SIZES), repeat=2, threads=1)
    assert list(timings) == example_names()
    for timing in timings.values():
        values = (timing.recompute, timing.click, timing.click_encoded, timing.click_max)
        assert all(math.isfinite(value) and value > 0 for value in values)
        # the encoded click includes the bare one; the slowest is at least the median
        assert timing.click <= timing.click_encoded <= timing.click_max


def test_main_prints_one_line_per_pair(capsys) -> None:
    assert bench.main(["--size", str(min(WORKING_SIZES)), "--repeat", "1", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[2:]] == example_names()
