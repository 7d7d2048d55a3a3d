# SPDX-License-Identifier: MIT
"""The evaluation: metrics against hand-computed answers, the global level's cell accuracy by
hand, the small-motion set's truth by hand, and tiny runs of the command with a file of random
weights (the shipped network is never needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gocor_lite.cli.evaluate import main
from gocor_lite.core.features import make_extractor
from gocor_lite.data.pairs import ExamplePair
from gocor_lite.data.real import load_motorcycle
from gocor_lite.data.split import batch_of_pair
from gocor_lite.evaluation.methods import DenseFlowMethod, MethodScore, pairs_of_batch
from gocor_lite.evaluation.metrics import Metrics, score
from gocor_lite.evaluation.networks import (
    PROJECT,
    CellScore,
    ablation_pairs,
    best_cells,
    cell_scores,
    global_volumes,
    project_networks,
    true_cells,
)
from gocor_lite.evaluation.peers import dis_flow, opencv_available, zero_flow
from gocor_lite.evaluation.report import (
    ablation_table,
    cells_table,
    default_methods,
    methods_table,
    report,
    run_evaluation,
    summary_table,
)
from gocor_lite.evaluation.sets import EVALUATION_SETS
from tests.random_weights import write_random_small_glunet


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory):
    """A small-GLU-Net file of random weights (both variants)."""
    return write_random_small_glunet(tmp_path_factory.mktemp("weights") / "glunet_small.pt")


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
    assert (metrics.pck1, metrics.pck3, metrics.pck5) == (25.0, 50.0, 75.0)
    assert (metrics.pck10, metrics.pck_cell) == (75.0, 75.0)  # 10 is not below 10
    dense = score(predicted, truth, known, stride=None)
    assert math.isnan(dense.pck_cell) and math.isnan(dense.aepe_cells)
    with pytest.raises(ValueError, match="no known matches"):
        score(predicted, truth, torch.zeros_like(known), stride=8)
    with pytest.raises(ValueError, match="expected predicted and truth"):
        score(predicted[:, :1], truth, known, stride=8)


def _metrics(aepe: float, pck: float) -> Metrics:
    nan = float("nan")
    return Metrics(aepe, nan, pck, pck + 1, pck + 2, pck + 3, nan, 10)


def test_tables():
    results = {
        "aloe": {
            "GLU-Net": MethodScore(_metrics(2.0, 50.0), 0.25, 1),
            "GLU-Net-GOCor": MethodScore(_metrics(1.5, 60.0), 0.5, 1),
        }
    }
    table = methods_table(results)
    assert "| aloe | GLU-Net | 2.00 | 50.0 | 51.0 | 52.0 | 53.0 | 250 |" in table
    ablation = ablation_table(results, "GLU-Net", "GLU-Net-GOCor")
    assert "| aloe | GLU-Net-GOCor | 1.50 | 60.0 | 61.0 | 62.0 | 63.0 |" in ablation
    assert "| aloe | change with GOCor | -0.50 | +10.0 | +10.0 | +10.0 | +10.0 |" in ablation
    cells = cells_table({"aloe": {("net", "global GOCor"): CellScore(12.5, 50.0, 8)}})
    assert "| aloe | net | global GOCor | 12.5 | 50.0 | 8 |" in cells


# -- the global level's cells, by hand ------------------------------------------------------------


def test_true_cells_by_hand():
    # A 64x48 target and source, 16x16 cells of 4x3 px; the true flow is (+20, -3) px, unknown
    # at pixel (30, 10). Cell (row i, column j) is centred on pixel (4j + 1.5, 3i + 1): its match
    # (4j + 21.5, 3i - 2) lies in source cell (floor((4j + 22) / 4), floor((3i - 1.5) / 3)) =
    # (j + 5, i - 1), inside for j <= 10 and i >= 1.
    flow = np.zeros((2, 48, 64), np.float32)
    flow[0], flow[1] = 20.0, -3.0
    flow[:, 10, 30] = np.nan
    cells, counted = true_cells(flow, (48, 64), (16, 16))
    for i in range(16):
        for j in range(16):
            # The centre reads columns 4j + 1 and 4j + 2 of row 3i + 1 (the row below has weight
            # 0): only cell (3, 7) reads the unknown pixel (30, 10).
            unknown = (i, j) == (3, 7)
            assert bool(counted[i, j]) == (j <= 10 and i >= 1 and not unknown), (i, j)
            if not unknown:
                assert cells[:, i, j].tolist() == [j + 5, i - 1], (i, j)


def test_best_cells_and_their_scores_by_hand():
    volume = torch.zeros(1, 2, 2, 2, 3)
    volume[0, 0, 0, 1, 2] = 1.0  # target cell (0, 0) -> source (column 2, row 1)
    volume[0, 0, 1, 0, 0] = 1.0
    volume[0, 1, 0, 0, 1] = 1.0
    volume[0, 1, 1, 1, 1] = 1.0
    found = best_cells(volume)
    assert found[:, 0, 0].tolist() == [2, 1] and found[:, 1, 1].tolist() == [1, 1]
    assert found[:, 0, 1].tolist() == [0, 0] and found[:, 1, 0].tolist() == [1, 0]


def test_global_volumes_are_the_networks_own(weights_file):
    image = np.asarray(load_motorcycle().target[::4, ::4])  # any real image, small
    target, source = image[:60, :80], image[4:64, 2:82]
    for entry in project_networks(weights_file):
        volumes = global_volumes(entry.network, target, source)
        level = entry.network.trace(target, source).level("level4")
        own = "global GOCor" if entry.has_gocor else "global correlation"
        assert set(volumes) == (
            {"global correlation", "global GOCor"} if entry.has_gocor else {own}
        )
        torch.testing.assert_close(volumes[own], level.volume)  # what the network computed


def test_cell_scores_count_a_known_answer(weights_file):
    # Target = source: a network whose volume peaks on the diagonal is always right. The
    # correlation of identical features peaks on the diagonal (each unit vector's best match
    # is itself, unless two cells have the same features; the picture has none).
    (entry, *_) = project_networks(weights_file)
    image = np.asarray(load_motorcycle().target[::3, ::3])
    pair = ExamplePair("same", "", image, image, np.zeros((2, *image.shape[:2]), np.float32))
    scores = cell_scores([entry], [pair])
    correlation = scores[(entry.name, "global correlation")]
    assert correlation.count == 16 * 16 and correlation.right == 100.0 and correlation.near == 100.0


# -- the small-motion set --------------------------------------------------------------------------


def test_the_small_motion_set_is_small_and_its_truth_is_right():
    from gocor_lite.data.photos import held_out_pairs
    from gocor_lite.evaluation.sets import (
        SMALL_MOTION,
        SMALL_MOTION_LIMIT,
        SMALL_MOTION_SEED,
        load_set,
    )

    pairs = load_set("small-motion", pairs_per_image=4).pairs  # one pair per photograph
    lengths = pairs.flow.norm(dim=1)[pairs.valid[:, 0]]
    assert SMALL_MOTION_LIMIT == 3.0 and float(lengths.max()) <= 3.0
    assert float(lengths.mean()) > 0.3  # it moves
    plain = held_out_pairs(
        1, (240, 320), SMALL_MOTION_SEED, options=SMALL_MOTION, photometric=False
    )
    torch.testing.assert_close(plain.flow, pairs.flow, rtol=0, atol=0)  # same warps
    # One pixel by hand: target pixel (x, y) of pair 0 shows the source at (x, y) + flow, read
    # bilinearly from its four neighbours.
    x, y = 160, 120
    u, v = plain.flow[0, :, y, x].double().tolist()
    sx, sy = x + u, y + v
    x0, y0 = math.floor(sx), math.floor(sy)
    fx, fy = sx - x0, sy - y0
    image = plain.source[0].double()
    read = (
        (1 - fx) * (1 - fy) * image[:, y0, x0]
        + fx * (1 - fy) * image[:, y0, x0 + 1]
        + (1 - fx) * fy * image[:, y0 + 1, x0]
        + fx * fy * image[:, y0 + 1, x0 + 1]
    )
    torch.testing.assert_close(plain.target[0, :, y, x].double(), read, atol=1e-5, rtol=0)


# -- runs ----------------------------------------------------------------------------------------


def test_a_tiny_evaluation_runs(tmp_path):
    evaluation = run_evaluation(
        {"daisy": make_extractor("daisy")},
        pairs_per_image=1,
        sets=("natural",),
        gocor_weights=tmp_path / "none.pt",  # no trained parameters: paper-initial rows only
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
    assert evaluation.methods == {} and evaluation.cells == {} and evaluation.ablations == []


def test_the_networks_on_a_tiny_set(weights_file):
    """This project's two networks (random weights) and zero flow on the motorcycle pair: every
    row there, the numbers recomputed here from the networks' own flows."""
    networks = project_networks(weights_file)
    assert [entry.name for entry in networks] == [
        "ours: GLU-Net-GOCor (small pyramid)",
        "ours: GLU-Net (small pyramid, feature correlation)",
    ]
    evaluation = run_evaluation(
        {},
        sets=("motorcycle",),
        networks=networks,
        methods=[DenseFlowMethod("zero flow", zero_flow)],
    )
    (pair,) = pairs_of_batch(batch_of_pair(load_motorcycle(), 320), "motorcycle")  # as seen
    truth = torch.from_numpy(pair.flow).double()
    known = torch.isfinite(truth).all(dim=0)
    scores = evaluation.methods["motorcycle"]
    assert list(scores) == [*(entry.name for entry in networks), "zero flow"]
    for entry in networks:
        flow = entry.network.estimate_flow(pair.target, pair.source)[0].double()
        error = (flow - truth).norm(dim=0)[known]
        assert scores[entry.name].metrics.aepe == pytest.approx(float(error.mean()), rel=1e-5)
        assert scores[entry.name].metrics.pck10 == pytest.approx(
            100 * float((error < 10).double().mean()), abs=1e-9
        )
    assert evaluation.ablations == [(PROJECT, networks[1].name, networks[0].name)]
    cells = evaluation.cells["motorcycle"]
    assert set(cells) == {
        (networks[0].name, "global correlation"),
        (networks[0].name, "global GOCor"),
        (networks[1].name, "global correlation"),
    }
    assert all(0 < cell.count <= 256 for cell in cells.values())
    text = report(evaluation, "test")
    for name in (*(entry.name for entry in networks), "zero flow"):
        assert f"| motorcycle | {name} |" in text
    assert "## The GOCor paper's ablation" in text and "| motorcycle | change with GOCor |" in text
    assert f"| motorcycle | {networks[0].name} | global GOCor |" in text


def test_ablation_pairs_need_one_of_each_kind(weights_file):
    gocor, plain = project_networks(weights_file)
    assert ablation_pairs([gocor]) == []
    assert ablation_pairs([plain, gocor]) == [(PROJECT, plain.name, gocor.name)]


def test_the_command_writes_its_tables(tmp_path, capsys, weights_file):
    out = tmp_path / "evaluation.md"
    args = ["--out", str(out), "--extractors", "daisy", "--sets", "motorcycle"]
    args += ["--network-weights", str(weights_file), "--pairs-per-image", "1"]
    assert main(args) == 0
    text = out.read_text()
    assert "### Volumes: `motorcycle`" in text and "| daisy | local GOCor | trained | 7 |" in text
    assert "| motorcycle | zero flow |" in text
    assert "| motorcycle | ours: GLU-Net-GOCor (small pyramid) |" in text
    assert "| motorcycle | ours: GLU-Net (small pyramid, feature correlation) |" in text
    assert "| motorcycle | change with GOCor |" in text
    assert "| motorcycle | ours: GLU-Net-GOCor (small pyramid) | global GOCor |" in text
    assert "| motorcycle | sinkhorn |" in text and "| motorcycle | gocor (initial) |" in text
    assert (tmp_path / "rules_calibration.png").stat().st_size > 1000
    assert main(["--out", str(out), "--vgg16", str(tmp_path / "missing.pth")]) == 1
    assert "missing.pth" in capsys.readouterr().err
    missing = ["--out", str(out), "--network-weights", str(tmp_path / "none.pt")]
    assert main(missing) == 1  # a file named and not there is an error
    assert "run `make train`" in capsys.readouterr().err


def test_without_the_weights_file_the_command_says_make_train_and_runs_the_peers(
    tmp_path, capsys, monkeypatch
):
    import gocor_lite.evaluation.networks as networks

    monkeypatch.setattr(networks, "SMALL_GLUNET", tmp_path / "glunet_small.pt")  # not there
    out = tmp_path / "evaluation.md"
    assert main(["--out", str(out), "--extractors", "--sets", "motorcycle"]) == 0
    assert "run `make train`" in capsys.readouterr().err
    text = out.read_text()
    assert "run `make train`" in text and "| motorcycle | zero flow |" in text
    assert "ours:" not in text and "## The GOCor paper's ablation" not in text


def test_a_vgg16_file_adds_its_rows(tmp_path):
    from tests.test_extractors import random_vgg_state

    path = tmp_path / "vgg16-fake.pth"
    torch.save(random_vgg_state(torch.Generator().manual_seed(0)), path)
    out = tmp_path / "evaluation.md"
    args = ["--out", str(out), "--extractors", "--vgg16", str(path), "--sets", "motorcycle"]
    assert main([*args, "--no-methods", "--no-rules"]) == 0
    text = out.read_text()
    assert "| vgg16 | global correlation |" in text
    assert "| vgg16 | global GOCor | trained |" not in text  # none trained for these features


@pytest.mark.slow
def test_the_authors_networks_join_from_their_files(tmp_path, weights_file):
    from tests.test_glunet import random_checkpoint

    paths = []
    for gocor, name in ((False, "GLUNet_static.pth"), (True, "GLUNet_GOCor_static.pth")):
        paths.append(tmp_path / name)
        torch.save(random_checkpoint(gocor), paths[-1])
    out = tmp_path / "evaluation.md"
    args = ["--out", str(out), "--extractors", "--sets", "motorcycle", "--no-rules"]
    args += ["--network-weights", str(weights_file), "--official-weights", *map(str, paths)]
    assert main(args) == 0
    text = out.read_text()
    assert "| motorcycle | the authors' GLU-Net (GLUNet_static.pth) |" in text
    assert "| motorcycle | the authors' GLU-Net-GOCor (GLUNet_GOCor_static.pth) |" in text
    assert "### The authors' networks" in text and "### This project's networks" in text
    assert (
        "| motorcycle | the authors' GLU-Net-GOCor (GLUNet_GOCor_static.pth) | global GOCor |"
        in (text)
    )


def test_peers_on_every_set():
    """A tiny run of the flow part: every method on every set, in the report's table."""
    methods = [DenseFlowMethod("zero flow", zero_flow)]
    if opencv_available():
        methods.append(DenseFlowMethod("OpenCV DIS (medium)", dis_flow))
    evaluation = run_evaluation(
        {}, pairs_per_image=1, sets=EVALUATION_SETS, volumes=False, methods=methods
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
    assert "## Flow: every method on every set" in text and "## Volumes" not in text


def test_missing_sets_are_skipped_and_said(monkeypatch, tmp_path):
    monkeypatch.setenv("GOCOR_OPENCV_DATA", str(tmp_path))
    evaluation = run_evaluation(
        {},
        pairs_per_image=1,
        sets=("motorcycle", "aloe", "graffiti", "photos", "small-motion"),
        volumes=False,
        methods=[DenseFlowMethod("zero flow", zero_flow)],
    )
    assert list(evaluation.sets) == ["motorcycle"]
    assert set(evaluation.skipped) == {"aloe", "graffiti", "photos", "small-motion"}
    text = report(evaluation, "test")
    assert "Skipped (not installed here):" in text and "apt-get install opencv-doc" in text


def test_the_default_methods_are_the_networks_then_the_peers(weights_file):
    networks = project_networks(weights_file)
    names = [method.name for method in default_methods(networks)]
    assert names[:2] == [entry.name for entry in networks] and names[-1] == "zero flow"
    if opencv_available():
        assert names[2:4] == ["OpenCV DIS (medium)", "OpenCV Farneback"]


def test_a_flow_off_by_a_known_vector_scores_its_known_answer():
    """A method whose flow is the truth moved by (2.4, 3.2) px (4 px away) at every known pixel:
    the evaluation must say AEPE 4, PCK-1 and PCK-3 zero, PCK-5 and PCK-10 all, over exactly the
    known pixels counted here by hand, whatever it computes internally."""
    (pair,) = pairs_of_batch(batch_of_pair(load_motorcycle(), 320), "motorcycle")  # as seen
    assert pair.flow is not None
    truth = np.nan_to_num(pair.flow, nan=0.0)
    offset = np.array([2.4, 3.2], dtype=np.float32)[:, None, None]

    def off_by_four(target: np.ndarray, source: np.ndarray) -> np.ndarray:
        assert target.shape == pair.target.shape and source.shape == pair.source.shape
        return truth + offset

    evaluation = run_evaluation(
        {},
        sets=("motorcycle",),
        networks=(),
        methods=[DenseFlowMethod("off by four", off_by_four)],
    )
    metrics = evaluation.methods["motorcycle"]["off by four"].metrics
    known = int(np.isfinite(pair.flow).all(axis=0).sum())
    assert known > 1000 and metrics.count == known
    assert metrics.aepe == pytest.approx(4.0, abs=1e-4)
    assert (metrics.pck1, metrics.pck3, metrics.pck5, metrics.pck10) == (0.0, 0.0, 100.0, 100.0)
