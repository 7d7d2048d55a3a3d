# SPDX-License-Identifier: MIT
"""Stage 1 of the project's training: the ``learned`` extractor, self-supervised on synthetic
warps of real photographs (the GLU-Net recipe; :func:`gocor_lite.data.photos.training_pairs`).

For a batch of synthetic pairs, the global correlation of the (centred, L2-normalised) target
and source features is read as a distribution over source cells (``softmax(scores /
temperature)``) and pulled towards the true match by a cross-entropy
(:func:`~gocor_lite.reading.supervision.match_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from gocor_lite.core.correlation import global_correlation
from gocor_lite.core.features import FeatureExtractor, LearnedExtractor, pair_features
from gocor_lite.data.photos import check_training_photos, training_pairs
from gocor_lite.data.synthetic import WarpedBatch
from gocor_lite.reading.supervision import global_candidates, match_loss, true_matches
from gocor_lite.training.loop import Progress, resumable_loop

NORMALIZATION = "centered-l2"  # of feature pairs before correlating, as the app and the flow


@dataclass(frozen=True)
class FeatureTraining:
    """Settings of :func:`train_features`."""

    steps: int = 900  # optimiser steps
    batch_size: int = 8  # pairs per step, each drawn afresh (a function of seed and step)
    image_size: tuple[int, int] = (160, 160)  # (H, W) of the training pairs
    learning_rate: float = 2e-3  # Adam
    temperature: float = 0.05  # of the softmax over source cells (cosine scores)
    seed: int = 0
    # Training photographs (gocor_lite.data.photos names); None: every available one.
    photos: tuple[str, ...] | None = None


def grid_of(features: Tensor) -> tuple[int, int]:
    return features.shape[2], features.shape[3]


def feature_loss(extractor: FeatureExtractor, batch: WarpedBatch, temperature: float) -> Tensor:
    """The global correlation's cross-entropy at the true matches (see the module text)."""
    target, source = pair_features(
        extractor, batch.target, batch.source, NORMALIZATION, grad=True, one_pass=True
    )
    stride = extractor.stride
    matches, known = true_matches(batch.flow, batch.valid, grid_of(target), stride)
    volume = global_correlation(target, source)  # (B, h, w, h', w')
    candidates = global_candidates(grid_of(source), stride, like=volume)
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
    if settings.photos is not None:
        check_training_photos(settings.photos)
    if extractor is None:
        torch.manual_seed(settings.seed)
        extractor = LearnedExtractor()
    extractor.train()
    optimizer = torch.optim.Adam(extractor.parameters(), lr=settings.learning_rate)

    def loss_at(step: int) -> Tensor:
        seed = settings.seed * 1_000_000 + step
        batch = training_pairs(
            settings.batch_size, settings.image_size, seed, names=settings.photos
        )
        return feature_loss(extractor, batch, settings.temperature)

    losses = resumable_loop(
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
