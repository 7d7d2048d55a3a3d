# SPDX-License-Identifier: MIT
"""The load script's short form: 3 sessions click while a fourth recomputes the heaviest
settings the explorer allows (``python -m tools.explorer_load`` is the full form: 10 sessions)."""

from __future__ import annotations

import pytest

from explorer.pipeline import TIME_BUDGET, Pipeline, estimate_cost
from tools import explorer_load as load


def test_the_heavy_session_asks_for_the_heaviest_allowed_settings() -> None:
    settings = load.heaviest_settings("gravel-warp")
    pipeline = Pipeline()
    working = pipeline.prepare(pipeline.example_pair("gravel-warp"), settings)  # allowed
    cost = estimate_cost(working.target_grid, working.source_grid, settings)
    assert cost.seconds <= TIME_BUDGET
    # Heavy: more than half the budget (the query loss, or the matching rules of a large pair).
    assert cost.seconds > 0.5 * TIME_BUDGET


@pytest.mark.slow
def test_clicks_are_answered_while_another_session_recomputes() -> None:
    """No failure; the clicks are not queued behind the heavy computation: most of them are
    answered while it runs (with one queue for everything, none would be)."""
    report = load.run(sessions=3, clicks=5, pause=0.3)
    assert not report.failures, report.failures
    assert len(report.clicks) == 15
    assert report.heavy_seconds > 0
    assert report.during_heavy >= 8, (report.during_heavy, report.heavy_seconds)
    # Each click answered within a few seconds even on a loaded machine (the full form's
    # numbers are in the README); a click behind the computation would wait all of it.
    assert report.percentile(95) < max(5.0, 0.8 * report.heavy_seconds)
