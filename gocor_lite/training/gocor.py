# SPDX-License-Identifier: MIT
"""Stage 2 of the project's training: GOCor's learned parameters on top of frozen features.

The label ``y``, the residual weight ``v``, the negative slope ``m`` (their bin coefficients),
the step length, the regulariser and the initialiser's scale, of a global and a local module,
with the optimiser's iterations unrolled in the graph. The cross-entropy of stage 1
(:func:`~gocor_lite.reading.supervision.match_loss`) is applied to the modules' output volumes (the
local module on windows that follow a coarse flow: the true flow shifted by up to
``coarse_offset`` cells), each with a learned temperature. :func:`gocor_lite.files.weights.
save_trained_gocor` writes the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from gocor_lite.core.features import FeatureExtractor, pair_features
from gocor_lite.data.photos import check_training_photos, training_pairs
from gocor_lite.data.split import batch_indices
from gocor_lite.data.synthetic import WarpedBatch
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor
from gocor_lite.reading.supervision import (
    LocalProblem,
    coarse_flow,
    global_candidates,
    local_problem,
    match_loss,
    true_matches,
)
from gocor_lite.training.extractor import NORMALIZATION, grid_of
from gocor_lite.training.loop import Progress, resumable_loop


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
    # Training photographs (gocor_lite.data.photos names); None: every available one.
    photos: tuple[str, ...] | None = None


# -- stage 2: GOCor's parameters ------------------------------------------------------------------


@dataclass(frozen=True)
class GOCorData:
    """Frozen features of a set of pairs and what their volumes should say.

    Shapes: target, source ``(P, C, h, w)`` (normalised); matches ``(P, 2, h, w)`` source
    pixels, known ``(P, h, w)``; local: the :class:`~gocor_lite.reading.supervision.LocalProblem`
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
        pair_features(
            extractor,
            pairs.target[start : start + chunk],
            pairs.source[start : start + chunk],
            NORMALIZATION,
            one_pass=True,
        )
        for start in range(0, pairs.target.shape[0], chunk)
    ]
    target = torch.cat([part[0] for part in parts])
    source = torch.cat([part[1] for part in parts])
    stride = extractor.stride
    matches, known = true_matches(pairs.flow, pairs.valid, grid_of(target), stride)
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
    candidates = global_candidates(grid_of(data.source), data.stride, like=volume)
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
    if settings.photos is not None:
        check_training_photos(settings.photos)
    for parameter in extractor.parameters():
        parameter.requires_grad_(False)
    extractor.eval()
    pairs = training_pairs(
        settings.pairs, settings.image_size, settings.seed * 100_000, names=settings.photos
    )
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
    losses = resumable_loop(
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
