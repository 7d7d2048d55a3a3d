# SPDX-License-Identifier: MIT
"""GOCor as drop-in correlation layers: :class:`GlobalGOCor` and :class:`LocalGOCor`.

Convention:
    GOCor (Truong et al., NeurIPS 2020) optimises one filter per cell of its *reference* image
    and reads the filters' scores over its *query* image. Here, as in GLU-Net, the reference is
    the **target** image (the grid of the flow) and the query is the **source** image; the rest
    of the package only says target and source.

Calling a module returns the final volume, in the layout of the plain correlation it replaces
(:func:`~gocor_lite.correlation.global_correlation`, :func:`~gocor_lite.correlation.
local_correlation`). :meth:`GOCorBase.trace` runs the same computation and also returns every
iteration as data (:class:`GOCorTrace`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gocor_lite._checks import check_feature_pair, check_radius
from gocor_lite.initializers import INITIALIZERS, make_initializer
from gocor_lite.optimizer import (
    Correlation,
    GlobalScores,
    LocalScores,
    Losses,
    Objective,
    QueryLoss,
    evaluate,
    steepest_descent_step,
)
from gocor_lite.spatial import (
    DistanceFunctions,
    DistanceFunctionSamples,
    offset_distances,
    pairwise_table,
)


@dataclass(frozen=True)
class GOCorConfig:
    """Settings shared by global and local GOCor; defaults are the paper's."""

    num_iter: int = 3  # optimiser steps (the paper's setting at training and test time)
    initializer: str = "simple"  # one of initializers.INITIALIZERS
    num_channels: int | None = None  # feature channels C; needed by the flexible initialisers
    num_bins: int = 10  # distance bins of the learned y, v, m
    bin_width: float = 0.5  # in feature cells
    label_sigma: float = 1.0  # width of the initial Gaussian label y
    init_reg: float = 1e-2  # initial regulariser parameter `reg` (lambda = max(reg^2, reg_min^2))
    reg_min: float = 1e-5
    init_step_length: float = 1.0  # initial exp(log_step_length)

    def __post_init__(self) -> None:
        if isinstance(self.num_iter, bool) or not isinstance(self.num_iter, int):
            raise ValueError(f"num_iter must be an integer >= 0, got {self.num_iter!r}")
        if self.num_iter < 0:
            raise ValueError(f"num_iter must be >= 0, got {self.num_iter}")
        if self.initializer not in INITIALIZERS:
            raise ValueError(f"initializer must be one of {INITIALIZERS}, got {self.initializer!r}")
        if self.init_step_length <= 0:
            raise ValueError(f"init_step_length must be > 0, got {self.init_step_length}")


@dataclass(frozen=True)
class GlobalGOCorConfig(GOCorConfig):
    """Global GOCor: every target cell's filter is scored on every cell."""

    query_loss: bool = False  # add the query loss 1/2 |P(scores on source)|^2
    query_kernel_size: int = 3  # k of the separable 4D convolution P
    query_hidden_channels: int = 16  # D1
    query_out_channels: int = 16  # D2
    query_init_std: float = 1e-3

    @classmethod
    def glunet_gocor(cls, num_iter: int = 3) -> GlobalGOCorConfig:
        """The global module of the released GLU-Net-GOCor (512-channel VGG-16 features)."""
        return cls(
            num_iter=num_iter,
            initializer="flexible-context-aware",
            num_channels=512,
            query_loss=True,
        )


@dataclass(frozen=True)
class LocalGOCorConfig(GOCorConfig):
    """Local GOCor: filters are scored on a ``(2R+1)^2`` window around their own cell."""

    search_radius: int = 4  # R; the released code fixes 4

    def __post_init__(self) -> None:
        super().__post_init__()
        check_radius(self.search_radius)
        if self.initializer not in ("simple", "flexible-simple"):
            raise ValueError(
                "local GOCor supports the 'simple' and 'flexible-simple' initialisers, "
                f"got {self.initializer!r}"
            )


@dataclass(frozen=True)
class GOCorTrace:
    """Every iteration of one GOCor call, as data (detached from autograd).

    Iteration 0 is the initial filters, iteration ``k`` the filters after ``k`` steps.

    Shapes (``K`` = num_iter, global / local):
        volumes: ``K+1`` tensors ``(B, h, w, h', w')`` / ``(B, h, w, 2R+1, 2R+1)``, the
            filters' scores on the source: what the module returns after ``k`` steps.
        target_scores: ``K+1`` tensors ``(B, h, w, h, w)`` / ``(B, h, w, 2R+1, 2R+1)``, the
            filters' scores on the target itself, which the objective fits to the label ``y``.
        filters: ``K+1`` tensors ``(B, C, h, w)``.
        losses: per iteration ``(K+1, B)`` tensors (``reference``, ``query``,
            ``regularizer``, and their ``total``).
        step_lengths: ``K`` tensors alpha, ``(B, 1, h, w)`` or ``(B, 1, 1, 1)``.
        functions: the learned ``y``, ``v``, ``m`` sampled over distance.
    """

    volumes: list[Tensor]
    target_scores: list[Tensor]
    filters: list[Tensor]
    losses: Losses
    step_lengths: list[Tensor]
    functions: DistanceFunctionSamples

    @property
    def num_iter(self) -> int:
        return len(self.volumes) - 1


class GOCorBase(nn.Module):
    """What global and local GOCor share: the initialiser, the learned functions, the step
    length, the regulariser and the optimisation loop. Subclasses say how filters are scored
    and which learned tables and regulariser scale apply."""

    config: GOCorConfig

    def __init__(self, config: GOCorConfig, *, local: bool):
        super().__init__()
        self.config = config
        self.initializer = make_initializer(config.initializer, config.num_channels, local=local)
        self.distance = DistanceFunctions(config.num_bins, config.bin_width, config.label_sigma)
        self.log_step_length = nn.Parameter(
            torch.full((1,), float(torch.log(torch.tensor(config.init_step_length))))
        )
        self.reg = nn.Parameter(torch.full((1,), config.init_reg))
        self.query_loss: QueryLoss | None = None

    # -- what subclasses provide ----------------------------------------------------------------
    def _correlation(self) -> Correlation:
        raise NotImplementedError

    def _tables(self, target: Tensor, source: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The distances between target cells and the scores' positions, shaped to broadcast
        against the scores ``(B, h, w, N)``."""
        raise NotImplementedError

    def _reg_divisor(self, channels: int) -> float:
        raise NotImplementedError

    def _to_volume(self, scores: Tensor, features: Tensor) -> Tensor:
        """``(B, h, w, N)`` -> the public volume layout for scores read on ``features``."""
        raise NotImplementedError

    def _check(self, target: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        return check_feature_pair(target, source)

    # -- the computation --------------------------------------------------------------------------
    def objective(self, target: Tensor, source: Tensor) -> Objective:
        """The objective for this pair (checked): features, learned tables and regulariser."""
        target, source = self._check(target, source)
        if self.config.num_channels is not None and target.shape[1] != self.config.num_channels:
            raise ValueError(
                f"this module was configured for {self.config.num_channels} channels, "
                f"got target {tuple(target.shape)}"
            )
        label, residual_weight, negative_slope = self._tables(target, source)
        reg = self.reg.to(target.dtype)
        reg_weight = (reg * reg).clamp(min=self.config.reg_min**2)
        reg_weight = reg_weight / self._reg_divisor(target.shape[1])
        return Objective(
            target=target,
            source=source,
            correlation=self._correlation(),
            label=label,
            residual_weight=residual_weight,
            negative_slope=negative_slope,
            reg_weight=reg_weight,
            query_loss=self.query_loss,
        )

    def forward(self, target: Tensor, source: Tensor) -> Tensor:
        """The correlation volume of the optimised filters with the source features.

        Shapes: target ``(B, C, h, w)``, source ``(B, C, h', w')`` -> the layout of the plain
        correlation this module replaces.
        """
        objective = self.objective(target, source)
        filters = self.initializer(objective.target)
        step_scale = torch.exp(self.log_step_length.to(filters.dtype))
        for _ in range(self.config.num_iter):
            filters = steepest_descent_step(filters, objective, step_scale).filters
        scores = objective.correlation.scores(filters, objective.source)
        return self._to_volume(scores, objective.source)

    @torch.no_grad()
    def trace(self, target: Tensor, source: Tensor, num_iter: int | None = None) -> GOCorTrace:
        """Run the optimiser and keep every iteration: see :class:`GOCorTrace`.

        ``num_iter`` overrides the configured number of steps for this call only.
        ``trace(...).volumes[-1]`` equals ``self(target, source)`` for the same ``num_iter``.
        """
        num_iter = self.config.num_iter if num_iter is None else num_iter
        if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 0:
            raise ValueError(f"num_iter must be an integer >= 0, got {num_iter!r}")
        objective = self.objective(target, source)
        filters = self.initializer(objective.target)
        step_scale = torch.exp(self.log_step_length.to(filters.dtype))
        all_filters, target_scores, volumes, losses, step_lengths = [], [], [], [], []
        for k in range(num_iter + 1):
            if k < num_iter:
                step = steepest_descent_step(filters, objective, step_scale)
                current, next_filters = step.before, step.filters
                step_lengths.append(step.step_length)
            else:
                current, next_filters = evaluate(filters, objective), filters
            all_filters.append(filters)
            target_scores.append(self._to_volume(current.target_scores, objective.target))
            scores = objective.correlation.scores(filters, objective.source)
            volumes.append(self._to_volume(scores, objective.source))
            losses.append(current.losses)
            filters = next_filters
        stacked = Losses(
            reference=torch.stack([loss.reference for loss in losses]),
            query=torch.stack([loss.query for loss in losses]),
            regularizer=torch.stack([loss.regularizer for loss in losses]),
        )
        return GOCorTrace(
            volumes=volumes,
            target_scores=target_scores,
            filters=all_filters,
            losses=stacked,
            step_lengths=step_lengths,
            functions=self.distance.sample(),
        )

    def extra_repr(self) -> str:
        fields = ", ".join(
            f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config)
        )
        return f"config({fields})"


def _config(cls: type[Any], config: Any, overrides: dict[str, Any]) -> Any:
    if config is None:
        return cls(**overrides)
    if not isinstance(config, cls):
        raise ValueError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    return dataclasses.replace(config, **overrides)


class GlobalGOCor(GOCorBase):
    """GOCor in place of the global correlation: ``(B, C, h, w), (B, C, h', w') -> (B, h, w,
    h', w')``.

    ``GlobalGOCor(num_iter=3, initializer="simple", query_loss=False, ...)``: keyword arguments
    are the fields of :class:`GlobalGOCorConfig` (or pass ``config=`` and override some).
    The distance functions are evaluated between every pair of target cells.

    >>> gocor = GlobalGOCor(num_iter=3)
    >>> target, source = torch.randn(1, 16, 6, 8), torch.randn(1, 16, 5, 7)
    >>> gocor(target, source).shape
    torch.Size([1, 6, 8, 5, 7])
    """

    config: GlobalGOCorConfig

    def __init__(self, config: GlobalGOCorConfig | None = None, **overrides: Any):
        config = _config(GlobalGOCorConfig, config, overrides)
        super().__init__(config, local=False)
        if config.query_loss:
            self.query_loss = QueryLoss(
                config.query_kernel_size,
                config.query_hidden_channels,
                config.query_out_channels,
                config.query_init_std,
            )

    def _correlation(self) -> Correlation:
        return GlobalScores()

    def _tables(self, target: Tensor, source: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        height, width = target.shape[2:]
        offsets = offset_distances(height, width, like=target)  # (2h-1, 2w-1)
        label, weight, slope = self.distance(offsets)

        def spread(values: Tensor) -> Tensor:
            return pairwise_table(values, height, width).view(height, width, height * width)

        return spread(label), spread(weight), spread(slope)

    def _reg_divisor(self, channels: int) -> float:
        return 1.0

    def _to_volume(self, scores: Tensor, features: Tensor) -> Tensor:
        return scores.unflatten(-1, (features.shape[2], features.shape[3]))


class LocalGOCor(GOCorBase):
    """GOCor in place of the local correlation: ``(B, C, h, w), (B, C, h', w') -> (B, h, w,
    2R+1, 2R+1)`` (dy-major window, mean over channels, as
    :func:`~gocor_lite.correlation.local_correlation`).

    ``LocalGOCor(search_radius=4, num_iter=3, ...)``: keyword arguments are the fields of
    :class:`LocalGOCorConfig`. The regulariser is divided by ``C^2`` (the scores are means).

    >>> gocor = LocalGOCor(search_radius=2)
    >>> gocor(torch.randn(1, 16, 6, 8), torch.randn(1, 16, 6, 8)).shape
    torch.Size([1, 6, 8, 5, 5])
    """

    config: LocalGOCorConfig

    def __init__(self, config: LocalGOCorConfig | None = None, **overrides: Any):
        config = _config(LocalGOCorConfig, config, overrides)
        super().__init__(config, local=True)

    @property
    def search_radius(self) -> int:
        return self.config.search_radius

    def _correlation(self) -> Correlation:
        return LocalScores(self.config.search_radius)

    def _tables(self, target: Tensor, source: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        radius = self.config.search_radius
        offsets = offset_distances(radius + 1, radius + 1, like=target)  # (2R+1, 2R+1)
        label, weight, slope = self.distance(offsets)
        return label.flatten(), weight.flatten(), slope.flatten()

    def _reg_divisor(self, channels: int) -> float:
        return float(channels * channels)

    def _to_volume(self, scores: Tensor, features: Tensor) -> Tensor:
        size = 2 * self.config.search_radius + 1
        return scores.unflatten(-1, (size, size))
