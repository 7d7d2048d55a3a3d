# SPDX-License-Identifier: MIT
"""The peers (OpenCV's DIS and Farneback, zero flow) in the project's flow convention, and the
method interface of the evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from gocor_lite.data.pairs import ExamplePair
from gocor_lite.evaluation.methods import DenseFlowMethod, run_method, score_methods
from gocor_lite.evaluation.peers import (
    dis_flow,
    farneback_flow,
    opencv_available,
    peer_methods,
    zero_flow,
)

needs_cv2 = pytest.mark.skipif(
    not opencv_available(), reason="opencv-python-headless is not installed (the eval extra)"
)
OPENCV_FLOWS = [dis_flow, farneback_flow]


def shifted_crops(dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 240x320 crops of a real photograph (skimage's coffee) such that target pixel p shows
    what source pixel p + (dx, dy) shows: the source crop starts (dx, dy) earlier."""
    image = data.coffee()  # (400, 600, 3)
    top, left = 80, 140
    target = image[top : top + 240, left : left + 320]
    source = image[top - dy : top - dy + 240, left - dx : left - dx + 320]
    return target, source


def interior_error(flow: np.ndarray, dx: float, dy: float, margin: int = 16) -> np.ndarray:
    """Endpoint errors against a constant flow (dx, dy), away from the borders."""
    inner = flow[:, margin:-margin, margin:-margin]
    return np.hypot(inner[0] - dx, inner[1] - dy)


@needs_cv2
@pytest.mark.parametrize("peer", OPENCV_FLOWS, ids=lambda peer: peer.__name__)
def test_peers_recover_a_known_translation_in_our_direction(peer):
    # Target pixel p shows the photograph at p + corner; source pixel q at q + corner - (3, -2):
    # the same point is at q = p + (3, -2). A flow in the other direction (source to target)
    # would read (-3, 2), an error of 7.2 px.
    target, source = shifted_crops(3, -2)
    flow = peer(target, source)
    assert flow.dtype == np.float32 and flow.shape == (2, 240, 320)
    error = interior_error(flow, 3.0, -2.0)
    assert np.median(error) < 0.1
    # Measured here: DIS 0.11 px; Farneback 0.90 px, stuck near zero on the plain saucer.
    assert error.mean() < (0.25 if peer is dis_flow else 1.5)
    reverse = interior_error(peer(source, target), -3.0, 2.0)
    assert np.median(reverse) < 0.1  # swapping the images swaps the sign


@needs_cv2
@pytest.mark.parametrize("peer", OPENCV_FLOWS, ids=lambda peer: peer.__name__)
def test_a_source_of_another_size_is_resized_and_the_flow_mapped_back(peer):
    # The source is the target at twice the size: target pixel p is source pixel 2p + 0.5
    # (pixel centres at integers), so the flow is p + 0.5.
    from PIL import Image

    target, _ = shifted_crops(0, 0)
    source = np.asarray(Image.fromarray(target).resize((640, 480), Image.BILINEAR))
    flow = peer(target, source)
    assert flow.shape == (2, 240, 320)
    y, x = np.mgrid[0:240, 0:320]
    error = np.hypot(flow[0] - (x + 0.5), flow[1] - (y + 0.5))[16:-16, 16:-16]
    assert np.median(error) < 0.2


def test_zero_flow_is_zero():
    target, source = shifted_crops(3, -2)
    flow = zero_flow(target, source[:100])
    assert flow.dtype == np.float32 and flow.shape == (2, 240, 320) and not flow.any()
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\)"):
        zero_flow(target.astype(np.float32), source)


def test_peer_methods_list_every_peer():
    names = [method.name for method in peer_methods()]
    assert names[-1] == "zero flow"
    if opencv_available():
        assert names == ["OpenCV DIS (medium)", "OpenCV Farneback", "zero flow"]


def test_methods_are_scored_against_hand_computed_errors():
    target = np.zeros((2, 3, 3), dtype=np.uint8)
    truth = np.zeros((2, 2, 3), dtype=np.float32)
    truth[:, 0, 0] = np.nan  # unknown: not counted
    truth[0, 1, 2] = 4.0  # a true flow of 4 px in x at one pixel
    pairs = [
        ExamplePair("a", "", target, target, truth),
        ExamplePair("b", "", target, target, truth),
    ]
    scores = score_methods([DenseFlowMethod("zero", zero_flow)], pairs)
    zero = scores["zero"]
    # 5 known pixels per pair, one of them 4 px off: AEPE 4/5, PCK-1 = PCK-3 = 80 %.
    assert zero.pairs == 2 and zero.metrics.count == 10
    assert zero.metrics.aepe == pytest.approx(0.8)
    assert (zero.metrics.pck1, zero.metrics.pck3, zero.metrics.pck5) == (80.0, 80.0, 100.0)
    assert zero.seconds_per_pair >= 0


def test_a_method_with_a_bad_flow_is_named():
    target = np.zeros((4, 5, 3), dtype=np.uint8)
    pair = ExamplePair("a", "", target, target, np.zeros((2, 4, 5), dtype=np.float32))
    wrong = DenseFlowMethod("wrong", lambda t, s: np.zeros((2, 5, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"'wrong' returned a flow of shape \(2, 5, 4\)"):
        run_method(wrong, pair)
    nan = DenseFlowMethod("nan", lambda t, s: np.full((2, 4, 5), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="'nan' returned a flow with NaN"):
        run_method(nan, pair)
