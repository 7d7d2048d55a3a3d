# SPDX-License-Identifier: MIT
"""Synthetic warps: from one image, a (target, source) pair and its exact ground-truth flow.

The GLU-Net recipe for learning without annotations: draw a random geometric transformation
``T`` (a homography, an affine map or a thin-plate spline), take the image itself as the
*source*, and build the *target* by sampling the source at ``T(p)`` for every target pixel
``p``. Then ``flow(p) = T(p) - p`` holds exactly, for every kind of transformation, with no
inversion needed. Independent photometric changes (brightness, contrast, colour, blur, noise)
are applied to both images afterwards, so that features must match content, not intensities.

Convention:
    Pixel centres are at integer coordinates ``(x, y)``, ``x`` the column. Target pixel ``p``
    matches source pixel ``p + flow(p)``; flow is ``(B, 2, H, W)``, channel 0 = x. The match is
    *valid* where ``p + flow(p)`` lies inside ``[0, W-1] x [0, H-1]`` (the span of the source's
    pixel centres, where bilinear sampling needs no padding); target pixels whose match falls
    outside are black, before the photometric change.

Everything is drawn from one ``torch.Generator``, so a pair is a function of the seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gocor_lite.data.pairs import ExamplePair
from gocor_lite.files.images import as_rgb_uint8, to_tensor, to_uint8

KINDS = ("homography", "affine", "tps")


@dataclass(frozen=True)
class WarpOptions:
    """Ranges of the random transformations and photometric changes (uniform draws).

    Lengths are fractions of the image's width (for x) or height (for y). Scales below 1 zoom
    in: the target then shows a magnified part of the source, so most target pixels have a match.
    """

    zoom: tuple[float, float] = (0.75, 1.0)  # source-region size / target size
    rotation_deg: float = 15.0  # largest rotation, either way
    shift: float = 0.08  # largest translation of the centre
    aspect: float = 0.1  # largest relative change of the aspect ratio (x scale / y scale)
    shear: float = 0.1  # largest shear
    corner_jitter: float = 0.1  # homography: largest independent move of each corner
    tps_jitter: float = 0.05  # thin-plate spline: largest move of each control point
    tps_grid: int = 4  # thin-plate spline: control points per side
    brightness: float = 0.1  # largest added offset
    contrast: float = 0.25  # largest relative change around the image mean
    colour: float = 0.1  # largest relative change of each channel's gain
    blur_sigma: float = 1.0  # largest Gaussian blur, in pixels (applied with probability 1/2)
    noise: float = 0.02  # largest standard deviation of additive Gaussian noise


# The kinds of warps the small GLU-Net is trained on (gocor_lite.training.small_glunet), and
# what the notebooks compare a pair's motion with.
#: GLU-Net's kind of training warps: up to 15 degrees, zooms, 8 % shifts, perspective.
LARGE_WARPS = WarpOptions()
#: Wide baselines and large displacements, as users give the explorer: shifts up to half the
#: image, rotations up to 30 degrees, zooms either way and strong perspective (the graffiti
#: pair's kind of change). GLU-Net's claim is one network for large *and* small displacements.
WIDE_WARPS = WarpOptions(
    zoom=(0.6, 1.25),
    rotation_deg=30.0,
    shift=0.5,
    aspect=0.15,
    shear=0.15,
    corner_jitter=0.15,
    tps_jitter=0.05,
)
#: Small motions (at most a few pixels at 256 x 256), so that the fine levels learn sub-pixel
#: flow as real video and stereo pairs need it.
SMALL_WARPS = WarpOptions(
    zoom=(0.97, 1.0),
    rotation_deg=1.0,
    shift=0.01,
    aspect=0.01,
    shear=0.01,
    corner_jitter=0.005,
    tps_jitter=0.004,
)


class WarpedBatch(NamedTuple):
    """A batch of synthetic pairs.

    Shapes: target, source ``(B, 3, H, W)`` in ``[0, 1]``; flow ``(B, 2, H, W)`` in pixels
    (finite everywhere: where the match leaves the source it still says where it would be);
    valid ``(B, 1, H, W)`` bool, true where the match lies inside the source.
    """

    target: Tensor
    source: Tensor
    flow: Tensor
    valid: Tensor


def _uniform(generator: torch.Generator, size: tuple[int, ...], low: float, high: float) -> Tensor:
    """Uniform float64 draws on the generator's device."""
    draws = torch.rand(size, generator=generator, dtype=torch.float64, device=generator.device)
    return low + (high - low) * draws


def _similarity_params(
    generator: torch.Generator, batch: int, options: WarpOptions
) -> tuple[Tensor, Tensor, Tensor]:
    """Zoom ``(B,)``, rotation in radians ``(B,)`` and centre shift ``(B, 2)`` (fractions)."""
    zoom = _uniform(generator, (batch,), *options.zoom)
    angle = _uniform(generator, (batch,), -1.0, 1.0) * math.radians(options.rotation_deg)
    shift = _uniform(generator, (batch, 2), -options.shift, options.shift)
    return zoom, angle, shift


def _rotation(angle: Tensor) -> Tensor:
    """``(B,)`` radians -> ``(B, 2, 2)`` rotation matrices."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


def _sample_affine(generator: torch.Generator, batch: int, options: WarpOptions) -> Tensor:
    """Random affine maps in normalised coordinates: ``(B, 3, 3)``.

    Normalised coordinates are ``(x / (W - 1), y / (H - 1))``, so that ranges are fractions of
    the image size; the map is ``u -> c + A (u - c) + t`` with ``c`` the centre.
    """
    zoom, angle, shift = _similarity_params(generator, batch, options)
    aspect = 1.0 + _uniform(generator, (batch,), -options.aspect, options.aspect)
    shear = _uniform(generator, (batch,), -options.shear, options.shear)
    scale = torch.zeros(batch, 2, 2, dtype=torch.float64, device=generator.device)
    scale[:, 0, 0] = zoom * aspect.sqrt()
    scale[:, 1, 1] = zoom / aspect.sqrt()
    scale[:, 0, 1] = shear * zoom
    linear = _rotation(angle) @ scale  # (B, 2, 2)
    centre = torch.full((batch, 2), 0.5, dtype=torch.float64, device=generator.device)
    matrix = torch.eye(3, dtype=torch.float64, device=generator.device).repeat(batch, 1, 1)
    matrix[:, :2, :2] = linear
    matrix[:, :2, 2] = centre + shift - (linear @ centre[:, :, None])[:, :, 0]
    return matrix


def _homography_from_corners(corners: Tensor, moved: Tensor) -> Tensor:
    """The homographies ``(B, 3, 3)`` that map four points ``corners (4, 2)`` to
    ``moved (B, 4, 2)`` (the direct linear transform with ``H[2, 2] = 1``)."""
    batch = moved.shape[0]
    x, y = corners[:, 0].expand(batch, 4), corners[:, 1].expand(batch, 4)
    u, v = moved[..., 0], moved[..., 1]
    zeros, ones = torch.zeros_like(u), torch.ones_like(u)
    rows_u = torch.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], -1)  # (B, 4, 8)
    rows_v = torch.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], -1)
    system = torch.cat([rows_u, rows_v], 1)  # (B, 8, 8)
    rhs = torch.cat([u, v], 1)  # (B, 8)
    solution = torch.linalg.solve(system, rhs)
    return torch.cat([solution, torch.ones_like(solution[:, :1])], 1).view(batch, 3, 3)


def _sample_homography(generator: torch.Generator, batch: int, options: WarpOptions) -> Tensor:
    """Random homographies in normalised coordinates: ``(B, 3, 3)``.

    The four image corners are zoomed, rotated and shifted as a whole, then each is moved by
    its own random offset; the homography maps the original corners to the moved ones.
    """
    corners = torch.tensor(
        [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
        dtype=torch.float64,
        device=generator.device,
    )
    zoom, angle, shift = _similarity_params(generator, batch, options)
    jitter = _uniform(generator, (batch, 4, 2), -options.corner_jitter, options.corner_jitter)
    centred = (corners - 0.5)[None] * zoom[:, None, None]  # (B, 4, 2)
    moved = 0.5 + centred @ _rotation(angle).transpose(1, 2) + shift[:, None] + jitter
    return _homography_from_corners(corners, moved)


def _tps_kernel(squared_distance: Tensor) -> Tensor:
    """The thin-plate radial basis ``U = r^2 log r^2``, with ``U(0) = 0``."""
    return squared_distance * torch.log(squared_distance.clamp_min(1e-300))


def _tps_coordinates(
    generator: torch.Generator, batch: int, points: Tensor, options: WarpOptions
) -> Tensor:
    """Random thin-plate splines evaluated at ``points (N, 2)`` (normalised) -> ``(B, N, 2)``.

    Control points on a regular ``tps_grid x tps_grid`` grid are moved by a random similarity
    and an independent jitter each; the spline interpolates those moves exactly.
    """
    steps = torch.linspace(0.0, 1.0, options.tps_grid, dtype=torch.float64, device=points.device)
    grid_y, grid_x = torch.meshgrid(steps, steps, indexing="ij")
    control = torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], 1)  # (K, 2)
    count = control.shape[0]
    zoom, angle, shift = _similarity_params(generator, batch, options)
    jitter = _uniform(generator, (batch, count, 2), -options.tps_jitter, options.tps_jitter)
    centred = (control - 0.5)[None] * zoom[:, None, None]
    moved = 0.5 + centred @ _rotation(angle).transpose(1, 2) + shift[:, None] + jitter
    moved = moved.to(points.device)  # (B, K, 2)

    # Solve [[U, P], [P^T, 0]] [w; a] = [moved; 0] for the kernel weights w and the affine part a.
    kernel = _tps_kernel(torch.cdist(control, control).square())  # (K, K)
    affine = torch.cat([torch.ones_like(control[:, :1]), control], 1)  # (K, 3)
    system = torch.zeros(count + 3, count + 3, dtype=torch.float64, device=points.device)
    system[:count, :count] = kernel
    system[:count, count:] = affine
    system[count:, :count] = affine.T
    rhs = torch.cat([moved, moved.new_zeros(batch, 3, 2)], 1)  # (B, K + 3, 2)
    coefficients = torch.linalg.solve(system, rhs)  # (B, K + 3, 2)
    basis = torch.cat(
        [
            _tps_kernel(torch.cdist(points, control).square()),  # (N, K)
            torch.ones_like(points[:, :1]),
            points,
        ],
        1,
    )  # (N, K + 3)
    return basis @ coefficients  # (B, N, 2)


def _gaussian_blur(images: Tensor, sigma: Tensor) -> Tensor:
    """Blur each image of ``(B, C, H, W)`` with its own ``sigma (B,)`` (0 = unchanged)."""
    radius = max(1, math.ceil(3 * float(sigma.max())))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    sigma = sigma.to(images).clamp_min(1e-3)[:, None]
    weights = torch.exp(-0.5 * (offsets[None] / sigma) ** 2)
    weights = weights / weights.sum(1, keepdim=True)  # (B, 2r + 1)
    batch, channels, height, width = images.shape
    flat = images.reshape(1, batch * channels, height, width)
    kernel = weights.repeat_interleave(channels, 0)  # (B * C, 2r + 1)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=batch * channels)
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=batch * channels)
    return flat.view(batch, channels, height, width)


def photometric_change(
    images: Tensor, generator: torch.Generator, options: WarpOptions | None = None
) -> Tensor:
    """Random brightness, contrast, colour gains, blur and noise, drawn per image.

    Shapes: ``(B, 3, H, W)`` in ``[0, 1]`` -> the same, clipped to ``[0, 1]``.
    """
    options = options or WarpOptions()
    batch = images.shape[0]
    brightness = _uniform(generator, (batch, 1, 1, 1), -options.brightness, options.brightness)
    contrast = 1 + _uniform(generator, (batch, 1, 1, 1), -options.contrast, options.contrast)
    gains = 1 + _uniform(generator, (batch, 3, 1, 1), -options.colour, options.colour)
    blurred = _uniform(generator, (batch,), 0.0, 1.0) < 0.5
    sigma = _uniform(generator, (batch,), 0.0, options.blur_sigma) * blurred
    noise_std = _uniform(generator, (batch, 1, 1, 1), 0.0, options.noise)
    noise = torch.randn(
        images.shape, generator=generator, dtype=images.dtype, device=generator.device
    )

    def to(value: Tensor) -> Tensor:
        return value.to(device=images.device, dtype=images.dtype)

    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    out = (images - mean) * to(contrast) + mean
    out = out * to(gains) + to(brightness)
    if bool(blurred.any()):
        out = _gaussian_blur(out, sigma.to(images.device))
    out = out + to(noise) * to(noise_std)
    return out.clamp(0.0, 1.0)


def _pick_kinds(generator: torch.Generator, batch: int, kinds: Sequence[str]) -> list[str]:
    """One kind per batch element, drawn uniformly from ``kinds``."""
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown warp kind {kind!r}; available: {list(KINDS)}")
    if not kinds:
        raise ValueError(f"kinds must name at least one of {list(KINDS)}")
    picks = torch.randint(len(kinds), (batch,), generator=generator, device=generator.device)
    return [kinds[int(index)] for index in picks.tolist()]


def random_warp_batch(
    images: Tensor,
    generator: torch.Generator,
    kinds: Sequence[str] = KINDS,
    *,
    photometric: bool = True,
    options: WarpOptions | None = None,
) -> WarpedBatch:
    """Random synthetic pairs from a batch of images, for training and evaluation.

    Each image becomes the source of one pair; its target is the source sampled (bilinearly)
    at ``p + flow(p)``. The kind of each element is drawn from ``kinds``. Random numbers come
    from ``generator`` (on its own device); the outputs follow ``images``' device and dtype.

    Shapes: images ``(B, 3, H, W)`` in ``[0, 1]`` -> :class:`WarpedBatch` with target, source
    ``(B, 3, H, W)``, flow ``(B, 2, H, W)``, valid ``(B, 1, H, W)`` bool.
    """
    if images.dim() != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(
            f"images must be a floating (B, 3, H, W) tensor, got {images.dtype} "
            f"{tuple(images.shape)}"
        )
    options = options or WarpOptions()
    batch, _, height, width = images.shape
    if height < 2 or width < 2:
        raise ValueError(f"images must be at least 2x2 pixels, got {height}x{width}")
    picked = _pick_kinds(generator, batch, list(kinds))

    # Target pixel grid in normalised coordinates u = x / (W - 1), v = y / (H - 1).
    device = generator.device
    ys = torch.arange(height, dtype=torch.float64, device=device) / (height - 1)
    xs = torch.arange(width, dtype=torch.float64, device=device) / (width - 1)
    grid_v, grid_u = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([grid_u.reshape(-1), grid_v.reshape(-1)], 1)  # (N, 2), N = H W

    # Every kind is drawn for the whole batch (cheap), so draws do not depend on the picks.
    matrices = {
        "homography": _sample_homography(generator, batch, options),
        "affine": _sample_affine(generator, batch, options),
    }
    tps = _tps_coordinates(generator, batch, points, options)  # (B, N, 2)
    homogeneous = torch.cat([points, torch.ones_like(points[:, :1])], 1)  # (N, 3)
    mapped = torch.empty(batch, points.shape[0], 2, dtype=torch.float64, device=device)
    for index, kind in enumerate(picked):
        if kind == "tps":
            mapped[index] = tps[index]
        else:
            projected = homogeneous @ matrices[kind][index].T  # (N, 3)
            mapped[index] = projected[:, :2] / projected[:, 2:]

    scale = torch.tensor([width - 1, height - 1], dtype=torch.float64, device=device)
    pixels = (mapped * scale).view(batch, height, width, 2)  # source pixel of each target pixel
    base = (points * scale).view(1, height, width, 2)
    flow = (pixels - base).permute(0, 3, 1, 2)  # (B, 2, H, W)
    valid = (
        (pixels[..., 0] >= 0)
        & (pixels[..., 0] <= width - 1)
        & (pixels[..., 1] >= 0)
        & (pixels[..., 1] <= height - 1)
    )[:, None]  # (B, 1, H, W)

    # grid_sample with align_corners=False puts pixel x at (2x + 1) / W - 1.
    normalised = (2 * pixels + 1) / torch.tensor(
        [width, height], dtype=torch.float64, device=device
    ) - 1
    grid = normalised.to(device=images.device, dtype=images.dtype)
    target = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    valid = valid.to(images.device)
    target = target * valid
    source = images
    if photometric:
        target = photometric_change(target, generator, options)
        source = photometric_change(source, generator, options)
    return WarpedBatch(
        target=target,
        source=source,
        flow=flow.to(device=images.device, dtype=images.dtype),
        valid=valid,
    )


def make_pair(
    image: np.ndarray,
    *,
    seed: int,
    kind: str = "homography",
    photometric: bool = True,
    options: WarpOptions | None = None,
    name: str = "synthetic",
    description: str | None = None,
) -> ExamplePair:
    """A synthetic pair from one image, deterministic given ``seed``.

    ``kind``: ``"homography"``, ``"affine"``, ``"tps"`` (thin-plate spline) or ``"random"``
    (one of them, drawn from the seed). The source is ``image`` (photometrically changed if
    ``photometric``); the target is the source seen through the random warp.

    Shapes: ``image`` uint8 ``(H, W, 3)`` (or anything :func:`~gocor_lite.files.images.as_rgb_uint8`
    accepts) -> :class:`~gocor_lite.data.pairs.ExamplePair` with target and source uint8
    ``(H, W, 3)`` and ``flow`` float32 ``(2, H, W)`` in pixels, NaN where the target pixel's
    match falls outside the source.
    """
    if kind not in (*KINDS, "random"):
        raise ValueError(f"unknown warp kind {kind!r}; available: {[*KINDS, 'random']}")
    generator = torch.Generator().manual_seed(seed)
    tensor = to_tensor(as_rgb_uint8(image), dtype=torch.float64)
    kinds = KINDS if kind == "random" else (kind,)
    warped = random_warp_batch(tensor, generator, kinds, photometric=photometric, options=options)
    flow = warped.flow[0].to(torch.float32).numpy().copy()
    flow[:, ~warped.valid[0, 0].numpy()] = np.nan
    return ExamplePair(
        name=name,
        description=description or f"A synthetic {kind} warp (seed {seed}) with exact flow.",
        target=to_uint8(warped.target),
        source=to_uint8(warped.source),
        flow=flow,
    )
