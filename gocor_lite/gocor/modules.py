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

Memory: an inference call holds at most three ``(h*w) x (h'*w')`` volumes of global scores
(the output, and with the query loss its scores and gradient; see :mod:`gocor_lite.gocor.optimizer`)
plus bounded blocks; :meth:`GOCorBase.trace` keeps ``2 (K+1)`` more unless asked for a few
cells (``cells=``). Above ``config.memory_limit`` bytes (default 8 GiB) a call raises a
``ValueError`` that names a map size that fits, before allocating anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from gocor_lite._checks import check_feature_pair, check_radius
from gocor_lite.gocor.initializers import INITIALIZERS, make_initializer
from gocor_lite.gocor.optimizer import (
    Correlation,
    DistanceTables,
    GlobalScores,
    LocalScores,
    Losses,
    Objective,
    QueryLoss,
    ResidualTables,
    WindowTables,
    evaluate,
    steepest_descent_step,
)
from gocor_lite.gocor.spatial import DistanceFunctions, DistanceFunctionSamples, offset_distances


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
    # Refuse (ValueError, naming a size that fits) a call whose volumes would need more bytes
    # than this; None: no limit. Not a learned setting: interop ignores it.
    memory_limit: int | None = 8 * 2**30

    def __post_init__(self) -> None:
        if self.memory_limit is not None and self.memory_limit <= 0:
            raise ValueError(f"memory_limit must be > 0 bytes or None, got {self.memory_limit}")
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

    def _tables(self, target: Tensor, correlation: Correlation) -> ResidualTables:
        """The learned ``y``, ``v``, ``m`` at the distances between target cells and the
        scores' positions, by blocks of target rows (see :mod:`gocor_lite.gocor.optimizer`)."""
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
        correlation = self._correlation()
        reg = self.reg.to(target.dtype)
        reg_weight = (reg * reg).clamp(min=self.config.reg_min**2)
        reg_weight = reg_weight / self._reg_divisor(target.shape[1])
        return Objective(
            target=target,
            source=source,
            correlation=correlation,
            tables=self._tables(target, correlation),
            reg_weight=reg_weight,
            query_loss=self.query_loss,
        )

    def _volumes_held(self, num_iter: int, grad: bool) -> float:
        """How many score volumes one call holds at its peak (:mod:`gocor_lite.gocor.optimizer`)."""
        return 1.0  # the output; subclasses add their optimiser's working set

    def _check_memory(
        self, target: Tensor, source: Tensor, volumes: float, what: str = "this call"
    ) -> None:
        """Raise ``ValueError`` if ``volumes`` score volumes exceed ``config.memory_limit``."""
        limit = self.config.memory_limit
        if limit is None or target.device.type == "meta":
            return
        cells = self._cells_per_row(target, source)
        per_cell = target.shape[0] * cells * target.element_size()
        needed = volumes * per_cell * target.shape[2] * target.shape[3]
        if needed <= limit:
            return
        # Largest square map s x s that fits, for a square source of the same size.
        side = 1
        while (
            volumes
            * target.shape[0]
            * target.element_size()
            * self._cells_for_side(side + 1)
            * (side + 1) ** 2
            <= limit
        ):
            side += 1
        gib = 2**30
        raise ValueError(
            f"{type(self).__name__}: {what} at {target.shape[2]}x{target.shape[3]} "
            f"(batch {target.shape[0]}, {target.dtype}) needs about {needed / gib:.2f} GiB "
            f"({volumes:g} score volumes), over memory_limit={limit / gib:.2f} GiB. "
            f"A feature map of at most {side}x{side} fits; or pool the features, raise "
            "memory_limit (config), or trace(..., cells=[...]) to keep a few pixels only."
        )

    def _cells_per_row(self, target: Tensor, source: Tensor) -> int:
        """Scores per target cell (``N``)."""
        raise NotImplementedError

    def _cells_for_side(self, side: int) -> int:
        """``N`` for a ``side x side`` map."""
        raise NotImplementedError

    def forward(self, target: Tensor, source: Tensor) -> Tensor:
        """The correlation volume of the optimised filters with the source features.

        Shapes: target ``(B, C, h, w)``, source ``(B, C, h', w')`` -> the layout of the plain
        correlation this module replaces.

        Raises ``ValueError`` (before allocating) when the call would need more than
        ``config.memory_limit`` bytes of score volumes.
        """
        objective = self.objective(target, source)
        grad = torch.is_grad_enabled()
        volumes = self._volumes_held(self.config.num_iter, grad)
        self._check_memory(objective.target, objective.source, volumes)
        filters = self.initializer(objective.target)
        step_scale = torch.exp(self.log_step_length.to(filters.dtype))
        for _ in range(self.config.num_iter):
            filters = steepest_descent_step(filters, objective, step_scale).filters
        scores = objective.correlation.scores(filters, objective.source)
        return self._to_volume(scores, objective.source)

    @torch.no_grad()
    def trace(
        self,
        target: Tensor,
        source: Tensor,
        num_iter: int | None = None,
        *,
        cells: Sequence[tuple[int, int]] | None = None,
        storage: torch.device | str | None = None,
    ) -> GOCorTrace:
        """Run the optimiser and keep every iteration: see :class:`GOCorTrace`.

        ``num_iter`` overrides the configured number of steps for this call only.
        ``trace(...).volumes[-1]`` equals ``self(target, source)`` for the same ``num_iter``.

        For maps whose ``2 (K+1)`` volumes would not fit: ``cells=[(y, x), ...]`` keeps only
        those target cells' score maps (``volumes`` ``(B, P, h', w')`` / ``(B, P, 2R+1, 2R+1)``
        and ``target_scores`` ``(B, P, h, w)`` / ``(B, P, 2R+1, 2R+1)`` for ``P`` cells, in
        the given order); ``storage="cpu"`` moves what is kept off the accelerator as it is
        produced. Filters and losses are always kept whole.
        """
        num_iter = self.config.num_iter if num_iter is None else num_iter
        if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 0:
            raise ValueError(f"num_iter must be an integer >= 0, got {num_iter!r}")
        objective = self.objective(target, source)
        index = self._cell_index(cells, objective.target)
        kept = 2 * (num_iter + 1) if index is None and storage is None else 0
        volumes_needed = self._volumes_held(num_iter, grad=False) + 1 + kept
        self._check_memory(objective.target, objective.source, volumes_needed, "trace()")

        def keep(volume: Tensor) -> Tensor:
            if index is not None:
                volume = volume[:, index[0], index[1]]  # (B, P, ...)
            return volume if storage is None else volume.to(storage)

        filters = self.initializer(objective.target)
        step_scale = torch.exp(self.log_step_length.to(filters.dtype))
        all_filters, target_scores, volumes, losses, step_lengths = [], [], [], [], []
        for k in range(num_iter + 1):
            if k < num_iter:
                step = steepest_descent_step(filters, objective, step_scale, keep_scores=True)
                current, next_filters = step.before, step.filters
                step_lengths.append(step.step_length)
            else:
                current, next_filters = evaluate(filters, objective), filters
            all_filters.append(filters)
            assert current.target_scores is not None
            target_scores.append(keep(self._to_volume(current.target_scores, objective.target)))
            scores = objective.correlation.scores(filters, objective.source)
            volumes.append(keep(self._to_volume(scores, objective.source)))
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

    @staticmethod
    def _cell_index(
        cells: Sequence[tuple[int, int]] | None, target: Tensor
    ) -> tuple[Tensor, Tensor] | None:
        if cells is None:
            return None
        height, width = target.shape[2:]
        pairs = [tuple(cell) for cell in cells]
        if not pairs or any(
            len(cell) != 2 or not (0 <= cell[0] < height and 0 <= cell[1] < width) for cell in pairs
        ):
            raise ValueError(
                f"cells must be a non-empty list of (y, x) target cells inside {height}x{width}, "
                f"got {cells!r}"
            )
        ys = torch.tensor([cell[0] for cell in pairs], device=target.device)
        xs = torch.tensor([cell[1] for cell in pairs], device=target.device)
        return ys, xs

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

    def _tables(self, target: Tensor, correlation: Correlation) -> ResidualTables:
        batch, _, height, width = target.shape
        rows = correlation.block_rows(batch, height, width, height * width)
        return DistanceTables(self.distance, self.distance.reach, height, width, rows, target)

    def _reg_divisor(self, channels: int) -> float:
        return 1.0

    def _volumes_held(self, num_iter: int, grad: bool) -> float:
        # Without autograd: the output, plus the query loss's scores and gradient (blocks of
        # the target-vs-target scores are small). With autograd every step's intermediates
        # are saved for the backward pass: about 5 volumes a step, and the query loss's
        # D1 + D2 channels of 4D convolution on top.
        query = self.query_loss is not None
        if not grad:
            return 1.0 + (2.0 if query else 0.0)
        config = self.config
        per_step = 5.0 + (3.0 + config.query_hidden_channels + config.query_out_channels) * query
        return 1.0 + num_iter * per_step

    def _cells_per_row(self, target: Tensor, source: Tensor) -> int:
        return source.shape[2] * source.shape[3]

    def _cells_for_side(self, side: int) -> int:
        return side * side

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

    def _tables(self, target: Tensor, correlation: Correlation) -> ResidualTables:
        radius = self.config.search_radius
        offsets = offset_distances(radius + 1, radius + 1, like=target)  # (2R+1, 2R+1)
        label, weight, slope = self.distance(offsets)
        return WindowTables(label.flatten(), weight.flatten(), slope.flatten())

    def _reg_divisor(self, channels: int) -> float:
        return float(channels * channels)

    def _volumes_held(self, num_iter: int, grad: bool) -> float:
        return 1.0 + (5.0 * num_iter if grad else 4.0)

    def _cells_per_row(self, target: Tensor, source: Tensor) -> int:
        return (2 * self.config.search_radius + 1) ** 2

    def _cells_for_side(self, side: int) -> int:
        return (2 * self.config.search_radius + 1) ** 2

    def _to_volume(self, scores: Tensor, features: Tensor) -> Tensor:
        size = 2 * self.config.search_radius + 1
        return scores.unflatten(-1, (size, size))
