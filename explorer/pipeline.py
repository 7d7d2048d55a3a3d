# SPDX-License-Identifier: MIT
"""The explorer's computation, without any user interface: settings in, results out.

Three stages, so that a click is cheap and a refusal comes before any waiting:

* :meth:`Pipeline.prepare` (a pair and :class:`Settings` -> :class:`WorkingPair`): builds the
  extractor (reading a weights file if one is given), scales the pair to the working resolution
  and checks that the settings can apply: enough feature cells, a GOCor checkpoint that fits the
  features, and an estimated cost (:func:`estimate_cost`) within :data:`TIME_BUDGET` seconds and
  :data:`RESULT_BUDGET` bytes. Quick; raises :class:`InputError` with what to choose instead.
* :meth:`Pipeline.compute` (-> :class:`Computed`): features, the plain global and local
  correlation volumes and the GOCor traces, once per pair and settings, cached;
* :meth:`Pipeline.probe` (a :class:`Computed`, a target pixel and an iteration ->
  :class:`Probe`): slices of those volumes for one target cell, with best matches and errors.

The network view (a GLU-Net network's trace, its flow and each level's maps) is
:mod:`explorer.network_compute`, on the working pairs and caches of this module.

A :class:`Pipeline` is shared by every session of the app. Its caches are guarded by a lock
held only while they are read or changed, so a lookup (:meth:`Pipeline.cached`) never waits for
a computation; computations run outside it (two threads asking for the same new result both
compute it, and one copy is kept). A ``progress`` callback may raise (e.g. :class:`Superseded`)
to give a computation up: nothing half-done is cached.

Everything is computed by :mod:`gocor_lite`; this module chooses what to compute and caches it.
Pictures are drawn by :mod:`explorer.render`. Messages are written in the page's words
(:data:`SETTING_LABELS`), since they are shown to the app's users.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from explorer.analysis import Analysis, analyse
from gocor_lite import GlobalGOCor, GOCorTrace, LocalGOCor
from gocor_lite.core.features import (
    NORMALIZATIONS,
    FeatureExtractor,
    default_extractor_name,
    extractor_names,
    make_extractor,
)
from gocor_lite.core.grid import cell_to_pixel, pixel_to_cell_index
from gocor_lite.core.volumes import pair_volumes
from gocor_lite.data import synthetic
from gocor_lite.data.examples import example_names, load_example
from gocor_lite.data.pairs import ExamplePair, resize_pair
from gocor_lite.evaluation.rule_scores import corrected_pixel
from gocor_lite.files.images import ImageError, read_image, resize_to_fit, to_tensor
from gocor_lite.files.weights import load_trained_gocor, trained_gocor_extractors
from gocor_lite.gocor.initializers import INITIALIZERS
from gocor_lite.gocor.interop import OfficialGOCor, load_official_checkpoint
from gocor_lite.reading.matching import scatter_window, true_match, window_sources

WORKING_SIZES = (160, 240, 320, 400, 480)  # longer side in pixels
MAX_ITERATIONS = 8
MAX_RADIUS = 8
# Uploads are kept at most this large (longer side): decoded already shrunk (a JPEG at 1/2..1/8
# scale), then resized; the file's full-size pixels are never held (see read_user_image).
STORED_SIDE = max(WORKING_SIZES)
MIN_SIDE = 32  # px: a smaller image has fewer than 4 feature cells of 8 px across; refused
MAX_ASPECT = 4.0  # longer side / shorter side of an image; beyond, the shorter side starves
MIN_CELLS = 4  # feature cells per side at the working resolution; fewer is refused
ENLARGED_NOTE = 2.0  # an image enlarged more than this to the working resolution is flagged
QUERY_LOSS_MAX_SIZE = 320  # px: its 4D convolution holds ~100 MB per intermediate at 320 px
TIME_BUDGET = 10.0  # processor s (2 threads): settings estimated to take more are refused up front
RESULT_BUDGET = 700_000_000  # bytes of volumes one result may hold (the cache holds a few)
MAX_SEED = 2**32 - 1  # synthetic warps: seeds are whole numbers 0..MAX_SEED
# GOCor's parameters when no checkpoint file is given: trained by `python -m gocor_lite.cli.train`
# (for the default variant: simple initialiser, no query loss; per extractor), or the paper's.
GOCOR_PARAMETERS: tuple[str, ...] = ("trained (this project)", "paper initial values")
LocalCentre = Literal["same position", "coarse flow"]
LOCAL_CENTRES: tuple[str, ...] = ("same position", "coarse flow")
# px: the network view's error maps run from dark (0) to bright (this or more).
FLOW_ERROR_RANGE = 10.0
# What each setting is called on the page: the app labels its controls with these, and every
# message about a setting uses the same words.
SETTING_LABELS: dict[str, str] = {
    "features": "features",
    "normalization": "feature normalisation",
    "working_size": "working resolution",
    "search_radius": "local search radius R",
    "num_iter": "GOCor iterations K",
    "initializer": "GOCor initialiser",
    "query_loss": "query loss",
    "local_centre": "local windows centred on",
    "gocor_parameters": "GOCor parameters",
}

Progress = Callable[[float, str], None]
Cached = TypeVar("Cached")


class InputError(ValueError):
    """Something the user gave (a file, a setting) that cannot be used; the message says why."""


class WeightsNeeded(InputError):
    """Features that need a weights file the user has not given (nothing is downloaded)."""


class Superseded(Exception):
    """Raised by a progress callback to give up a computation that nobody waits for anymore."""


def whole_number(value: object, what: str, low: int, high: int) -> int:
    """``value`` as an ``int`` in ``low..high`` (``4.0`` -> ``4``), or an :class:`InputError`
    that names ``what`` and the range (for ``2.5``, ``-1``, ``1e30``, NaN, text...)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value != int(value)
        or not low <= value <= high
    ):
        raise InputError(f"{what} must be a whole number from {low} to {high}, not {_shown(value)}")
    return int(value)


def _shown(value: object) -> str:
    """A value as a user typed it (``1e+30``, ``2.5``, ``'abc'``), kept short."""
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class Settings:
    """Everything that decides the volumes. Changing any field means a recomputation."""

    features: str = field(default_factory=default_extractor_name)  # an extractor name
    normalization: str = "centered-l2"  # of the features before correlating (see matching.py)
    working_size: int = 320  # longer side of both images, pixels
    search_radius: int = 4  # R of the local correlations, in feature cells
    num_iter: int = 3  # K, GOCor's steps; iterations 0..K are kept
    initializer: str = "simple"  # GOCor's filter initialiser (the local module: its simple form)
    query_loss: bool = False  # global GOCor's query loss (slow: seconds even at 240 px)
    local_centre: str = "coarse flow"  # where local windows are centred: see LOCAL_CENTRES
    weights: str | None = None  # the authors' GLU-Net-GOCor checkpoint file, or None
    feature_weights: str | None = None  # a weights file for the extractor (VGG-16, ...), or None
    gocor_parameters: str = GOCOR_PARAMETERS[0]  # see GOCOR_PARAMETERS (a checkpoint wins)

    def __post_init__(self) -> None:
        labels = SETTING_LABELS

        def one_of(name: str, choices: Any) -> tuple[bool, str]:
            return (
                getattr(self, name) in choices,
                f"the {labels[name]} must be one of {', '.join(map(str, choices))}, not "
                f"{_shown(getattr(self, name))}",
            )

        checks = [
            one_of("features", extractor_names()),
            one_of("normalization", NORMALIZATIONS),
            (
                _is_int(self.working_size) and self.working_size in WORKING_SIZES,
                f"the {labels['working_size']} must be one of "
                f"{', '.join(map(str, WORKING_SIZES))} px, not {_shown(self.working_size)}",
            ),
            (
                _is_int(self.search_radius) and 1 <= self.search_radius <= MAX_RADIUS,
                f"the {labels['search_radius']} must be a whole number from 1 to {MAX_RADIUS} "
                f"cells, not {_shown(self.search_radius)}",
            ),
            (
                _is_int(self.num_iter) and 0 <= self.num_iter <= MAX_ITERATIONS,
                f"the {labels['num_iter']} must be a whole number from 0 to {MAX_ITERATIONS}, "
                f"not {_shown(self.num_iter)}",
            ),
            one_of("initializer", INITIALIZERS),
            (isinstance(self.query_loss, bool), "the query loss is either on or off"),
            one_of("local_centre", LOCAL_CENTRES),
            one_of("gocor_parameters", GOCOR_PARAMETERS),
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
        known = {item.name for item in dataclasses.fields(self)}
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise InputError(f"unknown setting {name!r}")
            if name == "search_radius":
                value = whole_number(value, f"the {SETTING_LABELS[name]}", 1, MAX_RADIUS)
            elif name == "num_iter":
                value = whole_number(value, f"the {SETTING_LABELS[name]}", 0, MAX_ITERATIONS)
            elif name == "working_size" and _is_number(value) and value in WORKING_SIZES:
                value = int(value)  # 320.0 from a control -> 320
            values[name] = value
        return dataclasses.replace(self, **values)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class WorkingPair:
    """A pair at the working resolution of some settings: sides multiples of the stride."""

    pair: ExamplePair
    stride: int  # image pixels per feature cell
    notes: tuple[str, ...]  # what was done to the images (scaled, enlarged...), for the user

    @property
    def target_grid(self) -> tuple[int, int]:
        """``(h, w)`` feature cells of the target."""
        height, width = self.pair.target.shape[:2]
        return (height // self.stride, width // self.stride)

    @property
    def source_grid(self) -> tuple[int, int]:
        height, width = self.pair.source.shape[:2]
        return (height // self.stride, width // self.stride)

    def cell(self, pixel: tuple[float, float]) -> tuple[int, int]:
        """The ``(x, y)`` target cell under a target pixel (clamped to the grid)."""
        return pixel_to_cell_index(pixel[0], pixel[1], self.stride, self.target_grid)

    def centre(self, cell: tuple[int, int]) -> tuple[float, float]:
        """The centre of a target cell, in target pixels."""
        return (
            float(cell_to_pixel(cell[0], self.stride)),
            float(cell_to_pixel(cell[1], self.stride)),
        )

    def true_match(self, cell: tuple[int, int]) -> tuple[float, float] | None:
        """Where the ground truth sends the cell's centre (source pixels), if it is known."""
        return true_match(self.pair.flow, self.centre(cell))


@dataclass(frozen=True)
class Cost:
    """What a computation is estimated to take: seconds on 2 cores, bytes of its result."""

    seconds: float
    bytes: int


# The time model of estimate_cost: processor seconds (both threads) of Pipeline.compute with 2
# torch threads (on 2 free cores its wall time is at most that: the matching rules, most of the
# work, run on one), a sum of four terms (cost_terms) whose coefficients are fitted
# (fit_cost_coefficients: least squares of the relative error) to the table that `python -m
# tools.explorer_bench --cost --write` measured on the bundled pairs and stored in COST_TABLE
# with the date and the load (quiet cores: the processor time of the same settings measured under
# a load of 5 to 8 was about twice as long). Processor seconds, not wall: the wall time depends on
# what else runs. Refit after a change in what compute does; tests/test_explorer_costs.py checks
# the constants against the table.
COST_TABLE = Path(__file__).resolve().parent.parent / "docs" / "explorer_cost.csv"
COST_TOLERANCE = 1.5  # estimate / measured must lie within 1/1.5 .. 1.5
COST_COEFFICIENTS: tuple[float, float, float, float] = (0.107, 1.82e-08, 2.24e-07, 6.81e-07)
COST_TERMS: tuple[str, ...] = (
    "fixed",  # s: features, small tensors
    "volume entries",  # (K + 2) * N * (M + N + S): GOCor's passes over its volumes
    "analysis entries",  # N * M: the matching rules and confidences (Sinkhorn's iterations)
    "query entries",  # K * N * M with the query loss (its 4D convolution), else 0
)
ANALYSIS_VOLUMES = 4  # soft-argmax's (and softmax's) probability, dual-softmax, cyclic, Sinkhorn


def cost_terms(
    target_grid: tuple[int, int], source_grid: tuple[int, int], settings: Settings
) -> tuple[float, float, float, float]:
    """The four :data:`COST_TERMS` of a computation, for ``N`` target and ``M`` source cells,
    ``K`` iterations and windows of ``S = (2R + 1)^2`` cells."""
    cells = target_grid[0] * target_grid[1]
    sources = source_grid[0] * source_grid[1]
    window = (2 * settings.search_radius + 1) ** 2
    entries = (settings.num_iter + 2) * cells * (sources + cells + window)
    query = settings.num_iter * cells * sources if settings.query_loss else 0
    return (1.0, float(entries), float(cells * sources), float(query))


def fit_cost_coefficients(
    terms: list[tuple[float, ...]], seconds: list[float]
) -> tuple[float, float, float, float]:
    """Non-negative coefficients of the :data:`COST_TERMS` that best predict ``seconds``
    (least squares of the relative error, so that a 0.3 s row counts as much as a 9 s one);
    a term that no row exercises (no query loss measured) gets 0."""
    matrix = np.asarray(terms, dtype=np.float64) / np.asarray(seconds)[:, None]
    target = np.ones(len(seconds))
    active = [column for column in range(matrix.shape[1]) if np.any(matrix[:, column] > 0)]
    while True:  # drop the terms a plain least-squares fit makes negative, then refit
        scale = matrix[:, active].max(axis=0)
        solution, *_ = np.linalg.lstsq(matrix[:, active] / scale, target, rcond=None)
        solution = solution / scale
        if (solution >= 0).all():
            break
        active = [column for column, value in zip(active, solution, strict=True) if value >= 0]
    coefficients = [0.0] * matrix.shape[1]
    for column, value in zip(active, solution, strict=True):
        coefficients[column] = float(value)
    return (coefficients[0], coefficients[1], coefficients[2], coefficients[3])


def estimate_cost(
    target_grid: tuple[int, int], source_grid: tuple[int, int], settings: Settings
) -> Cost:
    """The time and memory of :meth:`Pipeline.compute` for grids of these sizes.

    The result holds, for ``N`` target and ``M`` source cells, ``K`` iterations and windows of
    ``S = (2R + 1)^2`` cells, ``K + 2`` volumes of each kind (the plain correlation, then GOCor
    iterations ``0..K``): ``N x M`` against the source, ``N x N`` against the target itself
    and ``N x S`` local, and the matching rules' :data:`ANALYSIS_VOLUMES` more ``N x M``
    volumes; 4 bytes an entry. The time is :data:`COST_COEFFICIENTS` times
    :func:`cost_terms`, wall seconds with 2 threads on this project's 2-core machine.
    """
    terms = cost_terms(target_grid, source_grid, settings)
    seconds = sum(c * t for c, t in zip(COST_COEFFICIENTS, terms, strict=True))
    entries, analysis = terms[1], terms[2]
    return Cost(seconds=seconds, bytes=int(4 * (entries + ANALYSIS_VOLUMES * analysis)))


@dataclass(frozen=True)
class Computed:
    """The volumes and traces of one pair at one setting (batch dimension dropped).

    Shapes (``h, w`` target grid, ``h', w'`` source grid, ``S = 2R+1``):
        correlation ``(h, w, h', w')``, self_correlation ``(h, w, h, w)`` (target vs target),
        local ``(h, w, S, S)`` as cosine scores (``reduction="sum"`` of normalised features),
        coarse_matches ``(2, h, w)`` or ``None``; traces as :class:`~gocor_lite.GOCorTrace`.
    """

    pair: ExamplePair  # at the working resolution (flow rescaled with it); see WorkingPair
    settings: Settings
    notes: tuple[str, ...]  # what was done to the inputs (scaled, ...), for the user
    stride: int
    correlation: Tensor
    self_correlation: Tensor
    local: Tensor
    coarse_matches: Tensor | None  # where local windows are centred, when centred on the flow
    global_trace: GOCorTrace
    local_trace: GOCorTrace
    analysis: Analysis  # every matching rule, whole-image scores and confidences
    seconds: float  # time the computation took
    target_features: Tensor  # (C, h, w), normalised as correlated
    source_features: Tensor  # (C, h', w'), what global correlation and global GOCor score

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
        tensors += [self.target_features, self.source_features]
        for trace in (self.global_trace, self.local_trace):
            tensors += [*trace.volumes, *trace.target_scores, *trace.filters]
        volumes = sum(tensor.numel() * tensor.element_size() for tensor in tensors)
        return volumes + self.analysis.nbytes


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
class Arithmetic:
    """The arithmetic of one score (:mod:`gocor_lite.pictures.arithmetic`): the probed target
    cell's feature ``f_i`` and global GOCor's filter ``w_i`` at ``iteration`` (``(C,)`` each),
    and the features ``f'_j`` of the source cells that matter (``(C,)``, by title: the
    correlation's best match, GOCor's, the true match where known; one title for a cell
    that is several of them), and those cells, ``(x, y)`` by the same titles."""

    cell: tuple[int, int]
    iteration: int
    feature: np.ndarray
    gocor_filter: np.ndarray
    sources: dict[str, np.ndarray]
    source_cells: dict[str, tuple[int, int]]


def arithmetic(computed: Computed, pixel: tuple[float, float], iteration: int) -> Arithmetic:
    """:class:`Arithmetic` of the target cell under ``pixel`` (working-resolution pixels)."""
    stride = computed.stride
    x, y = pixel_to_cell_index(pixel[0], pixel[1], stride, computed.target_grid)
    iteration = min(max(int(iteration), 0), computed.num_iter)
    gocor_volume = computed.global_trace.volumes[iteration][y, x]  # batch dropped (_first)
    _, source_width = computed.source_grid
    cells: dict[tuple[int, int], list[str]] = {}
    for name, scores in (
        ("correlation's best match", computed.correlation[y, x]),
        (f"GOCor's best match (iteration {iteration})", gocor_volume),
    ):
        row, column = divmod(int(scores.argmax()), source_width)
        cells.setdefault((column, row), []).append(name)
    centre = (float(cell_to_pixel(x, stride)), float(cell_to_pixel(y, stride)))
    truth = true_match(computed.pair.flow, centre)
    if truth is not None:
        cells.setdefault(
            pixel_to_cell_index(truth[0], truth[1], stride, computed.source_grid), []
        ).append("the true match")
    titles = {cell: f"source cell {cell}, " + " = ".join(names) for cell, names in cells.items()}
    sources = {
        titles[(column, row)]: computed.source_features[:, row, column].double().numpy()
        for column, row in cells
    }
    return Arithmetic(
        cell=(x, y),
        iteration=iteration,
        feature=computed.target_features[:, y, x].double().numpy(),
        gocor_filter=computed.global_trace.filters[iteration][0, :, y, x].double().numpy(),
        sources=sources,
        source_cells={title: cell for cell, title in titles.items()},
    )


# The server's memory caps (every session together; least recently used first out): computed
# results, at most MAX_RESULT_BYTES of volumes (the network view's results a quarter more), and
# MAX_PAIRS uploaded or synthetic pairs, each kept at most STORED_SIDE px (under 4 MB with its
# flow). A result that was dropped is computed again when its session comes back; a pair that
# was dropped cannot be, and the session is told to upload it again.
MAX_RESULT_BYTES = 1_500_000_000
MAX_PAIRS = 64


class Pipeline:
    """Caches extractors, checkpoints, pairs and results, shared by every session (thread-safe:
    see the module's docstring), within :data:`MAX_RESULT_BYTES` and :data:`MAX_PAIRS`."""

    def __init__(
        self,
        max_results: int = 24,
        max_bytes: int = MAX_RESULT_BYTES,
        max_pairs: int = MAX_PAIRS,
        threads: int = 2,
    ):
        self.max_results = max_results  # results kept (the newest is always kept)
        self.max_bytes = max_bytes  # and at most this much memory in their volumes
        self.max_pairs = max_pairs
        self.threads = threads
        self._lock = threading.RLock()  # guards the dicts below; held only to read or change them
        self._build_lock = threading.Lock()  # one extractor or checkpoint read at a time (slow)
        self._extractors: OrderedDict[tuple[str, str | None], FeatureExtractor] = OrderedDict()
        self._checkpoints: dict[tuple[str, float, int, int], OfficialGOCor] = {}
        self._pairs: OrderedDict[str, ExamplePair] = OrderedDict()
        self._working: OrderedDict[tuple[str, int, str, str | None], WorkingPair] = OrderedDict()
        self._results: OrderedDict[tuple[str, Settings], Computed] = OrderedDict()
        self._computing: dict[Any, threading.Event] = {}  # keys being computed, by one thread

    # -- pairs ------------------------------------------------------------------------------------
    def example_pair(self, name: str) -> str:
        """Register a bundled pair; returns its pair id."""
        if name not in example_names():
            raise InputError(
                f"unknown example pair {_shown(name)}; choose one of {', '.join(example_names())}"
            )
        return f"example:{name}"

    def add_pair(self, pair: ExamplePair) -> str:
        """Keep a pair made from the user's images; returns its pair id.

        The id is ``kind:content:label``: results are cached by content (the same images
        uploaded again, under any name, are not recomputed), while each id keeps its own name
        and description (so the status names the files of this upload)."""
        digest = hashlib.sha1()
        for array in (pair.target, pair.source, pair.flow):
            if array is None:
                continue
            digest.update(repr(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        label = hashlib.sha1(f"{pair.name}\n{pair.description}".encode()).hexdigest()[:8]
        pair_id = f"{pair.name}:{digest.hexdigest()[:16]}:{label}"
        with self._lock:
            self._pairs[pair_id] = pair
            self._pairs.move_to_end(pair_id)
            _trim(self._pairs, self.max_pairs)
        return pair_id

    def pair(self, pair_id: str) -> ExamplePair:
        """The pair as given (original size, its own name and description)."""
        with self._lock:
            if pair_id in self._pairs:
                self._pairs.move_to_end(pair_id)
                return self._pairs[pair_id]
        if not pair_id.startswith("example:"):
            raise InputError(
                "these images are no longer in memory (the explorer keeps the "
                f"{self.max_pairs} most recently used uploaded or synthetic pairs of all its "
                "users): upload them again, or choose a bundled pair"
            )
        pair = load_example(pair_id.removeprefix("example:"))
        with self._lock:
            self._pairs[pair_id] = pair
            _trim(self._pairs, self.max_pairs)
        return pair

    @staticmethod
    def content(pair_id: str) -> str:
        """What results are cached by: the pair's images (not its name)."""
        return pair_id if pair_id.startswith("example:") else pair_id.rsplit(":", 1)[0]

    # -- the quick checks -------------------------------------------------------------------------
    def working_pair(self, pair_id: str, settings: Settings) -> WorkingPair:
        """The pair at the settings' working resolution, sides multiples of the extractor's
        stride (cached). Raises :class:`InputError` when the extractor cannot be built or the
        images would have fewer than :data:`MIN_CELLS` cells per side."""
        key = (
            self.content(pair_id),
            settings.working_size,
            settings.features,
            settings.feature_weights,
        )
        found = self._lookup(self._working, key)
        if found is not None:
            return found
        original = self.pair(pair_id)
        extractor = self._extractor(settings.features, settings.feature_weights)
        pair = resize_pair(original, settings.working_size, extractor.stride)
        for role, image in (("target", pair.target), ("source", pair.source)):
            width, height = image.shape[1] // extractor.stride, image.shape[0] // extractor.stride
            if min(width, height) < MIN_CELLS:
                raise InputError(
                    f"at the working resolution {settings.working_size} px the {role} image has "
                    f"only {width}×{height} feature cells of {extractor.stride} px; the maps need "
                    f"at least {MIN_CELLS} per side: choose a larger working resolution"
                )
        working = WorkingPair(pair, extractor.stride, tuple(_scaling_notes(original, pair)))
        self._store(self._working, key, working, 64)
        return working

    def prepare(self, pair_id: str, settings: Settings) -> WorkingPair:
        """Everything :meth:`compute` needs that can be refused, checked quickly: the working
        pair, a checkpoint that fits the features, and the estimated cost. Raises
        :class:`InputError` saying what to choose instead."""
        working = self.working_pair(pair_id, settings)
        cost = estimate_cost(working.target_grid, working.source_grid, settings)
        if cost.seconds > TIME_BUDGET or cost.bytes > RESULT_BUDGET:
            raise InputError(_too_heavy(working, settings, cost))
        if settings.weights is not None:
            loaded = self.load_weights(settings.weights, settings.num_iter, settings.search_radius)
            channels = self._extractor(settings.features, settings.feature_weights).channels
            expected = loaded.global_gocor.config.num_channels
            if expected is not None and channels and expected != channels:
                raise InputError(
                    f"the checkpoint's GOCor was trained for features with {expected} channels; "
                    f"the {settings.features} features have {channels}: choose the "
                    "official-glunet-gocor features (with the same file) or drop the checkpoint "
                    "(“No weights files”)"
                )
        return working

    # -- the heavy stage --------------------------------------------------------------------------
    def cached(self, pair_id: str, settings: Settings) -> Computed | None:
        """The result for a pair at a setting if it is in memory (never computes)."""
        return self._lookup(self._results, (self.content(pair_id), settings))

    def compute(
        self,
        pair_id: str,
        settings: Settings,
        progress: Progress | None = None,
        threads: int | None = None,
    ) -> Computed:
        """Volumes and traces for a pair at a setting (cached: the second call is free), with
        ``threads`` torch threads (default: the pipeline's)."""
        key = (self.content(pair_id), settings)
        return self._once(
            self._results, key, lambda: self._compute(pair_id, settings, progress, threads)
        )

    def _compute(
        self,
        pair_id: str,
        settings: Settings,
        progress: Progress | None,
        threads: int | None = None,
    ) -> Computed:
        report = progress or _silent
        start = time.perf_counter()
        report(0.05, "checking the settings")
        working = self.prepare(pair_id, settings)
        pair = working.pair
        extractor = self._extractor(settings.features, settings.feature_weights)
        global_module, local_module = self._gocor_modules(settings, extractor)
        notes = working.notes
        wants_trained = settings.gocor_parameters == GOCOR_PARAMETERS[0]
        if settings.weights is None and wants_trained and self._trained_gocor(settings) is None:
            notes += (
                "no trained GOCor parameters for these features and this GOCor variant "
                "(`python -m gocor_lite.cli.train` trains the simple initialiser without the "
                "query loss): the paper's initial values are used",
            )
        torch.set_num_threads(threads or self.threads)
        stages = {
            "features": f"extracting {settings.features} features",
            "global GOCor": "global GOCor"
            + (" with the query loss (slow)" if settings.query_loss else ""),
        }

        def volumes_progress(fraction: float, what: str) -> None:
            report(0.15 + 0.75 * fraction, stages.get(what, what))

        try:
            volumes = pair_volumes(
                extractor,
                to_tensor(pair.target),
                to_tensor(pair.source),
                global_module,
                local_module,
                normalization=settings.normalization,
                num_iter=settings.num_iter,
                local_centre=settings.local_centre,
                progress=volumes_progress,
            )
        except ValueError as error:  # e.g. a checkpoint made for other features
            raise InputError(f"GOCor cannot run on these features: {error}") from error
        target, source = volumes.target, volumes.source
        correlation, self_correlation, local = (
            volumes.correlation,
            volumes.self_correlation,
            volumes.local,
        )
        coarse_matches = volumes.coarse_matches
        global_trace, local_trace = volumes.global_trace, volumes.local_trace
        report(0.9, "matching rules and confidence over the whole image")
        first_global, first_local = _first(global_trace), _first(local_trace)
        # Many small steps (Sinkhorn's iterations): on one thread, 4 to 7x faster than on two
        # (measured on a busy machine: a second thread mostly waits to be woken).
        torch.set_num_threads(1)
        analysis = analyse(
            correlation[0],
            first_global.volumes,
            local[0],
            first_local.volumes,
            None if coarse_matches is None else coarse_matches[0],
            settings.search_radius,
            extractor.stride,
            pair.flow,
        )
        torch.set_num_threads(threads or self.threads)
        report(0.97, "keeping the result")
        result = Computed(
            pair=pair,
            settings=settings,
            notes=notes,
            stride=extractor.stride,
            correlation=correlation[0],
            self_correlation=self_correlation[0],
            local=local[0],
            coarse_matches=None if coarse_matches is None else coarse_matches[0],
            global_trace=first_global,
            local_trace=first_local,
            analysis=analysis,
            seconds=time.perf_counter() - start,
            target_features=target[0],
            source_features=source[0],
        )
        report(1.0, "done")
        return result

    # -- what is built once -----------------------------------------------------------------------
    def _once(self, cache: OrderedDict[Any, Any], key: Any, make: Callable[[], Any]) -> Any:
        """The cached result for ``key``, or ``make()`` run by one thread: another thread that
        asks for the same key meanwhile waits for it (and computes it itself if ``make``
        failed or was given up). The cache keeps to ``max_results`` and ``max_bytes`` (a
        quarter of it for any other cache: the network view's), always keeping the newest."""
        while True:
            found = self._lookup(cache, key)
            if found is not None:
                return found
            with self._lock:
                running = self._computing.get(key)
                if running is None:
                    mine = self._computing[key] = threading.Event()
                    break
            running.wait()
        try:
            value = make()
            budget = self.max_bytes if cache is self._results else self.max_bytes // 4
            with self._lock:
                cache[key] = value
                while len(cache) > 1 and (
                    len(cache) > self.max_results
                    or sum(item.nbytes for item in cache.values()) > budget
                ):
                    cache.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._computing[key]
            mine.set()

    def _lookup(self, cache: OrderedDict[Any, Cached], key: Any) -> Cached | None:
        with self._lock:
            if key not in cache:
                return None
            cache.move_to_end(key)
            return cache[key]

    def _store(self, cache: OrderedDict[Any, Cached], key: Any, value: Cached, size: int) -> None:
        with self._lock:
            cache[key] = value
            cache.move_to_end(key)
            _trim(cache, size)

    def _extractor(self, name: str, weights: str | None = None) -> FeatureExtractor:
        """The extractor called ``name``, built once (with its weights file, if given)."""
        key = (name, weights)
        found = self._lookup(self._extractors, key)
        if found is not None:
            return found
        with self._build_lock:
            found = self._lookup(self._extractors, key)  # built while this thread waited
            if found is not None:
                return found
            options = {} if weights is None else {"weights": weights}
            try:
                extractor = make_extractor(name, **options).eval()
            except TypeError as error:  # an extractor that takes no weights file
                raise InputError(
                    f"the {name} features take no weights file: choose features that do "
                    "(vgg16, official-glunet-gocor, learned) or press “No weights files”"
                ) from error
            except ValueError as error:
                if weights is None:  # the extractor needs a file (nothing is downloaded)
                    raise WeightsNeeded(
                        f"the {name} features need a weights file you have: put it in “weights "
                        f"file” (under Settings) and choose {name} again, or choose the learned "
                        "or daisy features; nothing is downloaded"
                    ) from error
                raise InputError(_about_file(f"the {name} features", weights, error)) from error
            except OSError as error:  # a missing or unreadable file
                raise InputError(_about_file(f"the {name} features", weights, error)) from error
            self._store(self._extractors, key, extractor, 4)  # networks can be large
        return extractor

    def telling_pixel(self, pair_id: str, settings: Settings) -> tuple[float, float] | None:
        """A target pixel of the working pair where global GOCor (these settings' module) is
        right and global correlation wrong, nearest the centre
        (:func:`gocor_lite.evaluation.rule_scores.corrected_pixel`); ``None`` if there is none."""
        working = self.working_pair(pair_id, settings)
        extractor = self._extractor(settings.features, settings.feature_weights)
        global_module, _ = self._gocor_modules(settings, extractor)
        return corrected_pixel(working.pair, extractor, global_module)

    def _gocor_modules(
        self, settings: Settings, extractor: FeatureExtractor
    ) -> tuple[GlobalGOCor, LocalGOCor]:
        if settings.weights is not None:
            loaded = self.load_weights(settings.weights, settings.num_iter, settings.search_radius)
            return loaded.global_gocor, loaded.local_gocor
        trained = self._trained_gocor(settings)
        if trained is not None:
            return trained
        local_initializer = (
            "flexible-simple" if settings.initializer == "flexible-simple" else "simple"
        )
        channels = extractor.channels or None
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
            with self._lock:
                if key in self._checkpoints:
                    return self._checkpoints[key]
            with self._build_lock:
                loaded = load_official_checkpoint(file, num_iter, search_radius)
            with self._lock:
                self._checkpoints.clear()  # one checkpoint at a time: they are large
                self._checkpoints[key] = loaded
            return loaded
        except (OSError, ValueError) as error:
            raise InputError(_about_file("GOCor", path, error)) from error

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


def _silent(fraction: float, message: str) -> None:
    """A progress callback that reports nowhere."""


def _trim(cache: OrderedDict[Any, Any], size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)


def _too_heavy(working: WorkingPair, settings: Settings, cost: Cost) -> str:
    """Why settings are refused as too slow or too large, and what would fit."""
    height, width = working.target_grid
    what = (
        f"about {cost.seconds:.0f} s of computing on the 2 cores"
        if cost.seconds > TIME_BUDGET
        else f"about {cost.bytes / 1e6:.0f} MB of volumes"
    )
    limit = f"{TIME_BUDGET:g} s" if cost.seconds > TIME_BUDGET else f"{RESULT_BUDGET / 1e6:.0f} MB"
    choices = []
    for size in sorted(
        (size for size in WORKING_SIZES if size < settings.working_size), reverse=True
    ):
        scale = size / settings.working_size
        grid = (max(1, round(height * scale)), max(1, round(width * scale)))
        source = tuple(max(1, round(side * scale)) for side in working.source_grid)
        smaller = estimate_cost(grid, (source[0], source[1]), settings)
        if smaller.seconds <= TIME_BUDGET and smaller.bytes <= RESULT_BUDGET:
            choices.append(f"a working resolution of {size} px")
            break
    for iterations in range(settings.num_iter - 1, 0, -1):
        fewer = estimate_cost(
            working.target_grid,
            working.source_grid,
            dataclasses.replace(settings, num_iter=iterations),
        )
        if fewer.seconds <= TIME_BUDGET and fewer.bytes <= RESULT_BUDGET:
            choices.append(f"at most {iterations} GOCor iteration{'s' if iterations > 1 else ''}")
            break
    if settings.query_loss:
        choices.append("no query loss")
    hint = " or ".join(choices) if choices else "a smaller working resolution"
    query = ", with the query loss" if settings.query_loss else ""
    return (
        f"these settings would take {what} for this pair ({width}×{height} target cells, "
        f"{settings.num_iter} GOCor iterations{query}), more than the {limit} the explorer "
        f"allows (it serves everyone on these cores): choose {hint}"
    )


def _about_file(user: str, path: str | None, error: BaseException) -> str:
    """Why ``user`` (e.g. "the vgg16 features") cannot use a file, naming the file only: never
    the server's path to it (uploads sit in a temporary folder the user has never seen)."""
    name = Path(path).name if path else "the file"
    return f"{user} cannot use {name}: {without_path(str(error), path)}"


def without_path(text: str, path: str | Path | None) -> str:
    """``text`` with every spelling of ``path`` replaced by the file's name."""
    if not path:
        return text
    name = Path(path).name
    for form in sorted({str(path), str(Path(path)), str(Path(path).resolve())}, key=len)[::-1]:
        text = text.replace(form, name)
    return text


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
        if before.shape[:2] == after.shape[:2]:
            continue
        enlargement = max(after.shape[0] / before.shape[0], after.shape[1] / before.shape[1])
        if enlargement > ENLARGED_NOTE:
            notes.append(
                f"{role} {before.shape[1]}×{before.shape[0]} px enlarged {enlargement:.1f}× to the "
                f"working resolution {after.shape[1]}×{after.shape[0]} px: its features see "
                "interpolated pixels, expect blurred maps"
            )
        else:
            # Not "from" the size kept in memory: for an upload or a synthetic warp of one, that
            # is a copy the user never made (their file's size is in the pair's description).
            notes.append(
                f"{role} scaled to the working resolution {after.shape[1]}×{after.shape[0]} px"
            )
    return notes


# -- inputs from the user's files ------------------------------------------------------------------
def pair_from_files(target_path: str | None, source_path: str | None) -> ExamplePair:
    """A pair from two uploaded image files (no ground truth). Raises :class:`InputError`."""
    if not target_path or not source_path:
        raise InputError("please give both a target and a source image")
    names = []
    images = []
    for path, role in ((target_path, "target image"), (source_path, "source image")):
        image, (width, height) = _read_upload(path, role)  # at most STORED_SIDE px
        names.append(f"{Path(path).name} ({width}×{height} px, {role.split()[0]})")
        images.append(image)
    return ExamplePair("upload", "your images: " + " and ".join(names), *images)


def synthetic_pair(image: np.ndarray, seed: object, kind: str | None = None) -> ExamplePair:
    """A synthetic warp of one image with its ground truth (``gocor_lite.data.synthetic``);
    ``seed`` must be a whole number ``0..MAX_SEED``."""
    seed = whole_number(seed, "the random seed", 0, MAX_SEED)
    if kind not in (None, "", *synthetic_kinds()):
        raise InputError(f"the kind of warp must be one of {', '.join(synthetic_kinds())}")
    check_image(image, "image to warp")
    if max(image.shape[:2]) > STORED_SIDE:  # warped at most as large as any working resolution
        image = resize_to_fit(image, STORED_SIDE)
    try:
        return synthetic.make_pair(image, seed=seed, kind=kind or "homography")
    except (ValueError, ImageError) as error:
        raise InputError(f"cannot make a synthetic pair from this image: {error}") from error


def synthetic_kinds() -> list[str]:
    """The kinds of synthetic warp offered."""
    return [*synthetic.KINDS, "random"]


def read_user_image(path: str, role: str = "image to warp") -> np.ndarray:
    """Read one uploaded file as ``uint8 (H, W, 3)``, at most :data:`STORED_SIDE` px on its
    longer side (shrunk while decoded: a 49-megapixel photo never exists in memory at full
    size as floats), and check that the method can use it (:func:`check_size`, on the file's
    own size); raises :class:`InputError` naming the ``role`` and the file."""
    return _read_upload(path, role)[0]


def _read_upload(path: str, role: str) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`read_user_image`, and the file's own ``(width, height)``."""
    try:
        image = read_image(path, max_side=STORED_SIDE)
    except ImageError as error:
        raise InputError(f"the {role} cannot be used: {without_path(str(error), path)}") from error
    width, height = _file_size(path, image)
    check_size(width, height, role, Path(path).name)
    if max(image.shape[:2]) > STORED_SIDE:
        image = resize_to_fit(image, STORED_SIDE)
    return image, (width, height)


def _file_size(path: str, image: np.ndarray) -> tuple[int, int]:
    """The file's own ``(width, height)`` as shown (after its EXIF orientation); that of
    ``image`` if the header cannot be read again."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            width, height = opened.size
            if opened.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # turned a quarter
                width, height = height, width
    except (OSError, ValueError):
        return image.shape[1], image.shape[0]
    return width, height


def check_image(image: np.ndarray, role: str, name: str | None = None) -> None:
    """:func:`check_size` of an image array."""
    check_size(image.shape[1], image.shape[0], role, name)


def check_size(width: int, height: int, role: str, name: str | None = None) -> None:
    """Refuse an image the maps cannot be made of: a side below :data:`MIN_SIDE` px (fewer than
    a few feature cells), or longer than :data:`MAX_ASPECT` times its other side."""
    which = f"the {role}" + (f" ({name})" if name else "")
    if min(height, width) < MIN_SIDE:
        raise InputError(
            f"{which} is {width}×{height} px: the explorer needs at least {MIN_SIDE} px on each "
            f"side (a few feature cells of 8 px); choose a larger image"
        )
    if max(height, width) > MAX_ASPECT * min(height, width):
        raise InputError(
            f"{which} is {width}×{height} px, its sides in a ratio of {_ratio(width, height)}:1: "
            f"the explorer handles up to {MAX_ASPECT:g}:1 (the shorter side would have too few "
            "feature cells); crop it first"
        )


def _ratio(width: int, height: int) -> str:
    """``max / min`` of the sides, with as many decimals as it takes to show it above
    :data:`MAX_ASPECT` (4001×1000 is ``4.001``, never a rounded ``4.00``)."""
    ratio = max(width, height) / min(width, height)
    for decimals in range(2, 8):
        text = f"{ratio:.{decimals}f}"
        if float(text) != MAX_ASPECT:
            return text
    return f"{ratio:.8f}"


def _has_trained_parameters(settings: Settings) -> bool:
    """Whether the settings ask for the project's trained GOCor parameters and there are some
    for their features (trained with the features' default weights, so not with another file)."""
    return (
        settings.gocor_parameters == GOCOR_PARAMETERS[0]
        and settings.feature_weights is None
        and settings.features in trained_gocor_extractors()
    )
