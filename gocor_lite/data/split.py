# SPDX-License-Identifier: MIT
"""The project's one data split, and synthetic pairs drawn from it.

Everything that learns (the ``learned`` features, GOCor's parameters, the flow decoders) trains
on :data:`TRAIN_IMAGES`; everything that measures (``python -m gocor_lite.cli.evaluate``) uses the
held-out images of :data:`HELD_OUT`, the real pairs of :mod:`gocor_lite.data.real` and the
held-out real photographs of :mod:`gocor_lite.data.photos`, with seeds from :data:`EVAL_SEED`
on. (:mod:`gocor_lite.data.photos` holds the larger set of real training photographs.) The
images here ship inside scikit-image (``skimage.data``; nothing is downloaded). Pairs are made
by :mod:`gocor_lite.data.synthetic` (homographies, affine maps and thin-plate splines with
photometric changes), so the flow is exact.

Convention:
    Pairs are :class:`~gocor_lite.data.synthetic.WarpedBatch` es: target, source ``(B, 3, H, W)``
    in ``[0, 1]``; flow ``(B, 2, H, W)`` in pixels, target pixel ``p`` matching source pixel
    ``p + flow(p)``; valid ``(B, 1, H, W)``, true where that match is known (inside the source;
    for the stereo pair, where the disparity is known).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from gocor_lite.data.pairs import ExamplePair, resize_pair
from gocor_lite.data.real import load_motorcycle
from gocor_lite.data.synthetic import KINDS, WarpedBatch, WarpOptions, random_warp_batch
from gocor_lite.files.images import as_rgb_uint8, resize_images, to_tensor

#: skimage.data images that training may use (photographs, microscopy, textures, text).
TRAIN_IMAGES: tuple[str, ...] = (
    "astronaut",
    "rocket",
    "camera",
    "coins",
    "retina",
    "immunohistochemistry",
    "grass",
    "moon",
    "clock",
    "hubble_deep_field",
    "text",
    "cell",
)
#: skimage.data images kept out of all training, by evaluation set. (``cat`` is ``chelsea``.)
HELD_OUT: dict[str, tuple[str, ...]] = {
    "natural": ("chelsea", "coffee"),  # photographs
    "repeated": ("brick", "gravel", "checkerboard"),  # repeated structure: GOCor's case
}
#: Seeds of evaluation pairs start here; training draws its seeds below it.
EVAL_SEED = 10_000
#: The real pair with ground truth nobody here made.
STEREO = "stereo_motorcycle"


def held_out_images() -> set[str]:
    """Every image name that training must not see (``cat`` is the same photograph as
    ``chelsea``; the stereo pair is evaluation only)."""
    return {name for names in HELD_OUT.values() for name in names} | {"cat", STEREO}


def check_training_images(names: Sequence[str]) -> tuple[str, ...]:
    """Return ``names`` if none is held out or unknown, else raise ``ValueError`` naming it."""
    names = tuple(names)
    if not names:
        raise ValueError("training needs at least one image name")
    leaked = sorted(set(names) & held_out_images())
    if leaked:
        raise ValueError(
            f"{leaked} are held out for evaluation (gocor_lite.data.split.HELD_OUT); train on "
            f"gocor_lite.data.split.TRAIN_IMAGES instead"
        )
    from skimage import data

    unknown = [name for name in names if not callable(getattr(data, name, None))]
    if unknown:
        raise ValueError(f"{unknown} are not skimage.data images; see gocor_lite.data.split")
    return names


@functools.lru_cache(maxsize=32)
def _image(name: str) -> Tensor:
    from skimage import data

    return to_tensor(as_rgb_uint8(getattr(data, name)()))  # (1, 3, H, W)


def load_image(name: str, size: tuple[int, int]) -> Tensor:
    """``skimage.data.<name>()`` centre-cropped to the aspect of ``size = (H, W)`` and resized:
    ``(1, 3, H, W)`` float in ``[0, 1]``."""
    return centre_crop(_image(name), size)


def centre_crop(image: Tensor, size: tuple[int, int]) -> Tensor:
    """The largest centred crop of ``image (1, 3, H, W)`` in the aspect of ``size = (H, W)``,
    resized to ``size``."""
    height, width = image.shape[2:]
    aspect = size[1] / size[0]
    crop_height, crop_width = min(height, round(width / aspect)), min(width, round(height * aspect))
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return resize_images(image[:, :, top : top + crop_height, left : left + crop_width], size)


def synthetic_pairs(
    names: Sequence[str],
    count: int,
    size: tuple[int, int],
    seed: int,
    *,
    kinds: Sequence[str] = KINDS,
    options: WarpOptions | None = None,
) -> WarpedBatch:
    """``count`` synthetic pairs of ``size = (H, W)``, cycling through the images ``names``;
    pair ``k`` is drawn from seed ``seed + k`` (so a pair does not depend on ``count``)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    parts = [
        random_warp_batch(
            load_image(names[k % len(names)], size),
            torch.Generator().manual_seed(seed + k),
            kinds,
            options=options,
        )
        for k in range(count)
    ]
    return WarpedBatch(*(torch.cat(field) for field in zip(*parts, strict=True)))


def random_crop(image: Tensor, size: tuple[int, int], generator: torch.Generator) -> Tensor:
    """A random crop of ``image (1, 3, H, W)`` in the aspect of ``size = (H, W)``, between a
    third of the image's shorter side and all of it, resized to ``size``; three draws from
    ``generator`` (the crop's size, top and left)."""
    height, width = image.shape[2:]
    aspect = size[1] / size[0]
    largest = min(height, round(width / aspect))
    fraction = float(torch.empty(1).uniform_(1 / 3, 1.0, generator=generator))
    crop_height = max(size[0] // 2, round(largest * fraction))
    crop_width = min(width, round(crop_height * aspect))
    top = int(torch.randint(height - crop_height + 1, (1,), generator=generator))
    left = int(torch.randint(width - crop_width + 1, (1,), generator=generator))
    return resize_images(image[:, :, top : top + crop_height, left : left + crop_width], size)


def training_batch(
    names: Sequence[str],
    batch_size: int,
    size: tuple[int, int],
    seed: int,
    *,
    options: WarpOptions | None = None,
) -> WarpedBatch:
    """A batch of training pairs, a function of ``seed`` alone: each element picks an image of
    ``names``, a random crop (:func:`random_crop`) and a random warp of any kind."""
    generator = torch.Generator().manual_seed(seed)
    crops = []
    for _ in range(batch_size):
        image = _image(names[int(torch.randint(len(names), (1,), generator=generator))])
        crops.append(random_crop(image, size, generator))
    return random_warp_batch(torch.cat(crops), generator, KINDS, options=options)


def batch_indices(count: int, batch_size: int, seed: int, step: int) -> Tensor:
    """The pairs of step ``step``: a fixed random order per epoch, a function of the seed."""
    size = min(batch_size, count)
    per_epoch = max(1, count // size)
    epoch, within = divmod(step, per_epoch)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed + epoch))
    return order[within * size : (within + 1) * size]


def evaluation_pairs(
    set_name: str, pairs_per_image: int = 4, size: tuple[int, int] = (240, 320)
) -> WarpedBatch:
    """A held-out synthetic evaluation set: ``"natural"`` or ``"repeated"`` (synthetic warps of
    :data:`HELD_OUT` images, seeds from :data:`EVAL_SEED`). Every set the evaluation measures,
    real pairs and held-out real photographs included, is in
    :mod:`gocor_lite.evaluation.sets`."""
    if set_name not in HELD_OUT:
        raise ValueError(f"unknown evaluation set {set_name!r}; available: {list(HELD_OUT)}")
    names = HELD_OUT[set_name]
    return synthetic_pairs(names, pairs_per_image * len(names), size, EVAL_SEED)


def batch_of_pair(pair: ExamplePair, max_side: int | None = None) -> WarpedBatch:
    """A pair with ground truth as a batch of one: target, source ``(1, 3, H, W)`` in
    ``[0, 1]``, flow ``(1, 2, H, W)`` (zero where unknown), valid ``(1, 1, H, W)`` where the
    flow is known. ``max_side`` resizes both images (longer side, aspect kept) and the flow with
    them (:func:`~gocor_lite.data.pairs.resize_pair`)."""
    if pair.flow is None:
        raise ValueError(f"the pair {pair.name!r} has no ground-truth flow")
    if max_side is not None:
        pair = resize_pair(pair, max_side)
    assert pair.flow is not None
    flow = torch.from_numpy(np.ascontiguousarray(pair.flow))[None]
    return WarpedBatch(
        target=to_tensor(pair.target),
        source=to_tensor(pair.source),
        flow=flow.nan_to_num(0.0),
        valid=torch.isfinite(flow[:, :1]),
    )


def stereo_pair(max_side: int | None = None) -> WarpedBatch:
    """``skimage.data.stereo_motorcycle`` (:func:`~gocor_lite.data.real.load_motorcycle`) as a
    batch of one: left image = target, right = source, flow ``(-disparity, 0)`` where the
    disparity is known and the match inside the right image (valid), zero elsewhere."""
    return batch_of_pair(load_motorcycle(), max_side)
