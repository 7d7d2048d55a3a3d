# SPDX-License-Identifier: MIT
"""Training this project's small GLU-Net (:meth:`gocor_lite.glunet.GLUNetConfig.small`) on
synthetic warps of real photographs, self-supervised as GLU-Net is (Truong et al., CVPR 2020,
§4.3): a target is a random warp of a photograph (the source), the warp is the ground truth.

Two phases, each a :func:`~gocor_lite.training.loop.resumable_loop`:

1. ``"pyramid"``: the feature pyramid alone, by the cross-entropy of its global correlations at
   levels 4 (stride 16) and 3 (stride 8) of the L x L copies against the true matches
   (:func:`pyramid_loss`). Random features give the decoders nothing to read: GLU-Net starts
   from ImageNet's VGG-16, which a CPU cannot train; this phase is its small stand-in.
2. ``"network"``: the decoders (and GOCor's parameters inside GLU-Net-GOCor) on a frozen
   pyramid, as GLU-Net keeps VGG-16 fixed, by GLU-Net's multi-scale endpoint loss
   (:func:`endpoint_loss` at the four levels' flows, :data:`LEVEL_WEIGHTS`). GOCor is trained
   *inside* the network: its decoders see the volumes they will get.

Pairs are 256 x 256 (the L-Net's size, so the working and the L copies coincide and the
pyramid runs once per image), drawn from the seed and the step
(:func:`gocor_lite.data.photos.training_pairs`): :data:`LARGE_WARPS` and, for a fraction
``small_motion`` of the pairs, :data:`SMALL_WARPS` (a few pixels: optical-flow-like motion).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gocor_lite.core.correlation import global_correlation
from gocor_lite.data.photos import check_training_photos, training_pairs
from gocor_lite.data.synthetic import LARGE_WARPS, SMALL_WARPS, WIDE_WARPS, WarpedBatch
from gocor_lite.files.weights import build_glunet
from gocor_lite.glunet.config import GLUNetConfig
from gocor_lite.glunet.network import GLUNet, GLUNetOutput
from gocor_lite.glunet.operations import l2_normalize
from gocor_lite.glunet.preparation import IMAGENET_MEAN, IMAGENET_STD
from gocor_lite.reading.supervision import cell_centres, global_candidates, match_loss, true_matches
from gocor_lite.training.distributed import Workers
from gocor_lite.training.loop import Progress, resumable_loop

Phase = Literal["pyramid", "network"]
Variant = Literal["correlation", "gocor"]
SIZE = 256  # side of the training pairs: the L-Net's

#: GLU-Net's multi-scale loss weights for flow4, flow3 (L-image pixels), flow2, flow1, made
#: per-pixel means: the authors weigh per-pixel *sums* by 0.32, 0.08, 0.02, 0.01 over grids of
#: 16^2, 32^2, 32^2 and 64^2 cells; divided by 256 that is these weights on the means.
LEVEL_WEIGHTS = (0.32, 0.32, 0.08, 0.16)


@dataclass(frozen=True)
class NetworkTraining:
    """Settings of :func:`train_network` (one phase of one variant)."""

    variant: Variant = "gocor"
    phase: Phase = "network"
    steps: int = 1000  # the last step (exclusive) of this run, counted from the schedule's start
    first_step: int = 0  # the first step run here (a variant branching from a shared run)
    schedule_steps: int | None = None  # the cosine schedule's length (default: steps)
    batch_size: int = 8
    optimizer: Literal["adam", "sgd"] = "adam"  # sgd: with momentum 0.9
    learning_rate: float = 1e-3  # decayed by a half cosine to final_learning_rate
    final_learning_rate: float = 1e-4
    small_motion: float = 0.25  # fraction of each batch with SMALL_WARPS
    wide_motion: float = 0.0  # fraction of each batch with WIDE_WARPS (the rest LARGE_WARPS)
    temperature: float = 0.05  # pyramid phase: of the softmax over source cells (cosines)
    level_weights: tuple[float, float, float, float] = LEVEL_WEIGHTS
    gocor_learning_rate_factor: float = 10.0  # GOCor's parameters learn this much faster
    freeze_pyramid: bool = True  # network phase: the pyramid as the pyramid phase left it
    seed: int = 0
    # The network (GLUNetConfig.small's arguments).
    pyramid: Literal["small", "xfeat"] = "small"  # "xfeat": XFeat's pretrained backbone
    max_working_side: int | None = None  # GLUNetConfig.max_working_side
    channels: tuple[int, int, int, int] = (16, 32, 48, 64)
    width: float = 0.25
    gocor_iterations: int = 3
    photos: tuple[str, ...] | None = field(default=None)  # default: every training photograph

    def __post_init__(self) -> None:
        if self.variant not in ("correlation", "gocor"):
            raise ValueError(f"variant must be 'correlation' or 'gocor', got {self.variant!r}")
        if self.phase not in ("pyramid", "network"):
            raise ValueError(f"phase must be 'pyramid' or 'network', got {self.phase!r}")
        if not 0 <= self.first_step <= self.steps:
            raise ValueError(f"first_step must be in [0, steps], got {self.first_step}")
        if not 0 <= self.small_motion <= 1:
            raise ValueError(f"small_motion must be in [0, 1], got {self.small_motion}")
        if not 0 <= self.wide_motion <= 1 - self.small_motion:
            raise ValueError(
                f"wide_motion must be in [0, 1 - small_motion], got {self.wide_motion}"
            )
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    def config_arguments(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`GLUNetConfig.small` for this variant (what
        :func:`gocor_lite.files.weights.save_small_glunet` stores)."""
        return {
            "gocor": self.variant == "gocor",
            "pyramid": self.pyramid,
            "max_working_side": self.max_working_side,
            "channels": list(self.channels),
            "width": self.width,
            "global_iterations": self.gocor_iterations,
            "local_iterations": self.gocor_iterations,
        }

    def config(self) -> GLUNetConfig:
        arguments = self.config_arguments()
        arguments["channels"] = tuple(arguments["channels"])
        return GLUNetConfig.small(**arguments)

    def learning_rate_at(self, step: int) -> float:
        length = self.schedule_steps or self.steps
        progress = min(1.0, step / max(1, length))
        low, high = self.final_learning_rate, self.learning_rate
        return low + (high - low) * 0.5 * (1 + math.cos(math.pi * progress))


# -- data ------------------------------------------------------------------------------------------


def training_batch(settings: NetworkTraining, step: int) -> WarpedBatch:
    """The global batch of ``step``: a function of the seed and the step alone. The first
    ``round(small_motion * batch_size)`` pairs have :data:`SMALL_WARPS`, the next
    ``round(wide_motion * batch_size)`` :data:`WIDE_WARPS`, the rest :data:`LARGE_WARPS`."""
    seed = settings.seed * 1_000_003 + step
    small = round(settings.small_motion * settings.batch_size)
    wide = min(round(settings.wide_motion * settings.batch_size), settings.batch_size - small)
    parts = []
    for count, options, offset in (
        (small, SMALL_WARPS, 0),
        (wide, WIDE_WARPS, 250_000_000),
        (settings.batch_size - small - wide, LARGE_WARPS, 500_000_000),
    ):
        if count:
            parts.append(
                training_pairs(
                    count, (SIZE, SIZE), seed + offset, names=settings.photos, options=options
                )
            )
    return WarpedBatch(*(torch.cat(values) for values in zip(*parts, strict=True)))


def shard(batch: WarpedBatch, part: slice) -> WarpedBatch:
    """The pairs ``part`` of a batch (a process's share)."""
    return WarpedBatch(*(values[part] for values in batch))


def network_inputs(images: Tensor) -> Tensor:
    """Images in ``[0, 1]`` ``(B, 3, H, W)`` -> the network's normalisation (ImageNet's)."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


# -- losses ----------------------------------------------------------------------------------------


def level_truth(flow: Tensor, valid: Tensor, grid: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """The true flow at the cell centres of a ``grid = (h, w)`` level, in the image's pixels,
    and whether it is known there (:func:`~gocor_lite.reading.supervision.true_matches`).

    Shapes: flow ``(B, 2, H, W)``, valid ``(B, 1, H, W)`` -> ``(B, 2, h, w)``, ``(B, h, w)``.
    The grid must divide the image: stride ``H / h``.
    """
    stride = flow.shape[2] // grid[0]
    if stride * grid[0] != flow.shape[2] or stride * grid[1] != flow.shape[3]:
        raise ValueError(f"a {grid} grid does not divide images of {tuple(flow.shape[2:])}")
    matches, known = true_matches(flow, valid, grid, stride)
    return matches - cell_centres(grid, stride, like=flow), known


def endpoint_loss(flow: Tensor, truth: Tensor, known: Tensor) -> Tensor:
    """The mean endpoint error over each pair's known cells, averaged over the pairs (pairs
    with no known cell count zero). Shapes: ``(B, 2, h, w)``, ``(B, 2, h, w)``, ``(B, h, w)``
    -> a scalar (pixels)."""
    error = (flow - truth).square().sum(1).add(1e-12).sqrt()  # (B, h, w)
    weight = known.to(error.dtype)
    per_pair = (error * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp(min=1)
    return per_pair.mean()


def network_loss(
    output: GLUNetOutput, batch: WarpedBatch, weights: Sequence[float] = LEVEL_WEIGHTS
) -> Tensor:
    """GLU-Net's multi-scale loss: :func:`endpoint_loss` of flow4, flow3 (``flow3_l``, L-image
    pixels), flow2 and flow1 against the true flow at their cell centres, weighted. Training
    pairs are L x L, so every level's flow is in the pairs' pixels."""
    flows = (output.flow4, output.flow3_l, output.flow2, output.flow1)
    total = batch.flow.new_zeros(())
    for weight, flow in zip(weights, flows, strict=True):
        truth, known = level_truth(batch.flow, batch.valid, (flow.shape[2], flow.shape[3]))
        total = total + weight * endpoint_loss(flow, truth, known)
    return total


def level_errors(output: GLUNetOutput, batch: WarpedBatch) -> dict[str, float]:
    """Each level's :func:`endpoint_loss` (pixels), for the card and the tests."""
    names = ("flow4", "flow3", "flow2", "flow1")
    flows = (output.flow4, output.flow3_l, output.flow2, output.flow1)
    errors = {}
    for name, flow in zip(names, flows, strict=True):
        truth, known = level_truth(batch.flow, batch.valid, (flow.shape[2], flow.shape[3]))
        errors[name] = float(endpoint_loss(flow, truth, known))
    return errors


def pyramid_loss(pyramid: nn.Module, batch: WarpedBatch, temperature: float) -> Tensor:
    """Cross-entropy of the global correlations of pyramid levels 4 (stride 16) and 3
    (stride 8), L2-normalised per cell as the network's global level is, against a Gaussian
    around the true match (:func:`~gocor_lite.reading.supervision.match_loss`); the mean of the
    two."""
    images = network_inputs(torch.cat([batch.target, batch.source]))
    level3, level4 = pyramid(images, (3, 4))
    total = batch.flow.new_zeros(())
    for features in (level4, level3):
        target, source = l2_normalize(features).chunk(2)
        grid = (target.shape[2], target.shape[3])
        stride = batch.flow.shape[2] // grid[0]
        matches, known = true_matches(batch.flow, batch.valid, grid, stride)
        volume = global_correlation(target, source)  # (B, h, w, h, w)
        candidates = global_candidates(grid, stride, like=volume)
        total = total + match_loss(
            volume.flatten(-2), candidates, matches, known, temperature, stride / 2
        )
    return total / 2


# -- the network -----------------------------------------------------------------------------------


def bilinear_upsampling_(deconvolution: nn.ConvTranspose2d) -> None:
    """Initialise a 4x4, stride-2 transposed convolution of 2 channels as a bilinear 2x
    upsampling of each channel (no mixing, no bias): the learned upsamplings of the flow
    (``deconv4``, ``deconv2``) then start by passing the flow on unchanged."""
    taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
    kernel = taps[:, None] * taps[None, :]
    with torch.no_grad():
        deconvolution.weight.zero_()
        for channel in range(deconvolution.weight.shape[0]):
            deconvolution.weight[channel, channel] = kernel
        if deconvolution.bias is not None:
            deconvolution.bias.zero_()


def fresh_network(settings: NetworkTraining) -> GLUNet:
    """A newly initialised network of ``settings`` (seeded), with bilinear flow upsamplings and,
    where the mapping decoder corrects the global soft-argmax, a zero correction to start
    with (its last convolution zeroed: the first flows are the volume's soft-argmax)."""
    torch.manual_seed(settings.seed)
    network = build_glunet(settings.config())
    bilinear_upsampling_(network.deconv4)
    bilinear_upsampling_(network.deconv2)
    if network.config.global_soft_argmax:
        with torch.no_grad():
            final = network.decoder4.final
            final.weight.zero_()
            if final.bias is not None:
                final.bias.zero_()
    return network


def carry_over(source: GLUNet, destination: GLUNet) -> GLUNet:
    """Copy every parameter the two networks share (all but the GOCor modules) from ``source``
    into ``destination``; returns ``destination``."""
    state = destination.state_dict()
    shared = {key: value for key, value in source.state_dict().items() if key in state}
    missing = [key for key in state if key not in shared]
    if any(not key.startswith(("corr.", "local_corr.")) for key in missing):
        raise ValueError(f"the networks differ outside GOCor: {missing[:5]}")
    destination.load_state_dict(shared, strict=False)
    return destination


def parameter_groups(module: nn.Module, gocor_factor: float, rate: float) -> list[dict[str, Any]]:
    """The trainable parameters of ``module`` in two optimiser groups: GOCor's (``corr.``,
    ``local_corr.``: a few dozen scalars, learning ``gocor_factor`` times faster, as the GOCor
    stage's own training uses a ten times larger step) and the rest."""
    gocor: list[nn.Parameter] = []
    rest: list[nn.Parameter] = []
    for name, parameter in module.named_parameters():
        if parameter.requires_grad:
            (gocor if name.startswith(("corr.", "local_corr.")) else rest).append(parameter)
    groups: list[dict[str, Any]] = [{"params": rest, "lr": rate, "lr_factor": 1.0}]
    if gocor:
        groups.append({"params": gocor, "lr": rate * gocor_factor, "lr_factor": gocor_factor})
    return groups


def train_network(
    settings: NetworkTraining,
    network: GLUNet | None = None,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    workers: Workers | None = None,
) -> tuple[GLUNet, list[float]]:
    """Run one phase of :class:`NetworkTraining` on ``network`` (a :func:`fresh_network` if
    none); returns the network (``eval()``) and the loss of every step (mean over the
    processes). Under ``torchrun`` give the :class:`Workers`: each process takes its share of
    every batch and DDP averages the gradients."""
    workers = workers or Workers()
    if settings.photos is not None:
        check_training_photos(settings.photos)
    network = fresh_network(settings) if network is None else network
    if network.config != settings.config():
        raise ValueError(
            f"the network is {network.config.name}, these settings train "
            f"{settings.config().name}: build it with settings.config()"
        )
    network.train()
    part = workers.share(settings.batch_size)
    if settings.phase == "pyramid":
        trained: nn.Module = network.pyramid
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        for parameter in trained.parameters():
            parameter.requires_grad_(True)
        model = workers.wrap(trained)

        def loss_at(step: int) -> Tensor:
            batch = shard(training_batch(settings, step), part)
            return pyramid_loss(model, batch, settings.temperature)

    else:
        for parameter in network.parameters():
            parameter.requires_grad_(True)
        if settings.freeze_pyramid:
            for parameter in network.pyramid.parameters():
                parameter.requires_grad_(False)
        trained = network
        model = workers.wrap(network)

        def loss_at(step: int) -> Tensor:
            batch = shard(training_batch(settings, step), part)
            target, source = network_inputs(batch.target), network_inputs(batch.source)
            output = model(target, source, target, source)
            return network_loss(output, batch, settings.level_weights)

    rate = settings.learning_rate_at(settings.first_step)
    groups = parameter_groups(trained, settings.gocor_learning_rate_factor, rate)
    optimizer: torch.optim.Optimizer = (
        torch.optim.Adam(groups, lr=rate)
        if settings.optimizer == "adam"
        else torch.optim.SGD(groups, lr=rate, momentum=0.9)
    )
    identity = repr(dataclasses.replace(settings)) + f" world={workers.world}"
    losses = resumable_loop(
        {"network": network},
        optimizer,
        loss_at,
        settings.steps,
        identity,
        None if checkpoint is None else Path(checkpoint),
        resume,
        progress,
        first_step=settings.first_step,
        schedule=settings.learning_rate_at,
        workers=workers,
    )
    for parameter in network.parameters():
        parameter.requires_grad_(True)
    return network.eval(), losses


def held_out_errors(network: GLUNet, batch: WarpedBatch) -> dict[str, float]:
    """:func:`level_errors` of ``network`` on 256 x 256 pairs, without gradients (eval mode)."""
    network.eval()
    with torch.no_grad():
        target, source = network_inputs(batch.target), network_inputs(batch.source)
        return level_errors(network(target, source, target, source), batch)


def zero_flow_error(batch: WarpedBatch, grid: tuple[int, int]) -> float:
    """The endpoint error of predicting no motion at a level of ``grid`` (a yardstick)."""
    truth, known = level_truth(batch.flow, batch.valid, grid)
    return float(endpoint_loss(torch.zeros_like(truth), truth, known))


__all__ = [
    "LARGE_WARPS",
    "LEVEL_WEIGHTS",
    "SMALL_WARPS",
    "WIDE_WARPS",
    "NetworkTraining",
    "bilinear_upsampling_",
    "carry_over",
    "endpoint_loss",
    "fresh_network",
    "held_out_errors",
    "level_truth",
    "network_loss",
    "pyramid_loss",
    "train_network",
    "training_batch",
    "zero_flow_error",
]
