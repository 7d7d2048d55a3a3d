# SPDX-License-Identifier: MIT
"""Reading weights files safely: every ``.pt`` the library loads goes through
:func:`read_state_dict` (``torch.load(..., weights_only=True)``, so a file can hold tensors but
never run code) and :func:`take_tensors` (exactly the expected keys and shapes, or a
:class:`CheckpointError` naming the key at fault)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor


class CheckpointError(ValueError):
    """A state dict or checkpoint file that is not what a loader expects; says which key."""


def read_state_dict(path: str | Path, what: str, hint: str) -> dict[str, Tensor]:
    """Read a weights file safely (``weights_only``) as a state dict of tensors.

    The file's top level is the state dict itself or a dict holding it under ``"state_dict"``
    (other top-level entries, such as training metadata, are ignored then). ``what`` names the
    file's kind in messages; ``hint`` says where such a file comes from.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}; {hint}")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and unpickler errors have no common base
        raise CheckpointError(_unreadable(path, what, error)) from error
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise CheckpointError(
            f"{path} holds a {type(loaded).__name__}, expected a {what}: a state dict (or a "
            "dict with 'state_dict')"
        )
    state: dict[str, Tensor] = {}
    for key, value in loaded.items():
        if not isinstance(key, str):
            raise CheckpointError(f"{path}: state dict keys must be strings, got {key!r}")
        state[key] = value
    return state


def _unreadable(path: Path, what: str, error: Exception) -> str:
    """Why a weights file cannot be read safely, and what to do instead.

    PyTorch's own message advises retrying with ``weights_only=False``, even for a corrupt file;
    for a file from someone else that advice means running whatever code it holds, so it is
    never passed on. What the file holds is said instead: objects other than tensors (a whole
    pickled model or training state), or nothing PyTorch can read at all.
    """
    text = str(error)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (
            f"{path} is not a PyTorch weights file that can be read safely: besides tensors it "
            f"holds Python objects ({found.group(1)}; a whole pickled model or training state?), "
            f"and reading those could run any code. Expected a {what}: save only the tensors "
            "(for a model, torch.save(model.state_dict(), file)) and give that file instead"
        )
    return (
        f"{path} is not a PyTorch weights file: it cannot be read as one (damaged, truncated "
        f"or another kind of file). Expected a {what}"
    )


def take_tensors(
    state: Mapping[str, object],
    expected: Mapping[str, tuple[int, ...]],
    path: str | Path,
    what: str,
) -> dict[str, Tensor]:
    """Check that ``state`` has exactly the ``expected`` keys, as floating tensors of the
    expected shapes; return them as float32. Messages name the file and the keys at fault."""
    unexpected = sorted(state.keys() - expected.keys())
    missing = sorted(expected.keys() - state.keys())
    if unexpected or missing:
        parts = []
        if missing:
            parts.append(f"missing key(s) {', '.join(map(repr, missing[:8]))}")
            parts.append("" if len(missing) <= 8 else f"(and {len(missing) - 8} more)")
        if unexpected:
            parts.append(f"unexpected key(s) {', '.join(map(repr, unexpected[:8]))}")
            parts.append("" if len(unexpected) <= 8 else f"(and {len(unexpected) - 8} more)")
        raise CheckpointError(f"{path} is not a {what}: {' '.join(p for p in parts if p)}")
    out = {}
    for key, shape in expected.items():
        value = state[key]
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise CheckpointError(
                f"{path}: {key!r} should be a floating-point tensor of shape {shape}, got "
                f"{value.dtype if isinstance(value, Tensor) else type(value).__name__}"
            )
        if tuple(value.shape) != shape:
            raise CheckpointError(
                f"{path}: {key!r} has shape {tuple(value.shape)}, expected {shape} (a {what})"
            )
        out[key] = value.detach().to(torch.float32)
    return out
