# SPDX-License-Identifier: MIT
"""Every file the project ships, and how it loads: the one module that knows where they are.

The shipped weights are package data (``gocor_lite/assets/weights/``, found with
:mod:`importlib.resources`, so an installed wheel has them too), made by
``python -m gocor_lite.train`` (``assets/weights/TRAINING.md`` says how):

* :data:`LEARNED_FEATURES`: the ``learned`` extractor's state dict
  (:func:`gocor_lite.features.make_extractor` ``("learned")`` reads it);
* :data:`TRAINED_GOCOR`: GOCor's learned parameters per extractor, ``"<extractor>/global"`` and
  ``"<extractor>/local"`` (:func:`load_trained_gocor`, and the rule "this project's trained
  parameters where the file has them for these features, else the paper's initial values",
  written once in :func:`gocor_module`);
* :data:`FLOW_DECODERS`: the flow pipeline's decoders per ``"<extractor>/<variant>"``
  (:func:`decoder_state`).

Every read goes through :func:`gocor_lite.statedict.read_state_dict` (``weights_only``).
Nothing here writes into the package unless a command is told to (``--refresh-shipped``).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor
from gocor_lite.statedict import CheckpointError, read_state_dict, take_tensors

#: The folder of the shipped weights, inside the installed package.
WEIGHTS_DIR = Path(str(importlib.resources.files("gocor_lite").joinpath("assets", "weights")))
LEARNED_FEATURES = WEIGHTS_DIR / "learned_features.pt"
TRAINED_GOCOR = WEIGHTS_DIR / "gocor_trained.pt"
FLOW_DECODERS = WEIGHTS_DIR / "flow_decoders.pt"
TRAINING_CARD = WEIGHTS_DIR / "TRAINING.md"

GOCorKind = Literal["global", "local"]
GOCorParameters = Literal["trained", "initial"]
_MADE_BY = "`python -m gocor_lite.train` writes it (or pass path=<file>)"


def save_states(
    path: str | Path, states: Mapping[str, Mapping[str, Tensor]], **metadata: Any
) -> None:
    """Write several named state dicts (float32, CPU) and string metadata to one file, in the
    layout every loader here reads: ``{"metadata": {...}, name: state_dict, ...}``."""
    file: dict[str, Any] = {"metadata": {key: str(value) for key, value in metadata.items()}}
    for name, state in states.items():
        file[name] = {key: value.detach().to("cpu", torch.float32) for key, value in state.items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(file, path)


def _entry(path: Path, key: str, what: str) -> Mapping[str, Tensor]:
    state = read_state_dict(path, what, _MADE_BY)
    entry: object = state.get(key)
    if not isinstance(entry, Mapping):
        known = sorted(k for k in state if k != "metadata")
        raise CheckpointError(f"{path} holds no {key!r} ({what}); it has {known}")
    return entry


def _names(path: Path, suffix: str = "") -> list[str]:
    if not path.is_file():
        return []
    state = read_state_dict(path, "weights file", _MADE_BY)
    return sorted(key for key in state if key != "metadata" and key.endswith(suffix))


# -- GOCor's trained parameters -------------------------------------------------------------------


def save_trained_gocor(
    path: str | Path, modules: Mapping[str, tuple[GlobalGOCor, LocalGOCor]], **metadata: Any
) -> None:
    """Write trained modules, per extractor name, to one file: keys ``"<extractor>/global"``
    and ``"<extractor>/local"`` hold state dicts (float32), ``"metadata"`` strings."""
    states = {
        f"{name}/{kind}": module.state_dict()
        for name, pair in modules.items()
        for kind, module in zip(("global", "local"), pair, strict=True)
    }
    save_states(path, states, **metadata)


def load_trained_gocor(
    kind: GOCorKind,
    extractor: str = "learned",
    *,
    path: str | Path | None = None,
    num_iter: int = 3,
    search_radius: int = 4,
) -> GlobalGOCor | LocalGOCor:
    """GOCor with the parameters this project trained for ``extractor``'s features.

    ``kind``: ``"global"`` (a :class:`~gocor_lite.GlobalGOCor`, simple initialiser, no query
    loss) or ``"local"`` (a :class:`~gocor_lite.LocalGOCor` of ``search_radius``: the learned
    functions depend on distance only, so any radius uses them). ``path``: default
    :data:`TRAINED_GOCOR`. A missing file is a ``FileNotFoundError``; a file without these
    parameters a :class:`~gocor_lite.statedict.CheckpointError` (``ValueError``) naming what is
    missing.

    >>> load_trained_gocor("local", search_radius=2).config.search_radius
    2
    """
    if kind not in ("global", "local"):
        raise ValueError(f"kind must be 'global' or 'local', got {kind!r}")
    path = TRAINED_GOCOR if path is None else Path(path)
    module: GlobalGOCor | LocalGOCor = (
        GlobalGOCor(num_iter=num_iter)
        if kind == "global"
        else LocalGOCor(num_iter=num_iter, search_radius=search_radius)
    )
    entry = _entry(path, f"{extractor}/{kind}", "file of trained GOCor parameters")
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    module.load_state_dict(take_tensors(entry, expected, path, f"set of {kind} GOCor parameters"))
    return module.eval()


def trained_gocor_extractors(path: str | Path | None = None) -> list[str]:
    """Extractor names that have trained GOCor parameters in ``path`` (none if no file)."""
    names = _names(TRAINED_GOCOR if path is None else Path(path), "/global")
    return sorted({name.split("/")[0] for name in names})


def gocor_module(
    kind: GOCorKind,
    extractor: str,
    parameters: GOCorParameters = "trained",
    *,
    num_iter: int = 3,
    search_radius: int = 4,
    path: str | Path | None = None,
) -> tuple[GlobalGOCor | LocalGOCor, bool]:
    """A GOCor module for ``extractor``'s features: with this project's trained parameters if
    ``parameters == "trained"`` and the file has them for these features, else with the paper's
    initial values. Returns the module and whether the trained parameters are in it (callers
    say so to the user)."""
    if parameters not in ("trained", "initial"):
        raise ValueError(f"parameters must be 'trained' or 'initial', got {parameters!r}")
    if parameters == "trained" and extractor in trained_gocor_extractors(path):
        module = load_trained_gocor(
            kind, extractor, path=path, num_iter=num_iter, search_radius=search_radius
        )
        return module, True
    if kind == "global":
        return GlobalGOCor(num_iter=num_iter), False
    return LocalGOCor(num_iter=num_iter, search_radius=search_radius), False


# -- the flow pipeline's decoders -----------------------------------------------------------------


def decoder_state(key: str, path: str | Path | None = None) -> Mapping[str, Tensor]:
    """The state dict of the decoders saved under ``key`` (``"<extractor>/<variant>"``)."""
    return _entry(FLOW_DECODERS if path is None else Path(path), key, "file of flow decoders")


def decoder_keys(path: str | Path | None = None) -> list[str]:
    """The keys of the decoder sets in ``path`` (none if no file)."""
    return _names(FLOW_DECODERS if path is None else Path(path))
