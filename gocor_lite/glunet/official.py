# SPDX-License-Identifier: MIT
"""Loading the GOCor authors' released GLU-Net checkpoints (``GLUNet_static.pth``,
``GLUNet_dynamic.pth``, ``GLUNet_GOCor_static.pth``, ``GLUNet_GOCor_dynamic.pth``; reference §1
and §11) into :class:`~gocor_lite.glunet.network.GLUNet`.

The file is read with :func:`gocor_lite.files.statedict.read_state_dict` (``weights_only``: it can
hold tensors, never code). Its top level is the state dict or a dict with ``state_dict``.
``GLUNet`` files have 262 entries; ``GLUNet_GOCor`` files the same plus 15 GOCor entries under
``corr.corr_module.`` (global) and ``local_corr.`` (local), which
:func:`gocor_lite.gocor.interop.from_official` translates (the one place that knows their
names). Every other key is the network's own module name, so it loads as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from gocor_lite.files.statedict import CheckpointError, read_state_dict
from gocor_lite.glunet.config import GLUNetConfig
from gocor_lite.glunet.network import GLUNet
from gocor_lite.gocor.interop import GLOBAL_PREFIX, LOCAL_PREFIX, from_official
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor

_WHAT = "GLU-Net or GLU-Net-GOCor checkpoint (GLUNet_*.pth, GLUNet_GOCor_*.pth)"
_HINT = (
    "download a released checkpoint from the GOCor authors' repository (its README links "
    "GLUNet_static.pth, GLUNet_GOCor_static.pth, ...) and pass its path"
)
# Keys every GLU-Net checkpoint has (one per part of the network), to tell another network's.
_MARKERS = ("decoder4.conv0.0.weight", "decoder1.predict_flow.weight", "pyramid.level_0.0.weight")
_GOCOR_ROOTS = ("corr.", "local_corr.")


def load_official_glunet(
    path_or_state_dict: str | Path | Mapping[str, object],
    *,
    global_iterations: int = 3,
    local_iterations: int = 3,
) -> GLUNet:
    """The authors' GLU-Net or GLU-Net-GOCor with their released weights, in ``eval()`` mode
    (every BatchNorm on its stored statistics), float32 on the CPU.

    ``path_or_state_dict``: a checkpoint file, or its state dict. The variant is told from the
    keys (GOCor keys under ``corr.`` / ``local_corr.``: ``GLUNet_GOCor``). ``global_iterations``
    and ``local_iterations``: GOCor's optimiser steps (the paper's 3 and 3; not stored in the
    file). Raises :class:`~gocor_lite.files.statedict.CheckpointError` (a ``ValueError``) naming
    what is wrong: a file of another network, missing or unexpected keys, wrong shapes or types.
    """
    if isinstance(path_or_state_dict, Mapping):
        source = "the state dict"
        state = dict(path_or_state_dict)
        inner = state.get("state_dict")
        if isinstance(inner, Mapping):
            state = dict(inner)
    else:
        source = str(path_or_state_dict)
        state = dict(read_state_dict(path_or_state_dict, _WHAT, _HINT))
    for key in state:
        if not isinstance(key, str):
            raise CheckpointError(f"{source}: state dict keys must be strings, got {key!r}")

    if not any(marker in state for marker in _MARKERS):
        sample = ", ".join(repr(key) for key in list(state)[:4]) or "none"
        raise CheckpointError(
            f"{source} is not a {_WHAT}: it has none of GLU-Net's keys ({', '.join(_MARKERS)}); "
            f"its first keys are {sample} (a checkpoint of another network?)"
        )
    gocor = any(key.startswith(_GOCOR_ROOTS) for key in state)
    if gocor:
        config = GLUNetConfig.glunet_gocor(global_iterations, local_iterations)
    else:
        config = GLUNetConfig.glunet()
    network = GLUNet(config)

    ours = network.state_dict()
    expected = {
        key: value
        for key, value in ours.items()
        if not key.startswith(_GOCOR_ROOTS)  # our GOCor modules' own names
    }
    given = {key: value for key, value in state.items() if not key.startswith(_GOCOR_ROOTS)}
    _check_keys(source, config.name, expected, given)
    loaded = {key: _as_tensor(source, key, given[key], expected[key]) for key in expected}

    if gocor:
        assert isinstance(network.corr, GlobalGOCor)
        assert isinstance(network.local_corr, LocalGOCor)
        for prefix, module, kind in (
            ("corr.", network.corr, "global"),
            ("local_corr.", network.local_corr, "local"),
        ):
            keys = {key: value for key, value in state.items() if key.startswith(prefix)}
            loaded.update(_gocor_state(source, keys, prefix, module, kind, config))
    network.load_state_dict(loaded, strict=True)
    return network.eval()


def _check_keys(
    source: str, variant: str, expected: Mapping[str, Tensor], given: Mapping[str, object]
) -> None:
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    if not missing and not unexpected:
        return
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected)):
        if keys:
            shown = ", ".join(repr(key) for key in keys[:8])
            more = f" (and {len(keys) - 8} more)" if len(keys) > 8 else ""
            parts.append(f"{len(keys)} {label} key(s): {shown}{more}")
    raise CheckpointError(
        f"{source} does not match the released {variant} network: {'; '.join(parts)}"
    )


def _as_tensor(source: str, key: str, value: object, reference: Tensor) -> Tensor:
    """``value`` checked against our parameter or buffer ``reference`` (shape, kind)."""
    if not isinstance(value, Tensor):
        raise CheckpointError(f"{source}: {key!r} is a {type(value).__name__}, not a tensor")
    if tuple(value.shape) != tuple(reference.shape):
        raise CheckpointError(
            f"{source}: {key!r} has shape {tuple(value.shape)}, expected {tuple(reference.shape)}"
        )
    if reference.is_floating_point():
        if not value.is_floating_point():
            raise CheckpointError(
                f"{source}: {key!r} should be a floating-point tensor, got {value.dtype}"
            )
        return value.detach().to(torch.float32)
    if value.is_floating_point() or value.is_complex():
        raise CheckpointError(f"{source}: {key!r} should be an integer tensor, got {value.dtype}")
    return value.detach().to(reference.dtype)


def _gocor_state(
    source: str,
    keys: dict[str, object],
    prefix: str,
    module: GlobalGOCor | LocalGOCor,
    kind: str,
    config: GLUNetConfig,
) -> dict[str, Tensor]:
    """The network's state entries of one GOCor module from the released keys under
    ``prefix``, translated by :func:`~gocor_lite.gocor.interop.from_official` and checked to be
    the released configuration."""
    released = GLOBAL_PREFIX if kind == "global" else LOCAL_PREFIX
    if not keys:
        raise CheckpointError(
            f"{source} has GOCor keys but none starting with {released!r}: the {kind} GOCor "
            "module of GLU-Net-GOCor is missing"
        )
    stray = sorted(key for key in keys if not key.startswith(released))
    if stray:
        raise CheckpointError(
            f"{source}: unexpected key(s) {', '.join(map(repr, stray))} (GLU-Net-GOCor's {kind} "
            f"GOCor keys start with {released!r})"
        )
    num_iter = module.config.num_iter
    try:
        if kind == "global":
            built = from_official(keys, kind="global", num_iter=num_iter)
        else:
            built = from_official(
                keys, kind="local", num_iter=num_iter, search_radius=config.search_radius
            )
    except CheckpointError as error:
        raise CheckpointError(f"{source}: {error}") from error
    ours, theirs = module.state_dict(), built.state_dict()
    if state_layout(ours) != state_layout(theirs):
        raise CheckpointError(
            f"{source}: the {kind} GOCor module under {released!r} is not GLU-Net-GOCor's "
            f"({built.config.initializer} initialiser, "
            f"{'with' if getattr(built.config, 'query_loss', False) else 'without'} query loss, "
            f"channels {built.config.num_channels}; expected {module.config.initializer}, "
            f"{'with' if getattr(module.config, 'query_loss', False) else 'without'} query loss, "
            f"channels {module.config.num_channels})"
        )
    return {prefix + name: value for name, value in theirs.items()}


def state_layout(state: Mapping[str, Tensor]) -> dict[str, tuple[int, ...]]:
    """``{name: shape}`` of a state dict."""
    return {name: tuple(value.shape) for name, value in state.items()}
