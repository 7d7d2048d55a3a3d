# SPDX-License-Identifier: MIT
"""The explorer's computation, without any user interface: settings in, results out.

Two stages, so that a click is cheap:

* :meth:`Pipeline.compute` (a pair and :class:`Settings` -> :class:`Computed`): features, the
  plain global and local correlation volumes and the GOCor traces, once per pair and settings,
  cached;
* :meth:`Pipeline.probe` (a :class:`Computed`, a target pixel and an iteration ->
  :class:`Probe`): slices of those volumes for one target cell, with best matches and errors.

and, for the flow view, :meth:`Pipeline.compute_flow` (a pair, :class:`Settings` and a
:class:`FlowChoice` -> :class:`FlowComputed`): the coarse-to-fine flow of :mod:`gocor_lite.flow`
and its pictures, cached the same way.

Everything is computed by :mod:`gocor_lite`; this module chooses what to compute and caches it.
Pictures are drawn by :mod:`explorer.render`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from gocor_lite import GlobalGOCor, GOCorTrace, LocalGOCor, global_correlation, local_correlation
from gocor_lite.data import synthetic
from gocor_lite.data.examples import example_names, load_example
from gocor_lite.data.pairs import ExamplePair, resize_pair
from gocor_lite.features import (
    NORMALIZATIONS,
    FeatureExtractor,
    default_extractor_name,
    extractor_names,
    make_extractor,
    normalize_features,
)
from gocor_lite.flow.config import FlowConfig
from gocor_lite.flow.pipeline import CoarseToFineFlow, FlowResult
from gocor_lite.gocor.initializers import INITIALIZERS
from gocor_lite.gocor.interop import OfficialGOCor, load_official_checkpoint
from gocor_lite.grid import cell_to_pixel, pixel_to_cell_index
from gocor_lite.images import ImageError, read_image, resize_to_fit, to_tensor
from gocor_lite.matching import (
    best_match,
    scatter_window,
    true_match,
    warp_by_matches,
    window_sources,
)
from gocor_lite.pictures.flow import LevelPictures, level_pictures
from gocor_lite.weights import load_trained_gocor, trained_gocor_extractors

WORKING_SIZES = (160, 240, 320, 400, 480)  # longer side in pixels; 480 keeps volumes < 50 MB
MAX_ITERATIONS = 8
MAX_RADIUS = 8
STORED_SIDE = 2 * max(WORKING_SIZES)  # uploads are kept at most this large (longer side)
QUERY_LOSS_MAX_SIZE = 320  # its 4D convolution holds ~100 MB per intermediate at 320 px
# GOCor's parameters when no checkpoint file is given: trained by `python -m gocor_lite.train`
# (for the default variant: simple initialiser, no query loss; per extractor), or the paper's.
GOCOR_PARAMETERS: tuple[str, ...] = ("trained (this project)", "paper initial values")
LocalCentre = Literal["same position", "coarse flow"]
LOCAL_CENTRES: tuple[str, ...] = ("same position", "coarse flow")
# The flow view's choices: where GOCor replaces the feature correlation, and the estimator.
FLOW_VARIANTS: dict[str, str] = {
    "feature correlation": "correlation",
    "global GOCor": "global-gocor",
    "local GOCor": "local-gocor",
    "both (global and local GOCor)": "gocor",
}
FLOW_ERROR_RANGE = 10.0  # px: error maps run from dark (0) to bright (this or more)
FLOW_ESTIMATORS: dict[str, str] = {
    "training-free (argmax)": "argmax",
    "training-free (soft-argmax)": "soft-argmax",
    "learned decoders": "decoder",
}

Progress = Callable[[float, str], None]


class InputError(ValueError):
    """Something the user gave (a file, a setting) that cannot be used; the message says why."""


@dataclass(frozen=True)
class Settings:
    """Everything that decides the volumes. Changing any field means a recomputation."""

    features: str = field(default_factory=default_extractor_name)  # an extractor name
    normalization: str = "centered-l2"  # of the features before correlating (see matching.py)
    working_size: int = 320  # longer side of both images, pixels
    search_radius: int = 4  # R of the local correlations, in feature cells
    num_iter: int = 3  # K, GOCor's steps; iterations 0..K are kept
    initializer: str = "simple"  # GOCor's filter initialiser (the local module: its simple form)
    query_loss: bool = False  # global GOCor's query loss (slow: ~10 s at 320 px on 2 cores)
    local_centre: str = "same position"  # where local windows are centred: see LOCAL_CENTRES
    weights: str | None = None  # the authors' GLU-Net-GOCor checkpoint file, or None
    feature_weights: str | None = None  # a weights file for the extractor (VGG-16, ...), or None
    gocor_parameters: str = GOCOR_PARAMETERS[0]  # see GOCOR_PARAMETERS (a checkpoint wins)

    def __post_init__(self) -> None:
        checks = [
            (self.features in extractor_names(), f"features must be one of {extractor_names()}"),
            (
                self.normalization in NORMALIZATIONS,
                f"normalization must be one of {NORMALIZATIONS}",
            ),
            (self.working_size in WORKING_SIZES, f"working_size must be one of {WORKING_SIZES}"),
            (
                _is_int(self.search_radius) and 1 <= self.search_radius <= MAX_RADIUS,
                f"search_radius must be an integer in 1..{MAX_RADIUS}",
            ),
            (
                _is_int(self.num_iter) and 0 <= self.num_iter <= MAX_ITERATIONS,
                f"num_iter must be an integer in 0..{MAX_ITERATIONS}",
            ),
            (self.initializer in INITIALIZERS, f"initializer must be one of {INITIALIZERS}"),
            (self.local_centre in LOCAL_CENTRES, f"local_centre must be one of {LOCAL_CENTRES}"),
            (
                self.gocor_parameters in GOCOR_PARAMETERS,
                f"gocor_parameters must be one of {GOCOR_PARAMETERS}",
            ),
            (
                not self.query_loss or self.working_size <= QUERY_LOSS_MAX_SIZE,
                "the query loss needs much memory and time: use a working resolution of at most "
                f"{QUERY_LOSS_MAX_SIZE} px with it",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)

    def updated(self, changes: Mapping[str, Any]) -> Settings:
        """A copy with some fields changed, from user controls' values (``4.0`` -> ``4``)."""
        known = {item.name: item for item in dataclasses.fields(self)}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise InputError(f"unknown setting {name!r}")
            if name in ("working_size", "search_radius", "num_iter"):
                if not isinstance(value, int | float) or value != int(value):
                    raise InputError(f"{name} must be a whole number, got {value!r}")
                value = int(value)
            values[name] = value
        return dataclasses.replace(self, **values)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Computed:
    """The volumes and traces of one pair at one setting (batch dimension dropped).

    Shapes (``h, w`` target grid, ``h', w'`` source grid, ``S = 2R+1``):
        correlation ``(h, w, h', w')``, self_correlation ``(h, w, h, w)`` (target vs target),
        local ``(h, w, S, S)`` as cosine scores (``reduction="sum"`` of normalised features),
        coarse_matches ``(2, h, w)`` or ``None``; traces as :class:`~gocor_lite.GOCorTrace`.
    """

    pair: ExamplePair  # at the working resolution (flow rescaled with it)
    settings: Settings
    notes: tuple[str, ...]  # what was done to the inputs (scaled, ...), for the user
    stride: int
    correlation: Tensor
    self_correlation: Tensor
    local: Tensor
    coarse_matches: Tensor | None  # where local windows are centred, when centred on the flow
    global_trace: GOCorTrace
    local_trace: GOCorTrace
    seconds: float  # time the computation took

    @property
    def target_grid(self) -> tuple[int, int]:
        return (self.correlation.shape[0], self.correlation.shape[1])

    @property
    def source_grid(self) -> tuple[int, int]:
        return (self.correlation.shape[2], self.correlation.shape[3])

    @property
    def num_iter(self) -> int:
        return self.global_trace.num_iter

    @property
    def nbytes(self) -> int:
        """Memory held by the volumes and traces (what the cache budget counts)."""
        tensors = [self.correlation, self.self_correlation, self.local]
        for trace in (self.global_trace, self.local_trace):
            tensors += [*trace.volumes, *trace.target_scores, *trace.filters]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


@dataclass(frozen=True)
class ScoreMap:
    """One method's scores for the probed target cell, over the source (or target) grid."""

    name: str
    scores: np.ndarray  # (h', w') float32, NaN where the method gives no score
    best: tuple[float, float]  # its best match, in pixels (the cell's centre)
    peak: float  # the best score
    error: float | None  # distance from the best match to the true match, pixels
    window: tuple[float, float, float, float] | None = None  # drawn search window x0, y0, x1, y1


@dataclass(frozen=True)
class Probe:
    """Everything shown for one target cell at one GOCor iteration."""

    cell: tuple[int, int]  # (x, y) target cell
    pixel: tuple[float, float]  # its centre, target pixels
    iteration: int
    true_match: tuple[float, float] | None  # source pixels, where the ground truth is known
    local_correlation: ScoreMap
    global_correlation: ScoreMap
    gocor_global: ScoreMap  # at `iteration`
    gocor_local: ScoreMap  # at `iteration`
    strip_source: list[ScoreMap]  # global correlation, then global GOCor iterations 0..K
    strip_target: list[ScoreMap]  # the same filters scored on the target itself

    @property
    def panels(self) -> list[ScoreMap]:
        return [
            self.local_correlation,
            self.global_correlation,
            self.gocor_global,
            self.gocor_local,
        ]


@dataclass(frozen=True)
class FlowChoice:
    """The flow view's own settings (the features and GOCor's iterations come from
    :class:`Settings`): values of :data:`FLOW_VARIANTS` and :data:`FLOW_ESTIMATORS`."""

    variant: str = "correlation"  # where GOCor replaces the correlation (gocor_lite.flow)
    estimator: str = "argmax"  # "argmax", "soft-argmax" (training-free) or "decoder" (learned)

    def __post_init__(self) -> None:
        if self.variant not in FLOW_VARIANTS.values():
            raise InputError(f"the GOCor variant must be one of {list(FLOW_VARIANTS)}")
        if self.estimator not in FLOW_ESTIMATORS.values():
            raise InputError(f"the estimator must be one of {list(FLOW_ESTIMATORS)}")


@dataclass(frozen=True)
class FlowComputed:
    """The coarse-to-fine flow of one pair (at the working resolution) and its pictures."""

    pair: ExamplePair  # at the working resolution, as in :class:`Computed`
    settings: Settings
    choice: FlowChoice
    notes: tuple[str, ...]  # what was done to the inputs, for the user
    result: FlowResult  # flows (B = 1), every level's flow and volume
    pictures: list[LevelPictures]  # one per level, coarse to fine; errors where truth is known
    seconds: float  # time the computation took

    @property
    def mean_error(self) -> float | None:
        """The final flow's average endpoint error over pixels with a known true flow (px)."""
        return self.pictures[-1].mean_error

    @property
    def nbytes(self) -> int:
        tensors = [self.result.source]
        for level in self.result.levels:
            tensors += [level.flow, level.cell_flow, level.volume]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


class Pipeline:
    """Caches extractors, checkpoints, pairs and results; safe to share between sessions when
    calls are serialised (the app's queue runs one event at a time)."""

    def __init__(
        self,
        max_results: int = 3,
        max_bytes: int = 1_500_000_000,
        max_pairs: int = 32,
        threads: int = 2,
    ):
        self.max_results = max_results  # results kept (the newest is always kept)
        self.max_bytes = max_bytes  # and at most this much memory in their volumes
        self.max_pairs = max_pairs
        self.threads = threads
        self._extractors: dict[tuple[str, str | None], FeatureExtractor] = {}
        self._checkpoints: dict[tuple[str, float, int, int], OfficialGOCor] = {}
        self._pairs: OrderedDict[str, ExamplePair] = OrderedDict()
        self._results: OrderedDict[tuple[str, Settings], Computed] = OrderedDict()
        self._flows: OrderedDict[tuple[str, Settings, FlowChoice], FlowComputed] = OrderedDict()

    # -- pairs ------------------------------------------------------------------------------------
    def example_pair(self, name: str) -> str:
        """Register a bundled pair; returns its pair id."""
        if name not in example_names():
            raise InputError(f"unknown example pair {name!r}; choose one of {example_names()}")
        return f"example:{name}"

    def add_pair(self, pair: ExamplePair) -> str:
        """Keep a pair made from the user's images; returns its pair id (content-addressed)."""
        digest = hashlib.sha1()
        for array in (pair.target, pair.source, pair.flow):
            if array is None:
                continue
            digest.update(repr(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        pair_id = f"{pair.name}:{digest.hexdigest()[:16]}"
        self._pairs[pair_id] = pair
        self._pairs.move_to_end(pair_id)
        while len(self._pairs) > self.max_pairs:
            self._pairs.popitem(last=False)
        return pair_id

    def pair(self, pair_id: str) -> ExamplePair:
        if pair_id.startswith("example:"):
            name = pair_id.removeprefix("example:")
            if name not in self._pairs:
                self._pairs[name] = load_example(name)
            return self._pairs[name]
        if pair_id not in self._pairs:
            raise InputError("these images are no longer in memory; please load them again")
        return self._pairs[pair_id]

    # -- the heavy stage --------------------------------------------------------------------------
    def compute(
        self, pair_id: str, settings: Settings, progress: Progress | None = None
    ) -> Computed:
        """Volumes and traces for a pair at a setting (cached: the second call is free)."""
        key = (pair_id, settings)
        if key in self._results:
            self._results.move_to_end(key)
            return self._results[key]
        report = progress or (lambda fraction, message: None)
        start = time.perf_counter()
        extractor, pair, scaling = self._working_pair(pair_id, settings, report)
        notes = tuple(scaling)
        global_module, local_module = self._gocor_modules(settings)
        wants_trained = settings.gocor_parameters == GOCOR_PARAMETERS[0]
        if settings.weights is None and wants_trained and self._trained_gocor(settings) is None:
            notes += (
                "no trained GOCor parameters for these features and this GOCor variant "
                "(`python -m gocor_lite.train` trains the simple initialiser without the "
                "query loss): the paper's initial values are used",
            )

        report(0.15, f"extracting {settings.features} features")
        with torch.no_grad():
            target, source = normalize_features(
                extractor(to_tensor(pair.target)),
                extractor(to_tensor(pair.source)),
                settings.normalization,
            )
            report(0.45, "correlation volumes")
            correlation = global_correlation(target, source)
            self_correlation = global_correlation(target, target)
            coarse_matches = None
            local_source = source
            if settings.local_centre == "coarse flow":
                coarse_matches = best_match(correlation)  # (1, 2, h, w)
                local_source = warp_by_matches(source, coarse_matches)
            local = local_correlation(target, local_source, settings.search_radius, "sum")
            report(
                0.55,
                "global GOCor" + (" with the query loss (slow)" if settings.query_loss else ""),
            )
            try:
                global_trace = global_module.trace(target, source, settings.num_iter)
                report(0.85, "local GOCor")
                local_trace = local_module.trace(target, local_source, settings.num_iter)
            except ValueError as error:  # e.g. a checkpoint made for other features
                raise InputError(f"GOCor cannot run on these features: {error}") from error
        result = Computed(
            pair=pair,
            settings=settings,
            notes=notes,
            stride=extractor.stride,
            correlation=correlation[0],
            self_correlation=self_correlation[0],
            local=local[0],
            coarse_matches=None if coarse_matches is None else coarse_matches[0],
            global_trace=_first(global_trace),
            local_trace=_first(local_trace),
            seconds=time.perf_counter() - start,
        )
        self._results[key] = result
        while len(self._results) > 1 and (
            len(self._results) > self.max_results
            or sum(item.nbytes for item in self._results.values()) > self.max_bytes
        ):
            self._results.popitem(last=False)
        report(1.0, "done")
        return result

    def compute_flow(
        self,
        pair_id: str,
        settings: Settings,
        choice: FlowChoice,
        progress: Progress | None = None,
    ) -> FlowComputed:
        """The coarse-to-fine flow (GLU-Net in miniature) of a pair at the working resolution,
        with the features, normalisation, GOCor iterations and GOCor parameters of ``settings``
        (cached)."""
        key = (pair_id, settings, choice)
        if key in self._flows:
            self._flows.move_to_end(key)
            return self._flows[key]
        report = progress or (lambda fraction, message: None)
        start = time.perf_counter()
        extractor, pair, notes = self._working_pair(pair_id, settings, report)
        trained = _has_trained_parameters(settings)
        config = FlowConfig(
            extractor=settings.features,
            normalization=settings.normalization,
            estimator=choice.estimator,
            gocor_iterations=settings.num_iter,
            gocor_parameters="trained" if trained else "initial",
        ).with_variant(choice.variant)
        try:
            model = CoarseToFineFlow(config, extractor=extractor).eval()
        except ValueError as error:
            raise InputError(f"the flow pipeline cannot use these settings: {error}") from error
        if choice.estimator == "decoder":
            try:
                model.load_decoders()
            except (OSError, ValueError) as error:
                raise InputError(
                    f"no learned decoders for the {settings.features!r} features with this GOCor "
                    f"variant: {error}. Choose a training-free estimator."
                ) from error
            if settings.feature_weights or settings.num_iter != FlowConfig.gocor_iterations:
                notes.append(
                    "the learned decoders were trained with the features' default weights and "
                    f"{FlowConfig.gocor_iterations} GOCor iterations; these settings differ"
                )
            if trained and choice.variant != "correlation":
                notes.append(
                    "the learned decoders were trained on GOCor with the paper's initial "
                    "parameters; here GOCor uses the trained ones"
                )
        if settings.weights and choice.variant != "correlation":
            parameters = "this project's trained" if trained else "the paper's initial"
            notes.append(f"the flow view's GOCor uses {parameters} parameters, not the file's")
        report(0.15, f"extracting {settings.features} features for {len(config.levels)} levels")
        target, source = to_tensor(pair.target), to_tensor(pair.source)
        with torch.no_grad():
            inputs = model.extract(target, source)
            report(0.5, "correlating and estimating the flow, coarse to fine")
            try:
                levels = model.run(inputs, (target.shape[2], target.shape[3]))
            except ValueError as error:
                raise InputError(f"the flow pipeline cannot run on this pair: {error}") from error
        result = FlowResult(flow=levels[-1].flow, levels=levels, source=source)
        report(0.9, "drawing the flow")
        pictures = level_pictures(result, pair.flow, max_error=FLOW_ERROR_RANGE)
        flow = FlowComputed(
            pair, settings, choice, tuple(notes), result, pictures, time.perf_counter() - start
        )
        self._flows[key] = flow
        while len(self._flows) > 1 and (
            len(self._flows) > self.max_results
            or sum(item.nbytes for item in self._flows.values()) > self.max_bytes // 4
        ):
            self._flows.popitem(last=False)
        report(1.0, "done")
        return flow

    def _working_pair(
        self, pair_id: str, settings: Settings, report: Progress
    ) -> tuple[FeatureExtractor, ExamplePair, list[str]]:
        """The extractor, the pair at the working resolution, and notes on its scaling."""
        torch.set_num_threads(self.threads)
        report(0.05, "loading the images")
        original = self.pair(pair_id)
        extractor = self._extractor(settings.features, settings.feature_weights)
        pair = resize_pair(original, settings.working_size, extractor.stride)
        return extractor, pair, _scaling_notes(original, pair)

    def _extractor(self, name: str, weights: str | None = None) -> FeatureExtractor:
        """The extractor called ``name``, built once (with its weights file, if given)."""
        key = (name, weights)
        if key not in self._extractors:
            options = {} if weights is None else {"weights": weights}
            try:
                extractor = make_extractor(name, **options).eval()
            except TypeError as error:  # an extractor that takes no weights file
                raise InputError(f"the {name!r} features take no weights file") from error
            except (OSError, ValueError) as error:  # missing or unreadable weights, ...
                raise InputError(f"the {name!r} features are not available: {error}") from error
            if len(self._extractors) >= 4:  # networks can be large: keep a few
                self._extractors.pop(next(iter(self._extractors)))
            self._extractors[key] = extractor
        return self._extractors[key]

    def _gocor_modules(self, settings: Settings) -> tuple[GlobalGOCor, LocalGOCor]:
        if settings.weights is not None:
            loaded = self.load_weights(settings.weights, settings.num_iter, settings.search_radius)
            return loaded.global_gocor, loaded.local_gocor
        trained = self._trained_gocor(settings)
        if trained is not None:
            return trained
        local_initializer = (
            "flexible-simple" if settings.initializer == "flexible-simple" else "simple"
        )
        channels = self._extractor(settings.features, settings.feature_weights).channels or None
        return (
            GlobalGOCor(
                num_iter=settings.num_iter,
                initializer=settings.initializer,
                query_loss=settings.query_loss,
                num_channels=channels if settings.initializer.startswith("flexible") else None,
            ),
            LocalGOCor(
                num_iter=settings.num_iter,
                initializer=local_initializer,
                search_radius=settings.search_radius,
                num_channels=channels if local_initializer.startswith("flexible") else None,
            ),
        )

    def _trained_gocor(self, settings: Settings) -> tuple[GlobalGOCor, LocalGOCor] | None:
        """The project's trained modules for these settings, or ``None`` where there are none
        (paper-initial values asked for, another variant, other features, or no file)."""
        if (
            not _has_trained_parameters(settings)
            or settings.initializer != "simple"
            or settings.query_loss
        ):
            return None
        global_module = load_trained_gocor("global", settings.features, num_iter=settings.num_iter)
        local_module = load_trained_gocor(
            "local",
            settings.features,
            num_iter=settings.num_iter,
            search_radius=settings.search_radius,
        )
        assert isinstance(global_module, GlobalGOCor) and isinstance(local_module, LocalGOCor)
        return global_module, local_module

    def load_weights(self, path: str, num_iter: int = 3, search_radius: int = 4) -> OfficialGOCor:
        """The GOCor modules of an authors' checkpoint file (cached by path and time stamp)."""
        file = Path(path)
        try:
            key = (str(file), file.stat().st_mtime, num_iter, search_radius)
            if key not in self._checkpoints:
                self._checkpoints.clear()  # one checkpoint at a time: they are large
                self._checkpoints[key] = load_official_checkpoint(file, num_iter, search_radius)
        except (OSError, ValueError) as error:
            raise InputError(f"cannot use {file.name} as GOCor weights: {error}") from error
        return self._checkpoints[key]

    # -- the cheap stage --------------------------------------------------------------------------
    def probe(self, computed: Computed, pixel: tuple[float, float], iteration: int) -> Probe:
        """Slice the maps of the target cell under ``pixel`` (target pixels at the working
        resolution) at GOCor iteration ``iteration`` (clamped to ``0..K``)."""
        stride = computed.stride
        cell = pixel_to_cell_index(pixel[0], pixel[1], stride, computed.target_grid)
        x, y = cell
        centre = (float(cell_to_pixel(x, stride)), float(cell_to_pixel(y, stride)))
        truth = true_match(computed.pair.flow, centre)
        iteration = min(max(int(iteration), 0), computed.num_iter)

        def global_map(name: str, scores: Tensor) -> ScoreMap:
            return _score_map(name, scores, stride, truth)

        sources = window_sources(
            cell,
            computed.settings.search_radius,
            computed.target_grid if computed.coarse_matches is not None else computed.source_grid,
            computed.coarse_matches,
        )
        radius = computed.settings.search_radius
        centre_cell = sources[radius, radius].tolist()
        if min(centre_cell) < 0:  # cannot happen for a cell inside the grid; be safe
            centre_cell = [x, y]
        window = (
            float(cell_to_pixel(centre_cell[0] - radius - 0.5, stride)),
            float(cell_to_pixel(centre_cell[1] - radius - 0.5, stride)),
            float(cell_to_pixel(centre_cell[0] + radius + 0.5, stride)),
            float(cell_to_pixel(centre_cell[1] + radius + 0.5, stride)),
        )

        def local_map(name: str, volume: Tensor) -> ScoreMap:
            scores = scatter_window(volume[y, x], sources, computed.source_grid)
            return _score_map(name, scores, stride, truth, window)

        global_volumes = computed.global_trace.volumes
        target_volumes = computed.global_trace.target_scores
        strip_source = [global_map("Global correlation", computed.correlation[y, x])]
        strip_source += [
            global_map(f"GOCor global, iteration {k}", volume[y, x])
            for k, volume in enumerate(global_volumes)
        ]
        strip_target = [
            global_map("Correlation, target vs target", computed.self_correlation[y, x])
        ]
        strip_target += [
            global_map(f"GOCor global, iteration {k}, target vs target", volume[y, x])
            for k, volume in enumerate(target_volumes)
        ]
        # On the target, the "true match" is the cell itself.
        strip_target = [_with_truth(item, centre) for item in strip_target]
        return Probe(
            cell=cell,
            pixel=centre,
            iteration=iteration,
            true_match=truth,
            local_correlation=local_map("Local correlation", computed.local),
            global_correlation=strip_source[0],
            gocor_global=strip_source[iteration + 1],
            gocor_local=local_map(
                f"GOCor local, iteration {iteration}", computed.local_trace.volumes[iteration]
            ),
            strip_source=strip_source,
            strip_target=strip_target,
        )


def _first(trace: GOCorTrace) -> GOCorTrace:
    """Drop the batch dimension of a trace's volumes (batch of one)."""
    return GOCorTrace(
        volumes=[volume[0] for volume in trace.volumes],
        target_scores=[volume[0] for volume in trace.target_scores],
        filters=trace.filters,
        losses=trace.losses,
        step_lengths=trace.step_lengths,
        functions=trace.functions,
    )


def _score_map(
    name: str,
    scores: Tensor,
    stride: int,
    truth: tuple[float, float] | None,
    window: tuple[float, float, float, float] | None = None,
) -> ScoreMap:
    values = scores.detach().float().cpu().numpy()
    finite = np.where(np.isfinite(values), values, -np.inf)
    row, column = np.unravel_index(int(np.argmax(finite)), values.shape)
    best = (float(cell_to_pixel(int(column), stride)), float(cell_to_pixel(int(row), stride)))
    error = None if truth is None else math.dist(best, truth)
    return ScoreMap(name, values, best, float(values[row, column]), error, window)


def _with_truth(item: ScoreMap, truth: tuple[float, float]) -> ScoreMap:
    return ScoreMap(
        item.name, item.scores, item.best, item.peak, math.dist(item.best, truth), item.window
    )


def _scaling_notes(original: ExamplePair, resized: ExamplePair) -> list[str]:
    notes = []
    for role, before, after in (
        ("target", original.target, resized.target),
        ("source", original.source, resized.source),
    ):
        if before.shape[:2] != after.shape[:2]:
            notes.append(
                f"{role} {before.shape[1]}×{before.shape[0]} px scaled to the working "
                f"resolution {after.shape[1]}×{after.shape[0]} px"
            )
    return notes


# -- inputs from the user's files ------------------------------------------------------------------
def pair_from_files(target_path: str | None, source_path: str | None) -> ExamplePair:
    """A pair from two uploaded image files (no ground truth). Raises :class:`InputError`."""
    if not target_path or not source_path:
        raise InputError("please give both a target and a source image")
    names = []
    images = []
    for path, role in ((target_path, "target"), (source_path, "source")):
        image = _read(path, role)
        names.append(f"{Path(path).name} ({image.shape[1]}×{image.shape[0]} px, {role})")
        # Kept in memory between recomputations: no larger than any working resolution needs.
        images.append(
            resize_to_fit(image, STORED_SIDE) if max(image.shape[:2]) > STORED_SIDE else image
        )
    return ExamplePair("upload", "your images: " + " and ".join(names), *images)


def synthetic_pair(image: np.ndarray, seed: int, kind: str | None = None) -> ExamplePair:
    """A synthetic warp of one image with its ground truth (``gocor_lite.data.synthetic``)."""
    try:
        return synthetic.make_pair(image, seed=int(seed), kind=kind or "homography")
    except (ValueError, ImageError) as error:
        raise InputError(f"cannot make a synthetic pair from this image: {error}") from error


def synthetic_kinds() -> list[str]:
    """The kinds of synthetic warp offered."""
    return [*synthetic.KINDS, "random"]


def read_user_image(path: str, role: str = "image") -> np.ndarray:
    """Read one uploaded file as ``uint8 (H, W, 3)``; raises :class:`InputError`."""
    return _read(path, role)


def _read(path: str, role: str) -> np.ndarray:
    try:
        return read_image(path)
    except ImageError as error:
        raise InputError(f"the {role} image cannot be used: {error}") from error


def _has_trained_parameters(settings: Settings) -> bool:
    """Whether the settings ask for the project's trained GOCor parameters and there are some
    for their features (trained with the features' default weights, so not with another file)."""
    return (
        settings.gocor_parameters == GOCOR_PARAMETERS[0]
        and settings.feature_weights is None
        and settings.features in trained_gocor_extractors()
    )
