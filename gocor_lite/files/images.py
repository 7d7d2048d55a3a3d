# SPDX-License-Identifier: MIT
"""Images at the edge of the library: numpy ``uint8 (H, W, 3)`` <-> ``float (B, 3, H, W)`` in
``[0, 1]``, and reading files of any common kind into the former. The only place that converts.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


class ImageError(ValueError):
    """An image that cannot be used, with a message that says why and what to do."""


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Any 2D/3D numeric array (grey, grey+alpha, RGB, RGBA; uint8, uint16, bool or float in
    ``[0, 1]``) -> ``uint8 (H, W, 3)``. Alpha is dropped (composited on white)."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ImageError(
            f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(f"the image is empty (shape {array.shape})")
    if array.dtype == np.uint8 and array.shape[2] in (1, 3):  # already bytes: no float copy
        return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array.copy()
    if array.dtype == np.bool_:
        values = array.astype(np.float64)
    elif array.dtype == np.uint8:
        values = array / 255.0
    elif array.dtype == np.uint16:
        values = array / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError("the image contains NaN or infinite values")
        values = np.clip(array.astype(np.float64), 0.0, 1.0)
    elif np.issubdtype(array.dtype, np.integer):
        values = np.clip(array, 0, 255) / 255.0
    else:
        raise ImageError(f"unsupported pixel type {array.dtype}")
    channels = values.shape[2]
    if channels in (2, 4):  # composite the alpha channel over white
        alpha = values[:, :, -1:]
        values = values[:, :, :-1] * alpha + (1.0 - alpha)
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    return np.round(values * 255.0).astype(np.uint8)


def read_image(
    path: str | Path, max_pixels: int = 50_000_000, max_side: int | None = None
) -> np.ndarray:
    """Read an image file (PNG, JPEG, TIFF, ...; 8 or 16 bit; grey, RGB or RGBA), applying its
    EXIF orientation, as ``uint8 (H, W, 3)``. Raises :class:`ImageError` with the reason.

    ``max_side``: an image whose longer side exceeds it is shrunk while it is decoded (a JPEG
    decoded at 1/2, 1/4 or 1/8 scale, then whole-factor pixel averaging) to a longer side
    between ``max_side`` and ``2 * max_side``, so that a large photo never exists in memory at
    full size as floats (call :func:`resize_to_fit` for the exact side). The pixel count
    check (``max_pixels``) applies to the file's own size."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"no image file at {path}")
    try:
        with warnings.catch_warnings():
            # Pillow's own decompression-bomb limits: the size check below is ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened:
            if opened.width * opened.height > max_pixels:
                raise ImageError(
                    f"{path.name} is {opened.width}x{opened.height} pixels; images above "
                    f"{max_pixels:,} pixels are refused, please resize it first"
                )
            if max_side is not None and max(opened.size) > max_side:
                opened.draft(opened.mode, (max_side, max_side))  # JPEG only; else a no-op
            image = ImageOps.exif_transpose(opened)
            image.load()
            factor = max(image.size) // max_side if max_side is not None else 1
            if factor > 1:
                if image.mode == "P":
                    image = image.convert("RGBA")
                elif image.mode.startswith("I;16"):
                    image = image.convert("I")
                image = image.reduce(factor)
    except UnidentifiedImageError as error:
        raise ImageError(f"{path.name} is not an image file that can be read") from error
    except Image.DecompressionBombError as error:
        raise ImageError(
            f"{path.name} declares an enormous size; images above {max_pixels:,} pixels are "
            "refused, please resize it first"
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageError):
            raise
        raise ImageError(
            f"{path.name} could not be read (damaged or truncated): {error}"
        ) from error
    return from_pil(image)


def from_pil(image: object) -> np.ndarray:
    """A PIL image of any mode -> ``uint8 (H, W, 3)``."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        raise ImageError(f"expected a PIL image, got {type(image)}")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image).astype(np.uint16 if image.mode != "I" else np.int64)
        if image.mode == "I":  # 32-bit integer images hold 16-bit data in practice
            array = np.clip(array, 0, 65535).astype(np.uint16)
        return as_rgb_uint8(array)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")
    return as_rgb_uint8(np.asarray(image))


def to_tensor(
    image: np.ndarray, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``uint8 (H, W, 3)`` (or any :func:`as_rgb_uint8` input) -> ``(1, 3, H, W)`` in [0, 1]."""
    array = as_rgb_uint8(image)
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]
    return tensor.to(device=device, dtype=dtype) / 255.0


def to_uint8(image: Tensor) -> np.ndarray:
    """``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1] -> ``uint8 (H, W, 3)``."""
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise ValueError(f"expected a single image, got a batch of shape {tuple(image.shape)}")
        image = image[0]
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image (3, H, W), got {tuple(image.shape)}")
    array = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8)
    return array.permute(1, 2, 0).cpu().numpy()


def resize_to_fit(image: np.ndarray, max_side: int, multiple: int = 1) -> np.ndarray:
    """Resize ``uint8 (H, W, 3)`` so that its longer side is ``max_side`` (aspect kept), each
    side rounded to a multiple of ``multiple``; antialiased when shrinking."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    new_height = max(multiple, round(height * scale / multiple) * multiple)
    new_width = max(multiple, round(width * scale / multiple) * multiple)
    if (new_height, new_width) == (height, width):
        return image
    return to_uint8(resize_images(to_tensor(image), (new_height, new_width)))


def resize_images(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of ``(B, C, H, W)`` to ``size = (H2, W2)``, antialiased when shrinking."""
    if tuple(images.shape[2:]) == tuple(size):
        return images
    shrinking = size[0] < images.shape[2] or size[1] < images.shape[3]
    return F.interpolate(
        images, size=size, mode="bilinear", align_corners=False, antialias=shrinking
    ).clamp(0.0, 1.0)
