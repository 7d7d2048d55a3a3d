# SPDX-License-Identifier: MIT
"""Feature extractors: the interface's contract, checked on the training-free DAISY baseline."""

from __future__ import annotations

import pytest
import torch

from gocor_lite.features import (
    default_extractor_name,
    extractor_names,
    make_extractor,
)


def test_daisy_shapes_and_dtype(generator):
    extractor = make_extractor("daisy")
    assert extractor.stride == 8 and extractor.channels == 104
    images = torch.rand(2, 3, 64, 80, generator=generator, dtype=torch.float64)
    features = extractor(images)
    assert features.shape == (2, 104, 8, 10) and features.dtype == torch.float64
    assert torch.isfinite(features).all()


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
