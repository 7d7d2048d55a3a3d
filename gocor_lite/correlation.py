# SPDX-License-Identifier: MIT
"""Feature correlation: the global volume, the local (windowed) volume and its adjoint.

Convention:
    ``target`` is the image on whose grid flow is defined (GOCor's *reference*), ``source`` the
    image searched for matches (GOCor's *query*). Volumes are indexed target first:

    * global: ``(B, h, w, h', w')``, entry ``[b, y, x, y', x'] = <target[b, :, y, x],
      source[b, :, y', x']>`` (a plain sum over channels);
    * local with search radius ``R``: ``(B, h, w, 2R+1, 2R+1)``, entry ``[b, y, x, R+dy, R+dx]
      = (1/C) <target[b, :, y, x], source[b, :, y+dy, x+dx]>`` (a *mean* over channels, as
      the released GOCor does; ``reduction="sum"`` drops the ``1/C``), zero where
      ``(y+dy, x+dx)`` falls outside the source map. The window is dy-major: the flattened
      channel of a displacement is ``(dy+R)*(2R+1) + (dx+R)``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gocor_lite._checks import check_feature_map, check_feature_pair, check_radius

Reduction = Literal["mean", "sum"]

# Width, in target cells, of the column tiles of the local correlation (see _local_tiles).
_TILE = 16


def global_correlation(target: Tensor, source: Tensor, *, out: Tensor | None = None) -> Tensor:
    """All-pairs scalar products between target and source feature vectors.

    Shapes: target ``(B, C, h, w)``, source ``(B, C, h', w')`` -> ``(B, h, w, h', w')``.

    ``out``: a contiguous ``(B, h, w, h', w')`` tensor of the inputs' dtype and device to write
    the volume into, reused across calls (a fresh large volume costs up to ~2x the multiply
    itself in page faults on CPU). Not differentiable: for inference.

    >>> target = torch.zeros(1, 2, 1, 1); target[0, :, 0, 0] = torch.tensor([1.0, 2.0])
    >>> source = torch.ones(1, 2, 1, 3)
    >>> global_correlation(target, source).flatten().tolist()
    [3.0, 3.0, 3.0]
    """
    target, source = check_feature_pair(target, source)
    source_height, source_width = source.shape[2:]
    if out is not None:
        batch, _, height, width = target.shape
        expected = (batch, height, width, source_height, source_width)
        if (
            tuple(out.shape) != expected
            or not out.is_contiguous()
            or out.dtype != target.dtype
            or out.device != target.device
        ):
            raise ValueError(
                f"out must be a contiguous {target.dtype} tensor of shape {expected} on "
                f"{target.device}, got {tuple(out.shape)} {out.dtype} on {out.device}"
            )
    return _global_correlation(target, source, out).unflatten(-1, (source_height, source_width))


def _global_correlation(target: Tensor, source: Tensor, out: Tensor | None = None) -> Tensor:
    """Unchecked global correlation, source cells flattened: ``(B, h, w, h'*w')``."""
    batch, _, height, width = target.shape
    rows = target.flatten(2).transpose(1, 2)  # (B, hw, C)
    if out is None:
        scores = torch.bmm(rows, source.flatten(2))  # (B, hw, h'w')
    else:
        scores = torch.bmm(rows, source.flatten(2), out=out.view(batch, height * width, -1))
    return scores.view(batch, height, width, -1)


def _global_correlation_adjoint(volume: Tensor, source: Tensor) -> Tensor:
    """Adjoint of :func:`_global_correlation` in its target: ``(B, h, w, h'w') -> (B, C, h, w)``.

    ``out[b, :, y, x] = sum_j volume[b, y, x, j] * source[b, :, j]``.
    """
    batch, height, width, _ = volume.shape
    out = torch.bmm(source.flatten(2), volume.reshape(batch, height * width, -1).transpose(1, 2))
    return out.view(batch, -1, height, width)  # (B, C, h, w)


def _reduce(channels: int, reduction: Reduction) -> float:
    if reduction == "mean":
        return 1.0 / channels
    if reduction == "sum":
        return 1.0
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def _padded_source_rows(source: Tensor, radius: int, height: int, tiled_width: int) -> Tensor:
    """The source map on the target grid, zero-padded by ``radius``: ``(B, h+2R, W_t+2R, C)``.

    Row ``y + R`` and column ``x + R`` hold ``source[:, :, y, x]`` where it exists, zero
    elsewhere (negative padding crops a source larger than the target grid).
    """
    source_height, source_width = source.shape[2:]
    padded = F.pad(
        source,
        (radius, tiled_width + radius - source_width, radius, height + radius - source_height),
    )
    return padded.permute(0, 2, 3, 1)  # (B, h+2R, W_t+2R, C), channels last for the GEMMs


def _tile_geometry(width: int) -> tuple[int, int]:
    tile = min(width, _TILE)
    num_tiles = -(-width // tile)
    return tile, num_tiles


def local_correlation(
    target: Tensor, source: Tensor, radius: int, reduction: Reduction = "mean"
) -> Tensor:
    """Scalar products between each target vector and the source vectors in a window around it.

    Shapes: target ``(B, C, h, w)``, source ``(B, C, h', w')`` -> ``(B, h, w, 2R+1, 2R+1)``.

    Convention: ``out[b, y, x, R+dy, R+dx] = (1/C) <target[b, :, y, x], source[b, :, y+dy,
    x+dx]>`` with ``1/C`` only for ``reduction="mean"`` (the default, as in the released GOCor),
    and zero where ``(y+dy, x+dx)`` lies outside the source map. The source may be smaller or
    larger than the target; ``radius`` may exceed the map.

    How: for each row offset ``dy``, each row of target cells is cut into tiles of ``T``
    columns; one small matrix product per tile scores its ``T`` vectors against the ``T+2R``
    source vectors it can reach, and the band ``dx in [-R, R]`` is read off the product.

    >>> feats = torch.arange(4.0).view(1, 1, 2, 2)  # one channel: [[0, 1], [2, 3]]
    >>> local_correlation(feats, feats, radius=1)[0, 0, 0]  # cell (0, 0) against its window
    tensor([[0., 0., 0.],
            [0., 0., 0.],
            [0., 0., 0.]])
    >>> local_correlation(feats, feats, radius=1)[0, 1, 1]  # cell (1, 1), value 3
    tensor([[0., 3., 0.],
            [6., 9., 0.],
            [0., 0., 0.]])
    """
    target, source = check_feature_pair(target, source)
    radius = check_radius(radius)
    return _local_correlation(target, source, radius, _reduce(target.shape[1], reduction))


def _local_correlation(target: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    """:func:`local_correlation` without the argument checks (for inner loops)."""
    batch, channels, height, width = target.shape
    size = 2 * radius + 1
    tile, num_tiles = _tile_geometry(width)
    reach = tile + 2 * radius  # source columns one tile of target columns can reach

    target_tiles = F.pad(target, (0, tile * num_tiles - width)).permute(0, 2, 3, 1)
    target_tiles = target_tiles.reshape(batch, height, num_tiles, tile, channels)
    source_rows = _padded_source_rows(source, radius, height, tile * num_tiles)

    rows = []
    for dy in range(size):
        band = source_rows[:, dy : dy + height]  # (B, h, W_t+2R, C)
        band_tiles = band.unfold(2, reach, tile)  # (B, h, n, C, T+2R)
        products = torch.matmul(target_tiles, band_tiles)  # (B, h, n, T, T+2R)
        rows.append(_band_to_window(products, size))  # (B, h, n, T, 2R+1)
    window = torch.stack(rows, dim=-2)  # (B, h, n, T, 2R+1 [dy], 2R+1 [dx])
    window = window.reshape(batch, height, num_tiles * tile, size, size)[:, :, :width]
    return window * scale if scale != 1.0 else window


def _band_to_window(products: Tensor, size: int) -> Tensor:
    """Read ``out[..., x, k] = products[..., x, x + k]`` for ``k < size``.

    Flattening a ``(T, L)`` matrix and re-reading it with rows of length ``L + 1`` shifts each
    row by one more element than the last, which puts the band on the columns.
    """
    tile, length = products.shape[-2:]
    flat = F.pad(products.flatten(-2), (0, tile))  # (..., T*(L+1))
    return flat.view(*products.shape[:-2], tile, length + 1)[..., :size]


def _window_to_band(window: Tensor, length: int) -> Tensor:
    """The adjoint of :func:`_band_to_window`: ``band[..., x, x + k] = window[..., x, k]``."""
    tile, size = window.shape[-2:]
    rows = F.pad(window, (0, length + 1 - size))  # (..., T, L+1)
    return rows.flatten(-2)[..., : tile * length].view(*window.shape[:-2], tile, length)


def local_correlation_adjoint(
    volume: Tensor,
    source: Tensor,
    radius: int,
    reduction: Reduction = "mean",
    target_size: tuple[int, int] | None = None,
) -> Tensor:
    """The adjoint (transpose) of :func:`local_correlation` with respect to its target argument.

    Shapes: volume ``(B, h, w, 2R+1, 2R+1)``, source ``(B, C, h', w')`` -> ``(B, C, h, w)``.

    ``out[b, c, y, x] = (1/C) * sum_{dy, dx} volume[b, y, x, R+dy, R+dx] *
    source[b, c, y+dy, x+dx]`` (terms outside the source map are zero), so that
    ``<local_correlation(t, s, R), v> == <t, local_correlation_adjoint(v, s, R)>``.
    It is the gradient of a loss on local scores with respect to the target features, which is
    what local GOCor needs for its filter update.
    """
    source = check_feature_map("source", source)
    radius = check_radius(radius)
    size = 2 * radius + 1
    if volume.dim() != 5 or volume.shape[-2:] != (size, size):
        raise ValueError(
            f"volume must have shape (B, h, w, {size}, {size}) for radius {radius}, "
            f"got {tuple(volume.shape)}"
        )
    if volume.shape[0] != source.shape[0]:
        raise ValueError(
            f"volume and source must have the same batch size, got {tuple(volume.shape)} "
            f"and {tuple(source.shape)}"
        )
    if target_size is not None and tuple(volume.shape[1:3]) != tuple(target_size):
        raise ValueError(f"volume is for a {tuple(volume.shape[1:3])} grid, not {target_size}")
    return _local_correlation_adjoint(volume, source, radius, _reduce(source.shape[1], reduction))


def _local_correlation_adjoint(volume: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    """:func:`local_correlation_adjoint` without the argument checks (for inner loops)."""
    batch, height, width, size = volume.shape[:4]
    channels = source.shape[1]
    tile, num_tiles = _tile_geometry(width)
    reach = tile + 2 * radius

    volume = F.pad(volume, (0, 0, 0, 0, 0, tile * num_tiles - width))
    volume = volume.view(batch, height, num_tiles, tile, size, size)
    source_rows = _padded_source_rows(source, radius, height, tile * num_tiles)

    out = None
    for dy in range(size):
        band = source_rows[:, dy : dy + height]  # (B, h, W_t+2R, C)
        band_tiles = band.unfold(2, reach, tile).transpose(-1, -2)  # (B, h, n, T+2R, C)
        weights = _window_to_band(volume[..., dy, :], reach)  # (B, h, n, T, T+2R)
        term = torch.matmul(weights, band_tiles)  # (B, h, n, T, C)
        out = term if out is None else out + term
    assert out is not None  # size >= 1
    out = out.reshape(batch, height, num_tiles * tile, channels)[:, :, :width]
    out = out.permute(0, 3, 1, 2)  # (B, C, h, w)
    return out * scale if scale != 1.0 else out


# ---------------------------------------------------------------------------------------------
# Layout conversions between the readable volumes above and the flattened layouts networks use.


def global_to_flat(volume: Tensor) -> Tensor:
    """``(B, h, w, h', w') -> (B, h'*w', h, w)``: one channel per source cell, row-major."""
    batch, height, width, source_height, source_width = volume.shape
    flat = volume.permute(0, 3, 4, 1, 2)  # (B, h', w', h, w)
    return flat.reshape(batch, source_height * source_width, height, width)


def flat_to_global(flat: Tensor, source_size: tuple[int, int]) -> Tensor:
    """``(B, h'*w', h, w) -> (B, h, w, h', w')``, the inverse of :func:`global_to_flat`."""
    batch, cells, height, width = flat.shape
    source_height, source_width = source_size
    if cells != source_height * source_width:
        raise ValueError(
            f"flat volume has {cells} channels, expected {source_height}*{source_width} "
            f"for source size {source_size}"
        )
    volume = flat.view(batch, source_height, source_width, height, width)
    return volume.permute(0, 3, 4, 1, 2)


def local_to_flat(volume: Tensor) -> Tensor:
    """``(B, h, w, 2R+1, 2R+1) -> (B, (2R+1)^2, h, w)``, channel ``(dy+R)*(2R+1) + (dx+R)``."""
    batch, height, width, size, _ = volume.shape
    return volume.permute(0, 3, 4, 1, 2).reshape(batch, size * size, height, width)


def flat_to_local(flat: Tensor) -> Tensor:
    """``(B, (2R+1)^2, h, w) -> (B, h, w, 2R+1, 2R+1)``, the inverse of :func:`local_to_flat`."""
    batch, channels, height, width = flat.shape
    size = round(channels**0.5)
    if size * size != channels or size % 2 == 0:
        raise ValueError(
            f"a flat local volume has (2R+1)^2 channels; got {channels}, which is not an odd square"
        )
    return flat.view(batch, size, size, height, width).permute(0, 3, 4, 1, 2)
