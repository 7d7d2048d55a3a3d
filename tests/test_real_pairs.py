# SPDX-License-Identifier: MIT
"""Real pairs with ground truth (gocor_lite.data.real) against their file formats.

Each pair is pinned by points measured by hand: zoomed crops of both images around a distinctive
detail (saved as PNG with a grid line every 5 pixels and looked at by eye), the detail's centre
read off in the target and in the source to about half a pixel. The numbers below are those
readings, not outputs of the loaders.
"""

from __future__ import annotations

import numpy as np
import pytest

from gocor_lite.data.examples import example_names, load_example
from gocor_lite.data.real import (
    REAL_PAIRS,
    MissingDataError,
    disparity_flow,
    homography_flow,
    load_aloe,
    load_graffiti,
    load_motorcycle,
    load_real_pair,
    missing_files,
    opencv_data_dir,
    read_opencv_matrix,
    real_pair_available,
)

needs_opencv_doc = pytest.mark.skipif(
    not (opencv_data_dir() / "graf1.png").is_file(),
    reason="Debian's opencv-doc is not installed (apt-get install opencv-doc)",
)


def _match(flow: np.ndarray, x: int, y: int) -> np.ndarray:
    """The source position of target pixel (x, y)."""
    return np.array([x + flow[0, y, x], y + flow[1, y, x]])


def test_homography_flow_against_a_hand_computed_map():
    # x' = 2x + 1, y' = y - 3: target (2, 5) -> source (5, 2).
    homography = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, -3.0], [0.0, 0.0, 1.0]])
    flow = homography_flow(homography, (8, 6), (20, 10))  # the source is 10 wide, 20 high
    assert flow.dtype == np.float32 and flow.shape == (2, 8, 6)
    np.testing.assert_allclose(_match(flow, 2, 5), [5.0, 2.0])
    assert np.isnan(flow[:, 0, 0]).all()  # y' = -3: above the source
    assert np.isnan(flow[:, 4, 5]).all()  # x' = 11 > 9: right of a 10-wide source
    np.testing.assert_allclose(_match(flow, 4, 3), [9.0, 0.0])  # on the last column, first row
    # A projective one: x' = x / (1 + x / 10), y' = y / (1 + x / 10); (5, 4) -> (10/3, 8/3).
    projective = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.1, 0.0, 1.0]])
    flow = homography_flow(projective, (8, 6), (8, 6))
    np.testing.assert_allclose(_match(flow, 5, 4), [10 / 3, 8 / 3], rtol=1e-6)
    with pytest.raises(ValueError, match="3x3"):
        homography_flow(np.eye(2), (4, 4), (4, 4))


def test_disparity_flow_points_left_and_marks_unknown_and_outside():
    disparity = np.array([[0.0, 1.0, 2.5, 2.0]])
    flow = disparity_flow(disparity, disparity > 0)
    assert np.isnan(flow[:, 0, 0]).all()  # 0: unknown
    np.testing.assert_array_equal(flow[:, 0, 1], [-1.0, 0.0])  # x = 1 -> 0, the first column
    assert np.isnan(flow[:, 0, 2]).all()  # x = 2 -> -0.5: left of the right image
    np.testing.assert_array_equal(flow[:, 0, 3], [-2.0, 0.0])


def test_opencv_matrix_reader(tmp_path):
    path = tmp_path / "h.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<opencv_storage>\n<H type_id="opencv-matrix">\n'
        "<rows>2</rows><cols>3</cols><dt>d</dt>\n<data>\n 1. 2e0 3\n -4 5.5 6 </data></H>\n"
        "</opencv_storage>\n"
    )
    np.testing.assert_array_equal(read_opencv_matrix(path), [[1, 2, 3], [-4, 5.5, 6]])
    with pytest.raises(ValueError, match="no OpenCV matrix <K>"):
        read_opencv_matrix(path, "K")
    path.write_text("<other/>")
    with pytest.raises(ValueError, match="not an OpenCV FileStorage"):
        read_opencv_matrix(path)


def test_motorcycle_against_a_hand_checked_point():
    pair = load_motorcycle()
    assert pair.target.shape == pair.source.shape == (500, 741, 3)
    assert pair.flow is not None and pair.flow.shape == (2, 500, 741)
    # Hand-checked: the highlight on the front orange indicator is at (574.5, 132.5) in the
    # left image and at (521.5, 132.5) in the right one: a disparity of 53 px.
    np.testing.assert_allclose(_match(pair.flow, 574, 132), [521.5, 132.0], atol=1.0)
    assert not np.nanmax(np.abs(pair.flow[1]))  # rectified: no vertical motion


@needs_opencv_doc
def test_graffiti_homography_direction_and_pixel_convention():
    homography = read_opencv_matrix(opencv_data_dir() / "H1to3p.xml")
    assert homography.shape == (3, 3) and homography[2, 2] == 1.0
    pair = load_graffiti()
    assert pair.target.shape == pair.source.shape == (640, 800, 3)
    assert pair.flow is not None
    # Hand-checked in graf1 (target) and graf3 (source): the lowest pixel of the chicken's
    # orange beak is at (515, 343) and (440, 378); the centre of the X drawn on the chicken's
    # eye at (527, 221) and (476, 275). The inverse homography would put them 50-100 px away.
    np.testing.assert_allclose(_match(pair.flow, 515, 343), [440.0, 378.0], atol=1.0)
    np.testing.assert_allclose(_match(pair.flow, 527, 221), [476.0, 275.0], atol=1.0)
    known = np.isfinite(pair.flow[0])
    assert 0.9 < known.mean() < 1.0  # most of graf1 is seen in graf3; a strip is not
    x = np.arange(800)[None, :] + pair.flow[0]
    assert np.nanmin(x) >= 0 and np.nanmax(x) <= 799  # outside the source: NaN


@needs_opencv_doc
def test_aloe_disparity_scale_and_invalid_value():
    from PIL import Image

    raw = np.asarray(Image.open(opencv_data_dir() / "aloeGT.png"))
    assert raw.dtype == np.uint8 and raw.shape == (1110, 1282)
    pair = load_aloe()
    assert pair.target.shape == pair.source.shape == (1110, 1282, 3)
    assert pair.flow is not None
    # Hand-checked: a white speck on the pot is at (822, 999) in aloeL and (711.7, 999) in aloeR,
    # where aloeGT.png says 110; a dark dot in the cloth is at (193, 155) and (144.7, 155), where
    # it says 48. So the PNG holds the disparity in pixels at full resolution, unscaled.
    assert raw[999, 822] == 110 and raw[155, 193] == 48
    np.testing.assert_allclose(_match(pair.flow, 822, 999), [711.7, 999.0], atol=1.0)
    np.testing.assert_allclose(_match(pair.flow, 193, 155), [144.7, 155.0], atol=1.0)
    # 0 is the invalid value (3.5 % of the pixels, the occlusions): NaN in the flow.
    zeros = raw == 0
    assert 0.02 < zeros.mean() < 0.05 and np.isnan(pair.flow[:, zeros]).all()
    assert raw[~zeros].min() > 40  # the nearest valid value is far from 0


def test_missing_files_raise_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("GOCOR_OPENCV_DATA", str(tmp_path))
    assert not real_pair_available("graffiti-1-3") and real_pair_available("stereo-motorcycle")
    assert missing_files("stereo-aloe")[0] == tmp_path / "aloeL.jpg"
    for name in ("graffiti-1-3", "stereo-aloe"):
        with pytest.raises(MissingDataError, match=r"missing: .*apt-get install opencv-doc"):
            load_real_pair(name)
    # The gallery lists only what is there.
    assert "graffiti-1-3" not in example_names() and "stereo-motorcycle" in example_names()
    with pytest.raises(ValueError, match="unknown real pair"):
        missing_files("other")


@needs_opencv_doc
@pytest.mark.parametrize("name", list(REAL_PAIRS))
def test_real_pairs_join_the_gallery_with_their_truth(name):
    assert name in example_names()
    pair = load_example(name)
    assert pair.name == name and pair.flow is not None and pair.flow.dtype == np.float32
    assert pair.flow.shape == (2, *pair.target.shape[:2])
    assert np.isfinite(pair.flow[0]).mean() > 0.8


@needs_opencv_doc
def test_graffiti_homography_is_0_based_by_photometric_error():
    """Sampling graf3 where the flow points, over graf1's grid, matches graf1 best with the
    0-based reading of H1to3p.xml: the 1-based one (H applied to p + 1, minus 1) and the flow
    moved by a quarter pixel either way, in x or in y, all match worse."""
    from scipy.ndimage import map_coordinates

    pair = load_graffiti()
    assert pair.flow is not None
    target = pair.target.mean(axis=2)
    source = pair.source.mean(axis=2)
    y, x = np.mgrid[0:640, 0:800].astype(np.float64)
    homography = read_opencv_matrix(opencv_data_dir() / "H1to3p.xml")
    shift = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    one_based = homography_flow(np.linalg.inv(shift) @ homography @ shift, (640, 800), (640, 800))
    inner = np.isfinite(pair.flow[0]) & np.isfinite(one_based[0])

    def error(flow: np.ndarray, dx: float = 0.0, dy: float = 0.0) -> float:
        sx, sy = x + np.nan_to_num(flow[0]) + dx, y + np.nan_to_num(flow[1]) + dy
        sampled = map_coordinates(source, [sy, sx], order=1, mode="nearest")
        keep = inner & (sx > 4) & (sx < 795) & (sy > 4) & (sy < 635)
        return float(np.sqrt(np.mean((sampled[keep] - target[keep]) ** 2)))

    best = error(pair.flow)
    assert best < error(one_based)
    for dx, dy in ((0.25, 0), (-0.25, 0), (0, 0.25), (0, -0.25)):
        assert best < error(pair.flow, dx, dy), (dx, dy)
