# SPDX-License-Identifier: MIT
"""GOCor as drop-in correlation layers: :class:`GlobalGOCor` and :class:`LocalGOCor`.

Convention:
    GOCor (Truong et al., NeurIPS 2020) optimises one filter per cell of its *reference* image
    and reads the filters' scores over its *query* image. Here, as in GLU-Net, the reference is
    the **target** image (the grid of the flow) and the query is the **source** image; the rest
    of the package only says target and source.

Calling a module returns the final volume, in the layout of the plain correlation it replaces
(:func:`~gocor_lite.core.correlation.global_correlation`, :func:`~gocor_lite.core.correlation.
local_correlation`). :meth:`GOCorBase.trace` runs the same computation and also returns every
iteration as data (:class:`GOCorTrace`).

What differs between the two (scores, tables, regulariser, layout, memory model) is one
strategy object per kind: :class:`~gocor_lite.gocor.kinds.GlobalKind` and
:class:`~gocor_lite.gocor.kinds.LocalKind`.

In a training loop (see the README's "Use GOCor in your network"):

* ``forward`` makes no host synchronisation: shapes, dtypes and devices are checked from
  metadata; NaN/infinity in the features is checked only with ``check_finite=True`` (then
  without synchronising an accelerator; :func:`gocor_lite._checks.check_finite`).
  :meth:`GOCorBase.trace` always checks.
* Precision: GOCor computes with autocast off, in float32 at least (16-bit features are
  promoted; float64 stays float64), so that the learned tables, the residual's coefficients
  and the step length never run in bf16; ``forward`` returns the dtype of its features
  (float32 features inside ``torch.autocast`` -> float32, bf16 features -> bf16), as the
  plain correlations do. The trace keeps the computation's dtype.
* ``num_iter=0``: the output is the initial filters' correlation and does not depend on the
  optimiser's values; they are then kept as buffers (same state dict), not parameters, so that
  DDP finds no unused parameter.
* Nothing in ``forward`` changes the module.

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

from gocor_lite._checks import check_feature_pair, check_finite, check_radius
from gocor_lite.core.correlation import _autocast_off
from gocor_lite.gocor.initializers import INITIALIZERS
from gocor_lite.gocor.kinds import GlobalKind, Kind, LocalKind
from gocor_lite.gocor.optimizer import (
    Losses,
    Objective,
    QueryLoss,
    evaluate,
    steepest_descent_step,
)
from gocor_lite.gocor.spatial import DistanceFunctions, DistanceFunctionSamples


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
    # forward also refuses NaN/infinite features (without host synchronisation: on an
    # accelerator or under torch.compile an asynchronous device assertion). Off: a training
    # loop pays nothing. trace() always checks. Not a learned setting: interop ignores it.
    check_finite: bool = False

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
    length, the regulariser, the optimisation loop, the trace and the memory check. The
    ``kind`` (:mod:`gocor_lite.gocor.kinds`) says how filters are scored and everything else
    that differs between variants."""

    config: GOCorConfig
    kind: Kind
    log_step_length: Tensor  # (1,): log of the step length's learned scale
    reg: Tensor  # (1,): the regulariser parameter (lambda = max(reg^2, reg_min^2) / divisor)

    def __init__(self, config: GOCorConfig, kind: Kind, query_loss: QueryLoss | None = None):
        super().__init__()
        self.config = config
        self.kind = kind
        self.initializer = kind.initializer(config.initializer, config.num_channels)
        self.distance = DistanceFunctions(config.num_bins, config.bin_width, config.label_sigma)
        self.log_step_length = nn.Parameter(
            torch.full((1,), float(torch.log(torch.tensor(config.init_step_length))))
        )
        self.reg = nn.Parameter(torch.full((1,), config.init_reg))
        self.query_loss = query_loss
        if config.num_iter == 0:
            self._keep_optimizer_as_buffers()

    def _keep_optimizer_as_buffers(self) -> None:
        """Make every parameter outside the initialiser a buffer of the same name and value.

        With ``num_iter=0`` the output does not depend on them: as parameters they would get
        no gradient, which DDP refuses (and an optimiser's weight decay would still change
        them). As buffers they stay in the state dict, load and save as before, follow
        ``.to()``, and serve ``trace(num_iter=k)``.
        """
        for name, parameter in list(self.named_parameters()):
            if name.startswith("initializer."):
                continue
            owner_name, _, attribute = name.rpartition(".")
            owner = self.get_submodule(owner_name) if owner_name else self
            delattr(owner, attribute)
            owner.register_buffer(attribute, parameter.detach())

    # -- the computation --------------------------------------------------------------------------
    def objective(self, target: Tensor, source: Tensor, *, check_finite: bool = True) -> Objective:
        """The objective for this pair (checked): features, learned tables and regulariser.

        The features are promoted to the computation's dtype (float32 at least); the tables
        and ``lambda`` are made in it. ``check_finite``: refuse NaN/infinite features
        (:func:`gocor_lite._checks.check_finite`).
        """
        target, source = check_feature_pair(target, source, finite=False)
        if self.config.num_channels is not None and target.shape[1] != self.config.num_channels:
            raise ValueError(
                f"this module was configured for {self.config.num_channels} channels, "
                f"got target {tuple(target.shape)}"
            )
        if check_finite:
            _check_finite_pair(target, source, wait=False)
        dtype = torch.promote_types(target.dtype, torch.float32)
        target, source = target.to(dtype), source.to(dtype)
        reg = self.reg.to(dtype)
        reg_weight = (reg * reg).clamp(min=self.config.reg_min**2)
        reg_weight = reg_weight / self.kind.reg_divisor(target.shape[1])
        return Objective(
            target=target,
            source=source,
            correlation=self.kind,
            tables=self.kind.tables(self.distance, target),
            reg_weight=reg_weight,
            query_loss=self.query_loss,
        )

    def _check_memory(
        self, target: Tensor, source: Tensor, volumes: float, what: str = "this call"
    ) -> None:
        """Raise ``ValueError`` if ``volumes`` score volumes exceed ``config.memory_limit``."""
        limit = self.config.memory_limit
        if limit is None or target.device.type == "meta":
            return
        batch, _, height, width = target.shape
        cells = self.kind.cells_per_row((source.shape[2], source.shape[3]))
        bytes_per_cell = volumes * batch * target.element_size()
        needed = bytes_per_cell * cells * height * width
        if needed <= limit:
            return
        # Largest square map s x s that fits, for a square source of the same size.
        side = 1
        while (
            bytes_per_cell * self.kind.cells_per_row((side + 1, side + 1)) * (side + 1) ** 2
            <= limit
        ):
            side += 1
        gib = 2**30
        raise ValueError(
            f"{type(self).__name__}: {what} at {height}x{width} "
            f"(batch {batch}, {target.dtype}) needs about {needed / gib:.2f} GiB "
            f"({volumes:g} score volumes), over memory_limit={limit / gib:.2f} GiB. "
            f"A feature map of at most {side}x{side} fits; or pool the features, raise "
            "memory_limit (config), or trace(..., cells=[...]) to keep a few pixels only."
        )

    def forward(self, target: Tensor, source: Tensor) -> Tensor:
        """The correlation volume of the optimised filters with the source features.

        Shapes: target ``(B, C, h, w)``, source ``(B, C, h', w')`` -> the layout of the plain
        correlation this module replaces, in the features' dtype (computed in float32 at
        least, autocast off: see the module docstring).

        Raises ``ValueError`` (before allocating) when the call would need more than
        ``config.memory_limit`` bytes of score volumes. Makes no host synchronisation.
        """
        with _autocast_off(target):
            objective = self.objective(target, source, check_finite=self.config.check_finite)
            volumes = self.kind.volumes_held(
                self.config.num_iter, torch.is_grad_enabled(), self.query_loss
            )
            self._check_memory(objective.target, objective.source, volumes)
            filters = self.initializer(objective.target)
            step_scale = torch.exp(self.log_step_length.to(filters.dtype))
            for _ in range(self.config.num_iter):
                step = steepest_descent_step(filters, objective, step_scale, losses=False)
                filters = step.filters
            scores = self.kind.scores(filters, objective.source)
            volume = self.kind.to_volume(scores, objective.source)
        return volume.to(target.dtype)

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
        ``trace(...).volumes[-1]`` equals ``self(target, source)`` for the same ``num_iter``
        (kept in the computation's dtype: float32 for 16-bit features). Refuses NaN and
        infinite features with a ``ValueError`` on any device (an inspection call: it waits).

        For maps whose ``2 (K+1)`` volumes would not fit: ``cells=[(y, x), ...]`` keeps only
        those target cells' score maps (``volumes`` ``(B, P, h', w')`` / ``(B, P, 2R+1, 2R+1)``
        and ``target_scores`` ``(B, P, h, w)`` / ``(B, P, 2R+1, 2R+1)`` for ``P`` cells, in
        the given order); ``storage="cpu"`` moves what is kept off the accelerator as it is
        produced. Filters and losses are always kept whole.
        """
        num_iter = self.config.num_iter if num_iter is None else num_iter
        if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 0:
            raise ValueError(f"num_iter must be an integer >= 0, got {num_iter!r}")
        with _autocast_off(target):
            return self._trace(target, source, num_iter, cells, storage)

    def _trace(
        self,
        target: Tensor,
        source: Tensor,
        num_iter: int,
        cells: Sequence[tuple[int, int]] | None,
        storage: torch.device | str | None,
    ) -> GOCorTrace:
        objective = self.objective(target, source, check_finite=False)
        _check_finite_pair(objective.target, objective.source, wait=True)
        index = self._cell_index(cells, objective.target)
        kept = 2 * (num_iter + 1) if index is None and storage is None else 0
        volumes_needed = self.kind.volumes_held(num_iter, False, self.query_loss) + 1 + kept
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
                assert current is not None  # losses asked for (the default)
                step_lengths.append(step.step_length)
            else:
                current, next_filters = evaluate(filters, objective), filters
            all_filters.append(filters)
            assert current.target_scores is not None
            target_scores.append(keep(self.kind.to_volume(current.target_scores, objective.target)))
            scores = self.kind.scores(filters, objective.source)
            volumes.append(keep(self.kind.to_volume(scores, objective.source)))
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


def _check_finite_pair(target: Tensor, source: Tensor, *, wait: bool) -> None:
    check_finite("target", target, wait=wait)
    check_finite("source", source, wait=wait)


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
        query_loss = None
        if config.query_loss:
            query_loss = QueryLoss(
                config.query_kernel_size,
                config.query_hidden_channels,
                config.query_out_channels,
                config.query_init_std,
            )
        super().__init__(config, GlobalKind(), query_loss)


class LocalGOCor(GOCorBase):
    """GOCor in place of the local correlation: ``(B, C, h, w), (B, C, h', w') -> (B, h, w,
    2R+1, 2R+1)`` (dy-major window, mean over channels, as
    :func:`~gocor_lite.core.correlation.local_correlation`).

    ``LocalGOCor(search_radius=4, num_iter=3, ...)``: keyword arguments are the fields of
    :class:`LocalGOCorConfig`. The regulariser is divided by ``C^2`` (the scores are means).

    >>> gocor = LocalGOCor(search_radius=2)
    >>> gocor(torch.randn(1, 16, 6, 8), torch.randn(1, 16, 6, 8)).shape
    torch.Size([1, 6, 8, 5, 5])
    """

    config: LocalGOCorConfig

    def __init__(self, config: LocalGOCorConfig | None = None, **overrides: Any):
        config = _config(LocalGOCorConfig, config, overrides)
        super().__init__(config, LocalKind(config.search_radius))

    @property
    def search_radius(self) -> int:
        return self.config.search_radius
