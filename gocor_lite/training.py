# SPDX-License-Identifier: MIT
"""Self-supervised training on synthetic warps (the GLU-Net recipe), and the trained GOCor
parameters' file.

Two stages, each resumable from a checkpoint and a function of its seed alone:

1. :func:`train_features`: the ``learned`` extractor. For a batch of synthetic pairs, the global
   correlation of the (centred, L2-normalised) target and source features is read as a
   distribution over source cells (``softmax(scores / temperature)``) and pulled towards the
   true match by a cross-entropy (:func:`~gocor_lite.supervision.match_loss`).
2. :func:`train_gocor`: GOCor's learned parameters on top of frozen features: the label ``y``,
   the residual weight ``v``, the negative slope ``m`` (their bin coefficients), the step
   length, the regulariser and the initialiser's scale, of a global and a local module, with
   the optimiser's iterations unrolled in the graph. The same cross-entropy is applied to the
   modules' output volumes (the local module on windows that follow a coarse flow: the true
   flow shifted by up to ``coarse_offset`` cells), each with a learned temperature.

The command ``python -m gocor_lite.train`` runs both, then the flow decoders
(:func:`gocor_lite.flow.train_flow_decoders`), and writes ``assets/weights/``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gocor_lite.correlation import global_correlation
from gocor_lite.data import (
    TRAIN_IMAGES,
    batch_indices,
    check_training_images,
    synthetic_pairs,
    training_batch,
)
from gocor_lite.features import (
    FeatureExtractor,
    LearnedExtractor,
)
from gocor_lite.interop import CheckpointError, read_state_dict, take_tensors
from gocor_lite.matching import normalize_features
from gocor_lite.modules import GlobalGOCor, LocalGOCor
from gocor_lite.supervision import (
    LocalProblem,
    global_candidates,
    local_problem,
    match_loss,
    true_matches,
)
from gocor_lite.synthetic import WarpedBatch

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "assets" / "weights"
#: Where :func:`load_trained_gocor` looks unless told otherwise.
DEFAULT_GOCOR_WEIGHTS = WEIGHTS_DIR / "gocor_trained.pt"
CHECKPOINT_EVERY = 50  # steps between two saves of a stage's resumable state
NORMALIZATION = "centered-l2"  # of feature pairs before correlating, as the app and the flow

Progress = Callable[[int, int, float], None]  # (step, steps, loss) after each step


@dataclass(frozen=True)
class FeatureTraining:
    """Settings of :func:`train_features`."""

    steps: int = 900  # optimiser steps
    batch_size: int = 8  # pairs per step, each drawn afresh (a function of seed and step)
    image_size: tuple[int, int] = (160, 160)  # (H, W) of the training pairs
    learning_rate: float = 2e-3  # Adam
    temperature: float = 0.05  # of the softmax over source cells (cosine scores)
    seed: int = 0
    images: tuple[str, ...] = TRAIN_IMAGES  # skimage.data names; held-out ones are refused


@dataclass(frozen=True)
class GOCorTraining:
    """Settings of :func:`train_gocor`."""

    steps: int = 300  # optimiser steps
    pairs: int = 96  # synthetic pairs whose features are computed once and reused
    batch_size: int = 8
    image_size: tuple[int, int] = (160, 160)
    learning_rate: float = 1e-2  # Adam, on GOCor's few parameters and the temperatures
    num_iter: int = 3  # optimiser steps unrolled in the graph (the paper's setting)
    search_radius: int = 4  # R of the local module (its parameters do not depend on R)
    coarse_offset: float = 2.0  # largest shift of the coarse flow from the true one, in cells
    temperature: float = 0.05  # initial temperature of both losses
    seed: int = 0
    images: tuple[str, ...] = TRAIN_IMAGES


# -- resumable loops -------------------------------------------------------------------------------


def _resumable_loop(
    modules: Mapping[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    loss_at: Callable[[int], Tensor],
    steps: int,
    identity: str,
    checkpoint: Path | None,
    resume: bool,
    progress: Progress | None,
) -> list[float]:
    """Run ``steps`` optimiser steps of ``loss_at(step)``; save ``modules``, the optimiser and
    the losses to ``checkpoint`` every :data:`CHECKPOINT_EVERY` steps and at the end; with
    ``resume``, continue from it (exactly, since every batch is a function of its step)."""
    start, losses = 0, []
    if resume and checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if state.get("identity") != identity:
            raise ValueError(
                f"{checkpoint} is the checkpoint of another run; delete it or drop --resume.\n"
                f"  it has: {state.get('identity')}\n  this is: {identity}"
            )
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        start, losses = int(state["step"]), list(state["losses"])
    for step in range(start, steps):
        loss = loss_at(step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step, steps, losses[-1])
        if checkpoint is not None and ((step + 1) % CHECKPOINT_EVERY == 0 or step + 1 == steps):
            state = {
                "identity": identity,
                "step": step + 1,
                "losses": losses,
                "modules": {name: module.state_dict() for name, module in modules.items()},
                "optimizer": optimizer.state_dict(),
            }
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            torch.save(state, checkpoint)
    return losses


def _grid(features: Tensor) -> tuple[int, int]:
    return features.shape[2], features.shape[3]


# -- stage 1: the features ------------------------------------------------------------------------


def feature_pair(extractor: FeatureExtractor, batch: WarpedBatch) -> tuple[Tensor, Tensor]:
    """The normalised features of a batch of pairs, as every consumer correlates them."""
    features = extractor(torch.cat([batch.target, batch.source]))
    target, source = features.chunk(2)
    return normalize_features(target, source, NORMALIZATION)


def feature_loss(extractor: FeatureExtractor, batch: WarpedBatch, temperature: float) -> Tensor:
    """The global correlation's cross-entropy at the true matches (see the module text)."""
    target, source = feature_pair(extractor, batch)
    stride = extractor.stride
    matches, known = true_matches(batch.flow, batch.valid, _grid(target), stride)
    volume = global_correlation(target, source)  # (B, h, w, h', w')
    candidates = global_candidates(_grid(source), stride, like=volume)
    return match_loss(volume.flatten(-2), candidates, matches, known, temperature, stride / 2)


def train_features(
    settings: FeatureTraining | None = None,
    extractor: LearnedExtractor | None = None,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> tuple[LearnedExtractor, list[float]]:
    """Train the ``learned`` extractor (a fresh one, seeded, unless given); returns it and the
    loss of every step. See :class:`FeatureTraining`."""
    settings = settings or FeatureTraining()
    images = check_training_images(settings.images)
    if extractor is None:
        torch.manual_seed(settings.seed)
        extractor = LearnedExtractor(pretrained=False)
    extractor.train()
    optimizer = torch.optim.Adam(extractor.parameters(), lr=settings.learning_rate)

    def loss_at(step: int) -> Tensor:
        seed = settings.seed * 1_000_000 + step
        batch = training_batch(images, settings.batch_size, settings.image_size, seed)
        return feature_loss(extractor, batch, settings.temperature)

    losses = _resumable_loop(
        {"extractor": extractor},
        optimizer,
        loss_at,
        settings.steps,
        repr(settings),
        None if checkpoint is None else Path(checkpoint),
        resume,
        progress,
    )
    return extractor.eval(), losses


# -- stage 2: GOCor's parameters ------------------------------------------------------------------


def coarse_flow(flow: Tensor, stride: int, max_offset: float, generator: torch.Generator) -> Tensor:
    """A coarse flow for local correlation: the true flow ``(B, 2, H, W)`` shifted, per pair, by
    a random offset of up to ``max_offset`` cells in x and in y."""
    draws = torch.rand(flow.shape[0], 2, 1, 1, generator=generator, dtype=torch.float64)
    return flow + ((2 * draws - 1) * max_offset * stride).to(flow)


@dataclass(frozen=True)
class GOCorData:
    """Frozen features of a set of pairs and what their volumes should say.

    Shapes: target, source ``(P, C, h, w)`` (normalised); matches ``(P, 2, h, w)`` source
    pixels, known ``(P, h, w)``; local: the :class:`~gocor_lite.supervision.LocalProblem`
    after a coarse flow.
    """

    target: Tensor
    source: Tensor
    matches: Tensor
    known: Tensor
    local: LocalProblem
    stride: int


@torch.no_grad()
def gocor_data(
    extractor: FeatureExtractor, pairs: WarpedBatch, settings: GOCorTraining, chunk: int = 16
) -> GOCorData:
    """Features of ``pairs`` (``chunk`` at a time), true matches and the local problems."""
    parts = [
        feature_pair(extractor, WarpedBatch(*(field[start : start + chunk] for field in pairs)))
        for start in range(0, pairs.target.shape[0], chunk)
    ]
    target = torch.cat([part[0] for part in parts])
    source = torch.cat([part[1] for part in parts])
    stride = extractor.stride
    matches, known = true_matches(pairs.flow, pairs.valid, _grid(target), stride)
    generator = torch.Generator().manual_seed(settings.seed * 1_000_000 + 999_999)
    coarse = coarse_flow(pairs.flow, stride, settings.coarse_offset, generator)
    local = local_problem(source, coarse, stride, settings.search_radius)
    return GOCorData(target, source, matches, known, local, stride)


def gocor_losses(
    global_module: GlobalGOCor,
    local_module: LocalGOCor,
    data: GOCorData,
    index: Tensor,
    temperatures: Tensor,
) -> tuple[Tensor, Tensor]:
    """The global and the local module's cross-entropies on the pairs ``index`` of ``data``;
    ``temperatures`` holds the two losses' log-temperatures."""
    sigma = data.stride / 2
    target = data.target[index]
    volume = global_module(target, data.source[index])  # (B, h, w, h', w')
    candidates = global_candidates(_grid(data.source), data.stride, like=volume)
    matches, known = data.matches[index], data.known[index]
    global_loss = match_loss(
        volume.flatten(-2), candidates, matches, known, temperatures[0].exp(), sigma
    )
    window = local_module(target, data.local.source[index])  # (B, h, w, 2R+1, 2R+1)
    local_loss = match_loss(
        window.flatten(-2),
        data.local.candidates[index],
        matches,
        known,
        temperatures[1].exp(),
        sigma,
    )
    return global_loss, local_loss


@dataclass(frozen=True)
class TrainedGOCor:
    """What :func:`train_gocor` returns: the modules, and the loss of every step."""

    global_module: GlobalGOCor
    local_module: LocalGOCor
    losses: list[float]  # global + local


def train_gocor(
    extractor: FeatureExtractor,
    settings: GOCorTraining | None = None,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
) -> TrainedGOCor:
    """Train a global and a local GOCor module (simple initialiser, no query loss: the
    project's default variant) on ``extractor``'s frozen features. See :class:`GOCorTraining`."""
    settings = settings or GOCorTraining()
    images = check_training_images(settings.images)
    for parameter in extractor.parameters():
        parameter.requires_grad_(False)
    extractor.eval()
    pairs = synthetic_pairs(images, settings.pairs, settings.image_size, settings.seed * 100_000)
    data = gocor_data(extractor, pairs, settings)
    global_module = GlobalGOCor(num_iter=settings.num_iter)
    local_module = LocalGOCor(num_iter=settings.num_iter, search_radius=settings.search_radius)
    temperatures = nn.Parameter(torch.full((2,), math.log(settings.temperature)))
    head = nn.Module()
    head.register_parameter("log_temperatures", temperatures)
    parameters = [*global_module.parameters(), *local_module.parameters(), temperatures]
    optimizer = torch.optim.Adam(parameters, lr=settings.learning_rate)

    def loss_at(step: int) -> Tensor:
        index = batch_indices(settings.pairs, settings.batch_size, settings.seed, step)
        global_loss, local_loss = gocor_losses(
            global_module, local_module, data, index, temperatures
        )
        return global_loss + local_loss

    identity = f"{settings!r}, extractor={extractor.name}"
    losses = _resumable_loop(
        {"global": global_module, "local": local_module, "head": head},
        optimizer,
        loss_at,
        settings.steps,
        identity,
        None if checkpoint is None else Path(checkpoint),
        resume,
        progress,
    )
    for parameter in extractor.parameters():
        parameter.requires_grad_(True)
    return TrainedGOCor(global_module.eval(), local_module.eval(), losses)


# -- the trained parameters' file -----------------------------------------------------------------

GOCorKind = Literal["global", "local"]


def save_trained_gocor(
    path: str | Path,
    modules: Mapping[str, tuple[GlobalGOCor, LocalGOCor]],
    **metadata: Any,
) -> None:
    """Write trained modules, per extractor name, to one file: keys ``"<extractor>/global"``
    and ``"<extractor>/local"`` hold state dicts (float32), ``"metadata"`` strings."""
    state: dict[str, Any] = {"metadata": {key: str(value) for key, value in metadata.items()}}
    for name, (global_module, local_module) in modules.items():
        for kind, module in (("global", global_module), ("local", local_module)):
            state[f"{name}/{kind}"] = {
                key: value.detach().to("cpu", torch.float32)
                for key, value in module.state_dict().items()
            }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)


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
    ``assets/weights/gocor_trained.pt``. A missing file is a ``FileNotFoundError``; a file
    without these parameters a :class:`~gocor_lite.interop.CheckpointError` (``ValueError``)
    naming what is missing.

    >>> load_trained_gocor("local", search_radius=2).config.search_radius
    2
    """
    if kind not in ("global", "local"):
        raise ValueError(f"kind must be 'global' or 'local', got {kind!r}")
    path = Path(path) if path is not None else DEFAULT_GOCOR_WEIGHTS
    state = read_state_dict(
        path,
        "file of trained GOCor parameters",
        "`python -m gocor_lite.train` writes it (or pass path=<file>)",
    )
    module: GlobalGOCor | LocalGOCor = (
        GlobalGOCor(num_iter=num_iter)
        if kind == "global"
        else LocalGOCor(num_iter=num_iter, search_radius=search_radius)
    )
    key = f"{extractor}/{kind}"
    entry: object = state.get(key)
    if not isinstance(entry, Mapping):
        known = sorted(k for k in state if k != "metadata")
        raise CheckpointError(
            f"{path} holds no trained {kind} GOCor parameters for the {extractor!r} features "
            f"(key {key!r}); it has {known}"
        )
    expected = {name: tuple(value.shape) for name, value in module.state_dict().items()}
    tensors = take_tensors(entry, expected, path, f"set of {kind} GOCor parameters")
    module.load_state_dict(tensors, strict=True)
    return module.eval()


def trained_gocor_extractors(path: str | Path | None = None) -> list[str]:
    """Extractor names that have trained GOCor parameters in ``path`` (none if no file)."""
    path = Path(path) if path is not None else DEFAULT_GOCOR_WEIGHTS
    if not path.is_file():
        return []
    state = torch.load(path, map_location="cpu", weights_only=True)
    return sorted({key.split("/")[0] for key in state if key.endswith("/global")})
