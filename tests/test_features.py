# SPDX-License-Identifier: MIT
"""Feature extractors: the interface's contract, checked on the training-free DAISY baseline."""

from __future__ import annotations

import pytest
import torch

from gocor_lite.core.features import (
    DaisyOptions,
    default_extractor_name,
    extractor_names,
    make_extractor,
)


def test_daisy_cells_are_scikit_images_descriptors_at_the_cell_centres(generator):
    """Cell ``i`` holds DAISY's descriptor at pixel ``8 i + 4``: with ``radius=12`` those are
    exactly scikit-image's own samples on the unpadded grey image (``12 + 8 k``, cell ``k+1``),
    wherever the border (reflected here, DAISY's own handling there) is out of reach."""
    from skimage.color import rgb2gray
    from skimage.feature import daisy

    assert make_extractor("daisy").channels == 104 and make_extractor("daisy").stride == 8
    extractor = make_extractor("daisy", options=DaisyOptions(radius=12))
    images = torch.rand(2, 3, 128, 136, generator=generator, dtype=torch.float64)
    images = torch.nn.functional.avg_pool2d(images, 3, 1, 1)
    features = extractor(images)
    assert features.shape == (2, 104, 16, 17) and features.dtype == torch.float64
    for b in range(2):
        grey = rgb2gray(images[b].permute(1, 2, 0).numpy())
        expected = daisy(grey, step=8, radius=12, rings=2, histograms=6, orientations=8)
        # Samples k = 3..9 (rows) and 3..10 (columns): centres at least 3R = 36 pixels from
        # every border.
        want = torch.from_numpy(expected[3:10, 3:11]).permute(2, 0, 1)
        torch.testing.assert_close(features[b, :, 4:11, 4:12], want, rtol=0, atol=1e-12)


def test_daisy_moves_with_the_image(generator):
    """Shifting the image by one stride shifts the descriptors by one cell (away from borders):
    pixel <-> cell correspondence is exact."""
    extractor = make_extractor("daisy")
    image = torch.rand(1, 3, 192, 192, generator=generator)
    image = torch.nn.functional.avg_pool2d(image, 3, 1, 1)  # some texture, not pure noise
    shifted = torch.roll(image, shifts=(8, 16), dims=(2, 3))
    a, b = extractor(image), extractor(shifted)
    # Cells 8..15 see no border and no wrapped-around content in either image.
    torch.testing.assert_close(b[:, :, 9:16, 10:16], a[:, :, 8:15, 8:14], atol=1e-5, rtol=1e-4)


def test_registry():
    assert "daisy" in extractor_names()
    assert default_extractor_name() in extractor_names()
    with pytest.raises(ValueError, match="unknown feature extractor 'sift'"):
        make_extractor("sift")
    with pytest.raises(ValueError, match="3 channels"):
        make_extractor("daisy")(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="smaller than one feature cell"):
        make_extractor("daisy")(torch.zeros(1, 3, 4, 32))


def test_pair_features_normalises_each_image_pass_or_one_batch(generator):
    """``pair_features`` is :func:`normalize_features` of the extractor's outputs, one pass per
    image (sizes may differ) or, with ``one_pass``, one batch of both (training's way), and
    keeps a graph only when asked (``grad``) and allowed (grad mode on)."""
    from gocor_lite.core.features import LearnedExtractor, normalize_features, pair_features

    torch.manual_seed(0)
    extractor = LearnedExtractor().double()
    target = torch.rand(2, 3, 32, 40, generator=generator, dtype=torch.float64)
    source = torch.rand(2, 3, 32, 40, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        want = normalize_features(extractor(target), extractor(source), "centered-l2")
    for one_pass in (False, True):
        got = pair_features(extractor, target, source, one_pass=one_pass)
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, rtol=0, atol=1e-12)
            assert not g.requires_grad
    assert pair_features(extractor, target, source, grad=True)[0].requires_grad
    with torch.no_grad():
        assert not pair_features(extractor, target, source, grad=True)[0].requires_grad
    smaller = source[:, :, :24]
    assert pair_features(extractor, target, smaller)[1].shape == (2, 64, 3, 5)
    with pytest.raises(ValueError, match="one_pass needs images of one size"):
        pair_features(extractor, target, smaller, one_pass=True)
