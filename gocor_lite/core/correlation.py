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

Precision: a volume is computed in, and returned in, the dtype of its features; autocast
does not lower it (a float32 pair gives a float32 volume inside ``torch.autocast``, as RAFT
computes its correlation in float32). Argmax, soft-argmax and GOCor's step length all read
small differences between large scores.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gocor_lite._checks import check_feature_map, check_feature_pair, check_radius, check_volume

Reduction = Literal["mean", "sum"]

# Width, in target cells, of the column tiles of the local correlation (see _Tiling): small
# tiles waste fewer products ((T+2R) computed per 2R+1 needed), 8 was fastest here.
_TILE = 8
# Maps at most this many target cells wide are scored a whole row at a time (_rows_kernel):
# one matrix product per batch element instead of 2R+1, worth its wider products up to here
# (1.2x to 7x faster than the tiles from 8 to 48 cells wide, C = 64 and 256, R = 3, 4, 8;
# 0.8x to 1.3x at 64: one thread, median of 7).
_ROWS_MAX_WIDTH = 48


def _autocast_off(like: object) -> contextlib.AbstractContextManager[Any]:
    """A context in which autocast is off on ``like``'s device (no-op where it has none)."""
    device = getattr(like, "device", None)
    if isinstance(device, torch.device) and torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


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
    with _autocast_off(target):
        volume = _global_correlation(target, source, out)
    return volume.unflatten(-1, (source_height, source_width))


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


@dataclass(frozen=True)
class _Tiling:
    """How a row of ``w`` target cells is cut into tiles of ``T`` for the local correlation.

    A target row is padded to ``(n + e) * T`` cells: ``n`` tiles that cover it and ``e`` empty
    ones, so that the padded source row (``2R`` wider) is exactly as long. Then the tile
    ``t`` of row ``y`` starts ``(y * (n + e) + t) * T`` cells into both the padded target and
    (at row offset ``dy``) the padded source: one stride for every tile of every row, and a
    single batched matrix product per ``dy`` covers the whole map.
    """

    tile: int  # T
    tiles: int  # n + e, tiles per padded row
    padded_width: int  # (n + e) * T

    @classmethod
    def of(cls, width: int, radius: int) -> _Tiling:
        tile = min(width, _TILE)
        tiles = -(-width // tile) + -(-2 * radius // tile)
        return cls(tile, tiles, tiles * tile)


def _padded_source(source: Tensor, radius: int, height: int, tiling: _Tiling) -> Tensor:
    """The source on the target grid, zero-padded by ``radius``: ``(B, h+2R+1, W_p, C)``.

    Row ``y + R`` and column ``x + R`` hold ``source[:, :, y, x]`` where it exists, zero
    elsewhere (negative padding crops a source larger than the target grid); the extra last
    row keeps every tile's reach inside the tensor. Channels last and contiguous.
    """
    source_height, source_width = source.shape[2:]
    right = tiling.padded_width - radius - source_width
    bottom = height + radius + 1 - source_height
    padded = F.pad(source, (radius, right, radius, bottom))  # (B, C, h+2R+1, W_p)
    return padded.permute(0, 2, 3, 1).contiguous()  # (B, h+2R+1, W_p, C)


def _source_tiles(
    padded: Tensor, row_offset: int, tiles: int, tiling: _Tiling, radius: int
) -> Tensor:
    """The ``T + 2R`` source cells each tile can reach at row offset ``dy``, for one batch
    element: ``padded (h+2R+1, W_p, C) -> (K, T+2R, C)``, ``K = h * (n + e)`` (a view)."""
    channels = padded.shape[-1]
    reach = tiling.tile + 2 * radius
    # as_strided without an offset starts where its input does: row dy of the padded source
    # (a contiguous view; no storage_offset() call, which torch.compile cannot trace).
    start = padded[row_offset:]
    return start.as_strided((tiles, reach, channels), (tiling.tile * channels, channels, 1))


def _band(products: Tensor, size: int) -> Tensor:
    """``band[k, x, d] = products[k, x, x + d]`` for ``d < size``: a view of ``(K, T, T+2R)``."""
    tiles, tile, reach = products.shape
    return products.as_strided((tiles, tile, size), (tile * reach, reach + 1, 1))


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
    The tiles are laid out so that all of them share one stride (see ``_Tiling``): one
    batched product per ``dy`` over the whole map, on views of the inputs, without copies.
    Its gradients are the exact adjoints, computed the same way.

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
    with _autocast_off(target):
        return _local_correlation(target, source, radius, _reduce(target.shape[1], reduction))


def _local_correlation(target: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    """:func:`local_correlation` without the argument checks (for inner loops)."""
    return _local_correlation_op(target, source, radius, scale)


def _padded_rows(source: Tensor, radius: int, height: int, width: int) -> Tensor:
    """The source on the target grid, zero-padded by ``radius`` on every side:
    ``(B, h+2R, w+2R, C)``, channels last and contiguous (negative padding crops a source
    larger than the target grid)."""
    source_height, source_width = source.shape[2:]
    padded = F.pad(
        source, (radius, width + radius - source_width, radius, height + radius - source_height)
    )
    return padded.permute(0, 2, 3, 1).contiguous()


def _row_reach(padded: Tensor, size: int) -> Tensor:
    """The ``2R+1`` padded source rows each target row ``y`` reaches (rows ``y .. y+2R``, all
    columns), for one batch element: ``(h+2R, W, C) -> (h, (2R+1) W, C)`` (a view)."""
    rows, columns, channels = padded.shape
    height = rows - size + 1
    return padded.as_strided((height, size * columns, channels), (columns * channels, channels, 1))


def _row_band(products: Tensor, size: int) -> Tensor:
    """``band[y, x, dy, dx] = products[y, x, dy * W + x + dx]``: ``(h, w, S W) -> (h, w, S, S)``
    (a view), ``W = w + 2R``."""
    height, width, reach = products.shape
    columns = reach // size
    return products.as_strided((height, width, size, size), (width * reach, reach + 1, columns, 1))


def _rows_kernel(target: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    """:func:`_local_correlation_kernel` for narrow maps: each target row against the whole
    ``2R+1`` source rows it reaches, ``(w, C) @ (C, (2R+1)(w+2R))``, one batched product per
    batch element; the window is the band ``dx in [-R, R]`` of each row's products."""
    batch, _, height, width = target.shape
    size = 2 * radius + 1
    padded = _padded_rows(source, radius, height, width)  # (B, h+2R, w+2R, C)
    rows = target.permute(0, 2, 3, 1)  # (B, h, w, C), a view
    out = target.new_empty(batch, height, width, size, size)
    for b in range(batch):
        products = torch.bmm(rows[b], _row_reach(padded[b], size).transpose(1, 2))
        out[b] = _row_band(products, size)
    return out.mul_(scale) if scale != 1.0 else out


def _rows_adjoint(volume: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    """:func:`_local_adjoint_kernel` for narrow maps: the window of each target cell placed in
    a zero row of ``(2R+1)(w+2R)`` weights, then ``(w, (2R+1)(w+2R)) @ ((2R+1)(w+2R), C)`` per
    target row."""
    batch, height, width, size = volume.shape[:4]
    channels = source.shape[1]
    padded = _padded_rows(source, radius, height, width)  # (B, h+2R, w+2R, C)
    columns = width + 2 * radius
    weights = volume.new_zeros(height, width, size * columns)
    band = _row_band(weights, size)  # (h, w, S, S) view
    out = volume.new_empty(batch, height, width, channels)
    for b in range(batch):
        band.copy_(volume[b])
        torch.bmm(weights, _row_reach(padded[b], size), out=out[b])
    out = out.permute(0, 3, 1, 2)  # (B, C, h, w), channels last in memory
    return out.mul_(scale) if scale != 1.0 else out


def _local_correlation_kernel(target: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    """The computation of :func:`local_correlation` (no autograd): ``(B, h, w, S, S)``."""
    batch, channels, height, width = target.shape
    if width <= _ROWS_MAX_WIDTH:
        return _rows_kernel(target, source, radius, scale)
    size = 2 * radius + 1
    tiling = _Tiling.of(width, radius)
    tile, tiles = tiling.tile, height * tiling.tiles
    padded_target = F.pad(target, (0, tiling.padded_width - width)).permute(0, 2, 3, 1)
    padded_target = padded_target.contiguous().view(batch, tiles, tile, channels)  # (B,K,T,C)
    padded_source = _padded_source(source, radius, height, tiling)
    products = target.new_empty(tiles, tile, tile + 2 * radius)  # reused for every dy
    band = _band(products, size)  # (K, T, S) view
    out = target.new_empty(batch, height, tiling.tiles, tile, size, size)
    for b in range(batch):
        for dy in range(size):
            reach = _source_tiles(padded_source[b], dy, tiles, tiling, radius)  # (K, T+2R, C)
            torch.bmm(padded_target[b], reach.transpose(1, 2), out=products)
            out[b, :, :, :, dy] = band.view(height, tiling.tiles, tile, size)
    out = out.view(batch, height, tiling.padded_width, size, size)[:, :, :width]
    return out * scale if scale != 1.0 else out.contiguous()  # (B, h, w, S, S), contiguous


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
    volume = check_volume(volume, "local", radius=radius)
    if volume.shape[0] != source.shape[0]:
        raise ValueError(
            f"volume and source must have the same batch size, got {tuple(volume.shape)} "
            f"and {tuple(source.shape)}"
        )
    if target_size is not None and tuple(volume.shape[1:3]) != tuple(target_size):
        raise ValueError(f"volume is for a {tuple(volume.shape[1:3])} grid, not {target_size}")
    with _autocast_off(source):
        return _local_correlation_adjoint(
            volume, source, radius, _reduce(source.shape[1], reduction)
        )


def _local_correlation_adjoint(volume: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    """:func:`local_correlation_adjoint` without the argument checks (for inner loops)."""
    return _local_adjoint_op(volume, source, radius, scale)


def _local_adjoint_kernel(volume: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    """The computation of :func:`local_correlation_adjoint` (no autograd): ``(B, C, h, w)``."""
    batch, height, width, size = volume.shape[:4]
    channels = source.shape[1]
    if width <= _ROWS_MAX_WIDTH:
        return _rows_adjoint(volume, source, radius, scale)
    tiling = _Tiling.of(width, radius)
    tile, tiles = tiling.tile, height * tiling.tiles
    padded_volume = F.pad(volume, (0, 0, 0, 0, 0, tiling.padded_width - width))
    padded_volume = padded_volume.view(batch, tiles, tile, size, size)  # (B, K, T, S, S)
    padded_source = _padded_source(source, radius, height, tiling)
    weights = volume.new_zeros(tiles, tile, tile + 2 * radius)  # band matrices, zero elsewhere
    band = _band(weights, size)  # (K, T, S) view
    out = volume.new_zeros(batch, tiles, tile, channels)
    for b in range(batch):
        for dy in range(size):
            band.copy_(padded_volume[b, :, :, dy])
            reach = _source_tiles(padded_source[b], dy, tiles, tiling, radius)  # (K, T+2R, C)
            out[b].baddbmm_(weights, reach)
    out = out.view(batch, height, tiling.padded_width, channels)[:, :, :width]
    out = out.permute(0, 3, 1, 2)  # (B, C, h, w), channels last in memory
    return out * scale if scale != 1.0 else out.contiguous(memory_format=torch.channels_last)


def _window_transpose(volume: Tensor, size: tuple[int, int]) -> Tensor:
    """Re-index a local volume on the other map's grid: ``(B, h, w, S, S) -> (B, h', w', S, S)``
    with ``out[b, y', x', R+e, R+f] = volume[b, y'+e, x'+f, R-e, R-f]`` (zero off the grid).

    Entry ``[y, x, R+dy, R+dx]`` pairs target cell ``(y, x)`` with source cell ``(y+dy, x+dx)``;
    the output holds the same pairs indexed from the source cell, so that the adjoint of a
    local correlation in its *second* argument is :func:`_local_correlation_adjoint` of this.
    """
    batch, height, width, window = volume.shape[:4]
    radius = window // 2
    other_height, other_width = size
    flipped = volume.flip(-1, -2)  # [y, x, R-e, R-f] at [y, x, R+e, R+f]
    padded = F.pad(
        flipped,
        (0, 0, 0, 0, radius, other_width + radius - width, radius, other_height + radius - height),
    ).contiguous()  # (B, h'+2R, w'+2R, S, S): target cell (y, x) at (y+R, x+R)
    rows, columns = padded.shape[1:3]
    cell = window * window
    return padded.as_strided(
        (batch, other_height, other_width, window, window),
        (rows * columns * cell, columns * cell, cell, columns * cell + window, cell + 1),
    )


# The two kernels as PyTorch operators: torch.compile sees one opaque node each (with the shape
# rule below), not the loops over batch and row offsets, and each one's gradient is the other
# (so both are differentiable any number of times).


@torch.library.custom_op("gocor_lite::local_correlation", mutates_args=())
def _local_correlation_op(target: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    return _local_correlation_kernel(target, source, radius, scale)


@_local_correlation_op.register_fake
def _(target: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    batch, _, height, width = target.shape
    size = 2 * radius + 1
    return target.new_empty(batch, height, width, size, size)


@torch.library.custom_op("gocor_lite::local_correlation_adjoint", mutates_args=())
def _local_adjoint_op(volume: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    return _local_adjoint_kernel(volume, source, radius, scale)


@_local_adjoint_op.register_fake
def _(volume: Tensor, source: Tensor, radius: int, scale: float) -> Tensor:
    batch, height, width = volume.shape[:3]
    out = volume.new_empty(batch, source.shape[1], height, width)
    return out.contiguous(memory_format=torch.channels_last)  # as the kernel's


def _save_pair(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    first, second, radius, scale = inputs
    ctx.save_for_backward(first, second)
    ctx.radius, ctx.scale = radius, scale


def _local_correlation_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    target, source = ctx.saved_tensors
    radius, scale = ctx.radius, ctx.scale
    grad_target = grad_source = None
    if ctx.needs_input_grad[0]:
        grad_target = _local_correlation_adjoint(grad, source, radius, scale)
    if ctx.needs_input_grad[1]:
        transposed = _window_transpose(grad, (source.shape[2], source.shape[3]))
        grad_source = _local_correlation_adjoint(transposed, target, radius, scale)
    return grad_target, grad_source, None, None


def _local_adjoint_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    volume, source = ctx.saved_tensors
    radius, scale = ctx.radius, ctx.scale
    grad_volume = grad_source = None
    if ctx.needs_input_grad[0]:
        grad_volume = _local_correlation(grad, source, radius, scale)
    if ctx.needs_input_grad[1]:
        transposed = _window_transpose(volume, (source.shape[2], source.shape[3]))
        grad_source = _local_correlation_adjoint(transposed, grad, radius, scale)
    return grad_volume, grad_source, None, None


_local_correlation_op.register_autograd(_local_correlation_backward, setup_context=_save_pair)
_local_adjoint_op.register_autograd(_local_adjoint_backward, setup_context=_save_pair)


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
