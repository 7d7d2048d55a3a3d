# SPDX-License-Identifier: MIT
"""The evaluation: metrics against hand-computed answers, and a tiny run of the command."""

from __future__ import annotations

import math

import pytest
import torch

from gocor_lite.cli.evaluate import main
from gocor_lite.data.real import load_motorcycle
from gocor_lite.data.split import batch_of_pair
from gocor_lite.evaluation.methods import DenseFlowMethod
from gocor_lite.evaluation.metrics import Metrics, score
from gocor_lite.evaluation.peers import dis_flow, opencv_available, zero_flow
from gocor_lite.evaluation.report import (
    default_methods,
    flow_table,
    methods_table,
    report,
    run_evaluation,
    summary_table,
)
from gocor_lite.evaluation.sets import EVALUATION_SETS
from gocor_lite.features import make_extractor


def test_score_against_hand_computed_errors():
    truth = torch.zeros(1, 2, 1, 5, dtype=torch.float64)
    predicted = truth.clone()
    predicted[0, 0] = torch.tensor([0.5, 2.0, 0.0, 10.0, 99.0])
    predicted[0, 1, 0, 2] = 4.0  # an error of 4 along y
    known = torch.tensor([[[True, True, True, True, False]]])  # the 99 does not count
    metrics = score(predicted, truth, known, stride=8)
    assert metrics.count == 4
    assert metrics.aepe == pytest.approx((0.5 + 2 + 4 + 10) / 4)
    assert metrics.aepe_cells == pytest.approx(16.5 / 4 / 8)
    assert (metrics.pck1, metrics.pck3, metrics.pck5, metrics.pck_cell) == (25.0, 50.0, 75.0, 75.0)
    dense = score(predicted, truth, known, stride=None)
    assert math.isnan(dense.pck_cell) and math.isnan(dense.aepe_cells)
    with pytest.raises(ValueError, match="no known matches"):
        score(predicted, truth, torch.zeros_like(known), stride=8)
    with pytest.raises(ValueError, match="expected predicted and truth"):
        score(predicted[:, :1], truth, known, stride=8)


def test_tables():
    metrics = Metrics(1.0, 0.125, 2.0, 3.0, 4.0, 5.0, 10)
    table = flow_table({("argmax", "gocor", "trained"): {"stereo": metrics}}, "learned")
    assert "| learned | argmax | + global and local GOCor | trained | 1.00 | 2.0 | 3.0 | 4.0 |" in (
        table
    )


def test_a_tiny_evaluation_runs(tmp_path):
    evaluation = run_evaluation(
        {"daisy": make_extractor("daisy")},
        pairs_per_image=1,
        sets=("natural",),
        gocor_weights=tmp_path / "none.pt",  # no trained parameters: paper-initial rows only
        flow=False,
        methods=[],
    )
    rows = {(row.method, row.parameters, row.iteration): row for row in evaluation.volumes}
    assert set(rows) == {
        ("global correlation", "", None),
        ("local correlation", "", None),
        *{("global GOCor", "paper initial", k) for k in (0, 1, 3, 7)},
        *{("local GOCor", "paper initial", k) for k in (0, 1, 3, 7)},
    }
    # Iteration 0 with the simple initialiser scales each target cell's scores by a positive
    # number (1 up to rounding, for unit vectors): its best matches are the plain correlation's.
    for method in ("global", "local"):
        gocor = rows[(f"{method} GOCor", "paper initial", 0)].metrics["natural"]
        plain = rows[(f"{method} correlation", "", None)].metrics["natural"]
        assert gocor.aepe == pytest.approx(plain.aepe, rel=1e-6)
        assert (gocor.pck1, gocor.pck5, gocor.pck_cell) == (plain.pck1, plain.pck5, plain.pck_cell)
    assert "| daisy | global correlation |" in summary_table(evaluation.volumes, ["natural"])


def test_the_command_writes_its_tables(tmp_path, capsys):
    out = tmp_path / "evaluation.md"
    args = ["--out", str(out), "--extractors", "daisy", "--sets", "motorcycle", "--no-flow"]
    assert main([*args, "--pairs-per-image", "1"]) == 0
    text = out.read_text()
    assert "### Volumes: `motorcycle`" in text and "| daisy | local GOCor | trained | 7 |" in text
    assert "| motorcycle | zero flow |" in text and "| motorcycle | ours: flow, feature" in text
    assert "| motorcycle | sinkhorn |" in text and "| motorcycle | gocor (initial) |" in text
    assert (tmp_path / "rules_calibration.png").stat().st_size > 1000
    assert main(["--out", str(out), "--vgg16", str(tmp_path / "missing.pth")]) == 1
    assert "missing.pth" in capsys.readouterr().err


def test_a_vgg16_file_adds_its_rows(tmp_path):
    from tests.test_extractors import random_vgg_state

    path = tmp_path / "vgg16-fake.pth"
    torch.save(random_vgg_state(torch.Generator().manual_seed(0)), path)
    out = tmp_path / "evaluation.md"
    args = ["--out", str(out), "--extractors", "--vgg16", str(path), "--sets", "motorcycle"]
    assert main([*args, "--no-flow", "--no-methods", "--no-rules"]) == 0
    text = out.read_text()
    assert "| vgg16 | global correlation |" in text
    assert "| vgg16 | global GOCor | trained |" not in text  # none trained for these features


def test_peers_and_ours_on_every_set():
    """A tiny run of the methods part: every method on every set, in the report's table."""
    methods = [DenseFlowMethod("zero flow", zero_flow)]
    if opencv_available():
        methods.append(DenseFlowMethod("OpenCV DIS (medium)", dis_flow))
    evaluation = run_evaluation(
        {}, pairs_per_image=1, sets=EVALUATION_SETS, flow=False, volumes=False, methods=methods
    )
    measured = set(evaluation.sets) | set(evaluation.skipped)
    assert measured == set(EVALUATION_SETS) and set(evaluation.methods) == set(evaluation.sets)
    table = methods_table(evaluation.methods)
    for set_name in evaluation.sets:
        for method in methods:
            assert f"| {set_name} | {method.name} |" in table
        zero = evaluation.methods[set_name]["zero flow"]
        assert zero.metrics.count > 0 and zero.seconds_per_pair >= 0
    # Zero flow's AEPE is the mean length of the true flow, computed here from the truth.
    pairs = evaluation.methods["motorcycle"]["zero flow"]
    truth = batch_of_pair(load_motorcycle(), 320)
    lengths = truth.flow.norm(dim=1)[truth.valid[:, 0]]
    assert pairs.metrics.aepe == pytest.approx(float(lengths.mean()), rel=1e-4)
    text = report(evaluation, "test")
    assert "## Peers and ours, every set" in text and "## Volumes" not in text


def test_missing_sets_are_skipped_and_said(monkeypatch, tmp_path):
    monkeypatch.setenv("GOCOR_OPENCV_DATA", str(tmp_path))
    evaluation = run_evaluation(
        {},
        pairs_per_image=1,
        sets=("motorcycle", "aloe", "graffiti", "photos"),
        flow=False,
        volumes=False,
        methods=[DenseFlowMethod("zero flow", zero_flow)],
    )
    assert list(evaluation.sets) == ["motorcycle"]
    assert set(evaluation.skipped) == {"aloe", "graffiti", "photos"}
    text = report(evaluation, "test")
    assert "Skipped (not installed here):" in text and "apt-get install opencv-doc" in text


@pytest.mark.slow
def test_the_default_methods_are_the_peers_and_ours():
    names = [method.name for method in default_methods()]
    assert "zero flow" in names and "ours: flow, feature correlation" in names
    assert "ours: flow, global and local GOCor (trained)" in names
    if opencv_available():
        assert names[:2] == ["OpenCV DIS (medium)", "OpenCV Farneback"]
    evaluation = run_evaluation(
        {}, pairs_per_image=1, sets=("motorcycle",), flow=False, volumes=False
    )
    table = methods_table(evaluation.methods)
    assert all(f"| motorcycle | {name} |" in table for name in names)
