# SPDX-License-Identifier: MIT
"""Reading the GOCor parameters of the authors' released checkpoints.

This is the one place that knows the released parameter names. :func:`from_official` turns a
state dict with those names (with or without a model prefix such as ``corr.`` or
``local_corr.``) into a configured :class:`~gocor_lite.GlobalGOCor` or
:class:`~gocor_lite.LocalGOCor`, inferring the initialiser, the query-loss sizes and the number
of channels from the keys and shapes, and rejecting anything it does not know.
:func:`load_official_checkpoint` reads a GLU-Net-GOCor checkpoint file.

Released name -> ours (relative to the GOCor module; ``(1, N, 1, 1)`` tensors become ``(N,)``):

* ``filter_initializer.scaling`` -> ``initializer.scale``
* ``filter_initializer.target_fg``, ``.target_bg`` -> ``initializer.foreground``, ``.background``
* ``filter_optimizer.log_step_length`` -> ``log_step_length``
* ``filter_optimizer.filter_reg`` -> ``reg``
* ``filter_optimizer.label_map_predictor.weight`` -> ``distance.label_coeffs``
* ``filter_optimizer.spatial_weight_predictor.weight`` -> ``distance.weight_coeffs``
* ``filter_optimizer.target_mask_predictor.0.weight`` -> ``distance.slope_coeffs``
* ``filter_optimizer.reg_layer.weight1``, ``.weight2`` -> ``query_loss.source_weight``,
  ``.target_weight``
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from gocor_lite.files.statedict import CheckpointError, read_state_dict
from gocor_lite.gocor.modules import GlobalGOCor, GlobalGOCorConfig, LocalGOCor, LocalGOCorConfig

_INIT = "filter_initializer."
_OPT = "filter_optimizer."
_RENAMES = {
    _INIT + "scaling": "initializer.scale",
    _INIT + "target_fg": "initializer.foreground",
    _INIT + "target_bg": "initializer.background",
    _OPT + "log_step_length": "log_step_length",
    _OPT + "filter_reg": "reg",
    _OPT + "label_map_predictor.weight": "distance.label_coeffs",
    _OPT + "spatial_weight_predictor.weight": "distance.weight_coeffs",
    _OPT + "target_mask_predictor.0.weight": "distance.slope_coeffs",
    _OPT + "reg_layer.weight1": "query_loss.source_weight",
    _OPT + "reg_layer.weight2": "query_loss.target_weight",
}
# Coefficients of the distance functions are stored as 1x1 convolutions over the bins.
_BIN_KEYS = {
    _OPT + "label_map_predictor.weight",
    _OPT + "spatial_weight_predictor.weight",
    _OPT + "target_mask_predictor.0.weight",
}
_OPTIMIZER_KEYS = {_OPT + "log_step_length", _OPT + "filter_reg"} | _BIN_KEYS
_QUERY_KEYS = {_OPT + "reg_layer.weight1", _OPT + "reg_layer.weight2"}
# Model prefixes of the released GLU-Net-GOCor: its global and its local module.
GLOBAL_PREFIX = "corr.corr_module."
LOCAL_PREFIX = "local_corr."


class OfficialGOCor(NamedTuple):
    """The GOCor modules of a GLU-Net-GOCor checkpoint."""

    global_gocor: GlobalGOCor
    local_gocor: LocalGOCor


def _strip_prefix(state_dict: Mapping[str, object]) -> tuple[str, dict[str, Tensor]]:
    """Find the model prefix (everything before ``filter_initializer.``) and remove it."""
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointError("expected a non-empty state dict (a mapping of names to tensors)")
    prefixes = set()
    for key in state_dict:
        if not isinstance(key, str):
            raise CheckpointError(f"state dict keys must be strings, got {key!r}")
        for marker in (_INIT, _OPT):
            if marker in key:
                prefixes.add(key[: key.index(marker)])
                break
        else:
            raise CheckpointError(
                f"unexpected key {key!r}: GOCor keys contain 'filter_initializer.' or "
                "'filter_optimizer.'"
            )
    if len(prefixes) > 1:
        raise CheckpointError(
            f"keys of several modules are mixed (prefixes {sorted(prefixes)}); pass one "
            "module's keys, or use load_official_checkpoint for a whole GLU-Net-GOCor file"
        )
    prefix = prefixes.pop()
    stripped: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if not isinstance(value, Tensor):
            raise CheckpointError(f"{key!r} is a {type(value).__name__}, not a tensor")
        stripped[key[len(prefix) :]] = value
    return prefix, stripped


def _expect_shape(key: str, value: Tensor, shape: tuple[int, ...]) -> None:
    if tuple(value.shape) != shape:
        raise CheckpointError(f"{key!r} has shape {tuple(value.shape)}, expected {shape}")


def from_official(
    state_dict: Mapping[str, object],
    kind: Literal["global", "local"] = "global",
    num_iter: int = 3,
    search_radius: int = 4,
) -> GlobalGOCor | LocalGOCor:
    """Build a GOCor module from a state dict with the authors' parameter names.

    ``kind="global"`` accepts the keys of GLU-Net-GOCor's ``corr.corr_module.*`` (any
    initialiser, with or without the query loss); ``kind="local"`` those of ``local_corr.*``
    (``search_radius`` is not stored in the checkpoint; the released code fixes 4). Raises
    :class:`CheckpointError` (a ``ValueError``) naming any unexpected, missing or misshapen key.
    """
    if kind not in ("global", "local"):
        raise ValueError(f"kind must be 'global' or 'local', got {kind!r}")
    prefix, params = _strip_prefix(state_dict)

    # The initialiser follows from its keys and shapes.
    if _INIT + "scaling" in params:
        init_keys = {_INIT + "scaling"}
        channels = params[_INIT + "scaling"].numel()
        initializer = "flexible-simple" if channels > 1 else "simple"
    elif _INIT + "target_fg" in params or _INIT + "target_bg" in params:
        init_keys = {_INIT + "target_fg", _INIT + "target_bg"}
        channels = params.get(_INIT + "target_fg", params.get(_INIT + "target_bg")).numel()  # type: ignore[union-attr]
        initializer = "flexible-context-aware" if channels > 1 else "context-aware"
    else:
        raise CheckpointError(
            f"missing key {prefix + _INIT + 'scaling'!r} (or 'target_fg'/'target_bg'): "
            "cannot tell the filter initialiser"
        )
    num_channels = channels if channels > 1 else None
    query_loss = any(key in params for key in _QUERY_KEYS)
    expected = init_keys | _OPTIMIZER_KEYS | (_QUERY_KEYS if query_loss else set())
    unexpected, missing = sorted(params.keys() - expected), sorted(expected - params.keys())
    if unexpected:
        names = ", ".join(repr(prefix + key) for key in unexpected)
        raise CheckpointError(f"unexpected key(s) for a {kind} GOCor module: {names}")
    if missing:
        names = ", ".join(repr(prefix + key) for key in missing)
        raise CheckpointError(f"missing key(s) for a {kind} GOCor module: {names}")

    for key in init_keys:
        _expect_shape(prefix + key, params[key], (channels,))
    for key in (_OPT + "log_step_length", _OPT + "filter_reg"):
        _expect_shape(prefix + key, params[key], (1,))
    label_weight = params[_OPT + "label_map_predictor.weight"]
    num_bins = label_weight.shape[1] if label_weight.dim() == 4 else 0
    for key in sorted(_BIN_KEYS):
        _expect_shape(prefix + key, params[key], (1, max(num_bins, 2), 1, 1))

    module: GlobalGOCor | LocalGOCor
    if kind == "global":
        sizes = GlobalGOCorConfig()  # the query loss's sizes when the file has none
        kernel, hidden = sizes.query_kernel_size, sizes.query_hidden_channels
        out_channels = sizes.query_out_channels
        if query_loss:
            source_weight = params[_OPT + "reg_layer.weight1"]
            target_weight = params[_OPT + "reg_layer.weight2"]
            if (
                source_weight.dim() != 4
                or source_weight.shape[1] != 1
                or (source_weight.shape[2] != source_weight.shape[3])
            ):
                raise CheckpointError(
                    f"{prefix + _OPT + 'reg_layer.weight1'!r} has shape "
                    f"{tuple(source_weight.shape)}, expected (D1, 1, k, k)"
                )
            hidden, _, kernel, _ = source_weight.shape
            if target_weight.dim() != 4 or target_weight.shape[1:] != (hidden, kernel, kernel):
                raise CheckpointError(
                    f"{prefix + _OPT + 'reg_layer.weight2'!r} has shape "
                    f"{tuple(target_weight.shape)}, expected (D2, {hidden}, {kernel}, {kernel})"
                )
            out_channels = target_weight.shape[0]
        module = GlobalGOCor(
            GlobalGOCorConfig(
                num_iter=num_iter,
                initializer=initializer,
                num_channels=num_channels,
                num_bins=num_bins,
                query_loss=query_loss,
                query_kernel_size=kernel,
                query_hidden_channels=hidden,
                query_out_channels=out_channels,
            )
        )
    else:
        if query_loss:
            raise CheckpointError(
                f"unexpected key {prefix + _OPT + 'reg_layer.weight1'!r}: local GOCor has "
                "no query loss"
            )
        if initializer.endswith("context-aware"):
            raise CheckpointError(
                f"unexpected key {prefix + _INIT + 'target_fg'!r}: local GOCor uses the simple "
                "initialiser"
            )
        module = LocalGOCor(
            LocalGOCorConfig(
                num_iter=num_iter,
                initializer=initializer,
                num_channels=num_channels,
                num_bins=num_bins,
                search_radius=search_radius,
            )
        )

    ours = {
        _RENAMES[key]: (value.reshape(-1) if key in _BIN_KEYS else value)
        for key, value in params.items()
    }
    module.load_state_dict(
        {name: value.detach().to(torch.float32) for name, value in ours.items()}, strict=True
    )
    return module


def to_official(module: GlobalGOCor | LocalGOCor, prefix: str = "") -> dict[str, Tensor]:
    """The inverse of :func:`from_official`: our module's parameters under the released names."""
    inverse = {ours: theirs for theirs, ours in _RENAMES.items()}
    out = {}
    for name, value in module.state_dict().items():
        theirs = inverse[name]
        out[prefix + theirs] = value.view(1, -1, 1, 1) if theirs in _BIN_KEYS else value
    return out


def load_official_checkpoint(
    path: str | Path, num_iter: int = 3, search_radius: int = 4
) -> OfficialGOCor:
    """Read the GOCor modules of a GLU-Net-GOCor checkpoint file (``weights_only`` loading).

    The file's top level is the network's state dict or a dict holding it under
    ``"state_dict"``; the global module's keys start with ``corr.corr_module.`` and the local
    module's with ``local_corr.``. Other keys (the VGG-16 pyramid, the decoders) are left alone.
    """
    loaded = read_state_dict(
        path,
        "GLU-Net-GOCor checkpoint file",
        "pass the path of a checkpoint the GOCor authors released (GLUNet_GOCor_*.pth)",
    )
    parts: dict[str, GlobalGOCor | LocalGOCor] = {}
    kinds: tuple[tuple[Literal["global", "local"], str], ...] = (
        ("global", GLOBAL_PREFIX),
        ("local", LOCAL_PREFIX),
    )
    for kind, prefix in kinds:
        keys = {
            key: value
            for key, value in loaded.items()
            if isinstance(key, str) and key.startswith(prefix)
        }
        if not keys:
            raise CheckpointError(
                f"{path} has no keys starting with {prefix!r}: it is not a GLU-Net-GOCor checkpoint"
            )
        parts[kind] = from_official(
            keys,
            kind=kind,
            num_iter=num_iter,
            search_radius=search_radius,
        )
    global_gocor, local_gocor = parts["global"], parts["local"]
    assert isinstance(global_gocor, GlobalGOCor) and isinstance(local_gocor, LocalGOCor)
    return OfficialGOCor(global_gocor, local_gocor)
