# SPDX-License-Identifier: MIT
"""Self-supervised training of the pipeline's decoders on synthetic warps, and their weights.

The features and the GOCor modules stay as they are (frozen; GOCor with the pipeline's
``gocor_parameters``, by default the paper's initial values); only the small per-level decoders
learn. ``python -m gocor_lite.train`` calls :func:`train_flow_decoders` for the learned
features, after training them. Every level's dense flow
is compared with the true flow (mean endpoint error over the valid pixels, summed over the
levels, as GLU-Net's multi-scale loss), and the flow passed down is detached. The features of
the training pairs are computed once and reused, which keeps training within a CPU budget.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gocor_lite.data.split import TRAIN_IMAGES, batch_indices, synthetic_pairs
from gocor_lite.data.synthetic import WarpedBatch
from gocor_lite.features import FeatureExtractor
from gocor_lite.flow.config import VARIANTS, FlowConfig
from gocor_lite.flow.pipeline import CoarseToFineFlow, LevelInputs
from gocor_lite.weights import save_states

TRAIN_SIZE = (192, 256)  # (H, W) of the synthetic training pairs
CHECKPOINT_EVERY = 50  # training steps between two saves of the resumable state


@dataclass(frozen=True)
class DecoderTraining:
    """Settings of :func:`train_decoder`."""

    steps: int = 200  # optimiser steps
    batch_size: int = 4  # pairs per step, drawn from the cached pairs
    learning_rate: float = 1e-3  # Adam
    seed: int = 0  # of the batch order


def save_decoders(models: list[CoarseToFineFlow], path: str | Path, **metadata: Any) -> None:
    """Write the decoders of several pipelines (one per variant) to one file."""
    save_states(
        path, {model.decoder_key: model.decoders.state_dict() for model in models}, **metadata
    )


def flow_loss(levels: list[Tensor], true_flow: Tensor, valid: Tensor) -> Tensor:
    """Sum over levels of the mean endpoint error on valid pixels.

    Shapes: levels: flows ``(B, 2, H, W)``; true_flow ``(B, 2, H, W)``; valid ``(B, 1, H, W)``.
    """
    weight = valid[:, 0].to(true_flow.dtype)
    total = weight.sum().clamp(min=1.0)
    return sum(
        (((flow - true_flow).square().sum(1) + 1e-8).sqrt() * weight).sum() / total
        for flow in levels
    )  # type: ignore[return-value]


def _select(inputs: list[LevelInputs], index: Tensor) -> list[LevelInputs]:
    return [
        dataclasses.replace(level, target=level.target[index], source=level.source[index])
        for level in inputs
    ]


@torch.no_grad()
def extract_in_chunks(
    model: CoarseToFineFlow, pairs: WarpedBatch, chunk: int = 8
) -> list[LevelInputs]:
    """The model's level features of every pair, computed ``chunk`` pairs at a time."""
    parts = [
        model.extract(pairs.target[start : start + chunk], pairs.source[start : start + chunk])
        for start in range(0, pairs.target.shape[0], chunk)
    ]
    return [
        dataclasses.replace(
            levels[0],
            target=torch.cat([p.target for p in levels]),
            source=torch.cat([p.source for p in levels]),
        )
        for levels in zip(*parts, strict=True)
    ]


def train_decoder(
    model: CoarseToFineFlow,
    pairs: WarpedBatch,
    settings: DecoderTraining | None = None,
    *,
    features: list[LevelInputs] | None = None,
    start_step: int = 0,
    optimizer_state: dict[str, Any] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[list[float], dict[str, Any]]:
    """Train ``model.decoders`` on ``pairs``; returns the loss of every step and the
    optimiser's state (to resume from ``start_step`` with ``optimizer_state``).

    ``features``: the pairs' level features if already computed (:func:`extract_in_chunks`);
    they do not depend on the decoders, so several models can share them. ``progress(step,
    loss)`` is called after each step (command-line progress bars use it).
    """
    settings = settings or DecoderTraining()
    features = features if features is not None else extract_in_chunks(model, pairs)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parameter in model.decoders.parameters():
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(model.decoders.parameters(), lr=settings.learning_rate)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    image_size = (pairs.target.shape[2], pairs.target.shape[3])
    losses = []
    model.train()
    for step in range(start_step, settings.steps):
        index = batch_indices(pairs.target.shape[0], settings.batch_size, settings.seed, step)
        levels = model.run(
            _select(features, index), image_size, use_decoder=True, detach_between_levels=True
        )
        loss = flow_loss([level.flow for level in levels], pairs.flow[index], pairs.valid[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step, losses[-1])
    model.eval()
    return losses, optimizer.state_dict()


@dataclass(frozen=True)
class TrainingRun:
    """Settings of :func:`train_flow_decoders`, the whole training of the shipped weights."""

    pairs: int = 48  # synthetic training pairs (features computed once)
    steps: int = DecoderTraining.steps  # optimiser steps per variant
    seed: int = 0  # of the pairs and of the batch order
    variants: tuple[str, ...] = VARIANTS  # one set of decoders per GOCor variant
    config: FlowConfig = dataclasses.field(  # the pipeline whose decoders learn
        default_factory=lambda: FlowConfig(estimator="decoder")
    )


def train_flow_decoders(
    run: TrainingRun,
    out: str | Path,
    checkpoint: str | Path,
    *,
    resume: bool = False,
    progress: Callable[[str, int, int, float], None] | None = None,
    log: Callable[[str], None] | None = None,
    extractor: FeatureExtractor | None = None,
) -> dict[str, list[float]]:
    """Train the decoders of every variant of ``run`` and write them to ``out``; returns the
    losses per variant. Resumable: the state is saved to ``checkpoint`` every
    :data:`CHECKPOINT_EVERY` steps and after each variant, and ``resume=True`` continues from it
    (exactly: batches are a function of the seed and the step). ``progress(key, step, steps,
    loss)`` after each step and ``log(message)`` let a command draw a progress bar.
    ``extractor``: the features (default: built from ``run.config.extractor``)."""
    started = time.perf_counter()
    checkpoint = Path(checkpoint)
    say = log or (lambda message: None)
    settings = DecoderTraining(steps=run.steps, seed=run.seed)
    identity = {"pairs": run.pairs, "steps": run.steps, "seed": run.seed}
    state: dict[str, Any] = {"run": identity, "done": {}, "current": None}
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        if state.get("run") != identity:
            raise ValueError(
                f"{checkpoint} is from another run ({state.get('run')}), not {identity}"
            )
        say(f"resuming from {checkpoint}: done {sorted(state['done'])}")

    torch.manual_seed(run.seed)
    pairs = synthetic_pairs(TRAIN_IMAGES, run.pairs, TRAIN_SIZE, seed=run.seed * 100_000)
    features = extract_in_chunks(CoarseToFineFlow(run.config, extractor), pairs)
    say(f"{run.pairs} training pairs and their features: {time.perf_counter() - started:.0f} s")

    models, all_losses = [], {}
    for variant in run.variants:
        model = CoarseToFineFlow(run.config.with_variant(variant), extractor)
        key = model.decoder_key
        models.append(model)
        if key in state["done"]:
            model.decoders.load_state_dict(state["done"][key])
            continue
        start_step, optimizer_state = 0, None
        current = state["current"]
        if current is not None and current["key"] == key:
            model.decoders.load_state_dict(current["decoders"])
            start_step, optimizer_state = current["step"], current["optimizer"]

        def step_done(step: int, loss: float, key: str = key) -> None:
            if progress is not None:
                progress(key, step, settings.steps, loss)

        losses: list[float] = []
        for chunk_start in range(start_step, settings.steps, CHECKPOINT_EVERY):
            chunk = dataclasses.replace(
                settings, steps=min(chunk_start + CHECKPOINT_EVERY, settings.steps)
            )
            chunk_losses, optimizer_state = train_decoder(
                model,
                pairs,
                chunk,
                features=features,
                start_step=chunk_start,
                optimizer_state=optimizer_state,
                progress=step_done,
            )
            losses += chunk_losses
            state["current"] = {
                "key": key,
                "step": chunk.steps,
                "decoders": _copy(model.decoders.state_dict()),
                "optimizer": optimizer_state,
            }
            _save(state, checkpoint)
        state["done"][key] = _copy(model.decoders.state_dict())
        state["current"] = None
        _save(state, checkpoint)
        all_losses[key] = losses
        if losses:
            tenth = max(1, len(losses) // 10)
            head, tail = losses[:tenth], losses[-tenth:]
            say(f"{key}: loss {sum(head) / len(head):.2f} -> {sum(tail) / len(tail):.2f}")
    save_decoders(
        models,
        out,
        pairs=run.pairs,
        steps=run.steps,
        seed=run.seed,
        train_size=TRAIN_SIZE,
        seconds=round(time.perf_counter() - started),
    )
    say(f"wrote {out} in {time.perf_counter() - started:.0f} s")
    return all_losses


def _copy(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {key: value.detach().clone() for key, value in state.items()}


def _save(state: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
