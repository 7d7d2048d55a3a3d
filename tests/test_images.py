# SPDX-License-Identifier: MIT
"""Images at the edge: conversions and reading every common kind of file, or saying why not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gocor_lite.files.images import (
    ImageError,
    as_rgb_uint8,
    read_image,
    resize_to_fit,
    to_tensor,
    to_uint8,
)


def test_round_trip(generator):
    image = torch.randint(0, 256, (5, 7, 3), generator=generator, dtype=torch.uint8).numpy()
    tensor = to_tensor(image)
    assert tensor.shape == (1, 3, 5, 7) and tensor.dtype == torch.float32
    assert float(tensor.max()) <= 1.0
    np.testing.assert_array_equal(to_uint8(tensor), image)


@pytest.mark.parametrize(
    "array,expected",
    [
        (np.full((2, 2), 128, np.uint8), [128, 128, 128]),
        (np.full((2, 2), 65535, np.uint16), [255, 255, 255]),
        (np.full((2, 2, 3), 0.5), [128, 128, 128]),
        (np.ones((2, 2), bool), [255, 255, 255]),
        (np.dstack([np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8)]), [255, 255, 255]),
        (np.dstack([np.zeros((2, 2, 3), np.uint8), np.full((2, 2), 255, np.uint8)]), [0, 0, 0]),
    ],
    ids=["grey", "uint16", "float", "bool", "transparent", "opaque"],
)
def test_as_rgb_uint8(array, expected):
    out = as_rgb_uint8(array)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == expected


@pytest.mark.parametrize(
    "array,match",
    [
        (np.zeros((2, 2, 5)), "expected an image"),
        (np.zeros((0, 3, 3)), "empty"),
        (np.full((2, 2), np.nan), "NaN"),
    ],
)
def test_as_rgb_uint8_refuses(array, match):
    with pytest.raises(ImageError, match=match):
        as_rgb_uint8(array)


def test_read_image_kinds(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[0, :, 0] = 255  # a red top row
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[:, :, 0]).save(tmp_path / "grey.png")
    Image.fromarray(np.dstack([rgb, np.full((4, 6), 255, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert read_image(tmp_path / "rgb.png")[0, 0].tolist() == [255, 0, 0]
    assert read_image(tmp_path / "grey.png")[0, 0].tolist() == [255, 255, 255]
    assert read_image(tmp_path / "rgba.png").shape == (4, 6, 3)
    assert read_image(tmp_path / "deep.png")[0, 0].tolist() == [255, 255, 255]
    # EXIF orientation 6 (rotate 90 degrees clockwise to display): the result is upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    banded = np.zeros((40, 60, 3), np.uint8)
    banded[:16] = 255  # a white top band
    Image.fromarray(banded).save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    upright = read_image(tmp_path / "rotated.jpg")
    assert upright.shape == (60, 40, 3)
    assert upright[:, -8:].mean() > 200 and upright[:, :16].mean() < 50  # the band is on the right


def test_read_image_errors(tmp_path):
    with pytest.raises(ImageError, match="no image file"):
        read_image(tmp_path / "absent.png")
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(ImageError, match="not an image file"):
        read_image(tmp_path / "notes.png")
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"could not be read|not an image"):
        read_image(tmp_path / "cut.png")
    with pytest.raises(ImageError, match="refused"):
        read_image(tmp_path / "whole.png", max_pixels=100)


def test_resize_to_fit():
    image = np.zeros((300, 451, 3), np.uint8)
    out = resize_to_fit(image, 320, multiple=8)
    assert out.shape == (216, 320, 3)
    assert resize_to_fit(out, 320, multiple=8) is out
