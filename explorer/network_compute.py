# SPDX-License-Identifier: MIT
"""The explorer's network view, without any user interface: a GLU-Net network the user chose
(this project's small GLU-Net-GOCor or GLU-Net, or the authors' from a weights file they give),
run on the working pair with :meth:`gocor_lite.glunet.GLUNet.trace`, and what a click slices
out of the trace (:func:`probe`).

:class:`NetworkViews` loads the networks (once each; a file is read with ``weights_only``) and
keeps the results, shared by every session like :class:`~explorer.pipeline.Pipeline`, whose
caching rules it follows (one thread computes a result, the others wait for it; a ``progress``
callback may raise to give a computation up). Every refusal is an
:class:`~explorer.pipeline.InputError` in the page's words, naming files, never the server's
paths to them.

The time a trace takes is estimated up front (:func:`estimate_seconds`, from measurements:
``python -m tools.explorer_bench --cost``) and refused beyond
:data:`~explorer.pipeline.TIME_BUDGET`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from explorer.pipeline import (
    FLOW_ERROR_RANGE,
    TIME_BUDGET,
    WORKING_SIZES,
    InputError,
    Pipeline,
    Progress,
    Settings,
    WorkingPair,
    without_path,
)
from gocor_lite.data.pairs import ExamplePair
from gocor_lite.files.weights import SMALL_GLUNET, load_small_glunet
from gocor_lite.glunet import GLUNet, GLUNetTrace, load_official_glunet
from gocor_lite.glunet.geometry import working_size
from gocor_lite.pictures.flow_colours import LevelPictures, glunet_level_pictures
from gocor_lite.pictures.levels import LevelScores, level_scores

# The network choices on the page, and what each is called in code.
NETWORKS: dict[str, str] = {
    "this project's GLU-Net-GOCor": "gocor",
    "this project's GLU-Net (feature correlation)": "correlation",
    "the authors' GLU-Net / GLU-Net-GOCor (a weights file you give)": "authors",
}
AUTHORS = "authors"
# Another file of this project's small GLU-Net (tests, or a network trained elsewhere).
SMALL_GLUNET_VARIABLE = "GOCOR_SMALL_GLUNET"

# The time of one trace on 2 cores: a fixed part and one per pixel of the network's working
# size (at least 256 x 256: smaller images are enlarged to it), per configuration, in CPU
# seconds of both cores, from `python -m tools.explorer_bench --network-cost` (2 threads, a square
# image at each working resolution, load average 1.6 to 4.6): lines above every measurement.
# Estimates are MARGIN times this, as pipeline.estimate_cost's: what TIME_BUDGET allows takes
# about a third of it on idle cores.
NETWORK_SECONDS: dict[str, tuple[float, float]] = {
    # The shipped network on XFeat: measured by hand with its weights (2 threads, load ~4),
    # CPU 0.46 s at 256x256 and 0.95 s at 480x480 with GOCor, 0.21 s and 0.46 s without.
    "xfeat-gocor": (0.3, 3.0e-6),
    "xfeat-correlation": (0.15, 1.5e-6),
    "small-gocor": (0.3, 5.5e-6),  # measured 0.3 to 0.6 s at 256x256, 1.5 s at 480x480
    "small-correlation": (1.0, 2.0e-6),  # 0.3 to 1.1 s, 1.3 s
    "GLUNet": (2.0, 1.4e-5),  # 2.6 to 2.9 s, 5.2 s
    "GLUNet_GOCor": (2.4, 3.2e-5),  # 4.3 to 4.7 s, 9.8 s
}
MARGIN = 1.5  # estimates are this many times the measured CPU seconds


def estimate_seconds(config_name: str, target_size: tuple[int, int]) -> float:
    """Seconds of :meth:`NetworkViews.compute` for a target of ``target_size = (H, W)`` at the
    working resolution (CPU seconds of both cores, with :data:`MARGIN`); an unknown
    configuration is costed as the largest known one."""
    base, per_pixel = NETWORK_SECONDS.get(config_name, max(NETWORK_SECONDS.values()))
    height, width = working_size(target_size)
    return MARGIN * (base + per_pixel * height * width)


@dataclass(frozen=True)
class NetworkChoice:
    """Which network the view runs: a value of :data:`NETWORKS` and, for the authors' network,
    the weights file the user gave."""

    kind: str = "gocor"
    weights: str | None = None  # the authors' checkpoint (kind "authors" only)

    def __post_init__(self) -> None:
        if self.kind not in NETWORKS.values():
            raise InputError(f"the network must be one of {', '.join(NETWORKS)}")
        if (self.kind == AUTHORS) != (self.weights is not None):
            raise InputError("a weights file goes with the authors' network, and only with it")

    @property
    def label(self) -> str:
        """The choice's label on the page."""
        return next(label for label, kind in NETWORKS.items() if kind == self.kind)


@dataclass(frozen=True)
class NetworkComputed:
    """A network's trace of one pair at the working resolution, and its flow pictures."""

    pair: ExamplePair  # at the working resolution (the trace's original images)
    choice: NetworkChoice
    name: str  # what ran, in words (for the status)
    config_name: str  # the network's configuration, e.g. "small-gocor", "GLUNet_GOCor"
    notes: tuple[str, ...]  # what was done to the inputs, for the user
    trace: GLUNetTrace  # batch of one
    pictures: list[LevelPictures]  # one per level, coarse to fine; errors where truth is known
    seconds: float  # time the computation took
    estimate: float  # what it was estimated to take

    @property
    def mean_error(self) -> float | None:
        """The final flow's average endpoint error over pixels with a known true flow (px)."""
        return self.pictures[-1].mean_error

    @property
    def level_titles(self) -> list[str]:
        """A short title per level: ``"level 4: global GOCor, 16×16"``."""
        titles = []
        for view in self.trace.levels:
            height, width = view.target_frame.grid
            method = "GOCor" if view.gocor is not None else "correlation"
            name = view.key.replace("level", "level ").replace("extra", "extra ")
            titles.append(f"{name}: {view.kind} {method}, {width}×{height}")
        return titles

    @property
    def nbytes(self) -> int:
        """Memory held by the trace's tensors (each counted once)."""
        seen: dict[int, int] = {}

        def add(value: Any) -> None:
            if isinstance(value, Tensor):
                seen[id(value)] = value.numel() * value.element_size()
            elif isinstance(value, list | tuple):
                for item in value:
                    add(item)

        add(list(self.trace.named().values()))
        for view in self.trace.levels:
            add([view.volume, view.decoder_volume, view.cell_flow, view.flow, view.warped_from])
            if view.gocor is not None:
                add([view.gocor.volumes, view.gocor.target_scores, view.gocor.filters])
        return sum(seen.values())


def probe(computed: NetworkComputed, pixel: tuple[float, float]) -> list[LevelScores]:
    """Every level's scores for the target pixel ``pixel`` (working-resolution pixels, the
    trace's own), with true matches where the pair has a ground truth."""
    return level_scores(computed.trace.levels, pixel, computed.pair.flow)


class NetworkViews:
    """The networks and their traces, shared by every session (thread-safe)."""

    def __init__(self, pipeline: Pipeline, small_glunet: str | Path | None = None):
        self.pipeline = pipeline
        # This project's small GLU-Net: the shipped file, or the one the environment names.
        self.small_glunet = Path(
            small_glunet or os.environ.get(SMALL_GLUNET_VARIABLE) or SMALL_GLUNET
        )
        self._lock = threading.Lock()  # guards _networks
        self._load_lock = threading.Lock()  # one file read at a time
        self._networks: dict[tuple[Any, ...], GLUNet] = {}
        self._results: OrderedDict[Hashable, NetworkComputed] = OrderedDict()

    # -- what is shown ----------------------------------------------------------------------------
    def key(self, pair_id: str, settings: Settings, choice: NetworkChoice) -> Hashable:
        """What a result is cached by: the working pair's images, the network and its file."""
        working = self.pipeline.working_pair(pair_id, settings)
        return (
            self.pipeline.content(pair_id),
            settings.working_size,
            working.stride,
            choice,
            _stamp(self._file(choice)),
        )

    def cached(
        self, pair_id: str, settings: Settings, choice: NetworkChoice
    ) -> NetworkComputed | None:
        """The result if it is in memory (never computes)."""
        return self.pipeline._lookup(self._results, self.key(pair_id, settings, choice))

    # -- the quick checks -------------------------------------------------------------------------
    def network(self, choice: NetworkChoice) -> GLUNet:
        """The chosen network, loaded once (the authors': the last file given is kept)."""
        path = self._file(choice)
        key = (choice.kind, str(path), _stamp(path))
        with self._lock:
            if key in self._networks:
                return self._networks[key]
        with self._load_lock:
            with self._lock:
                if key in self._networks:
                    return self._networks[key]
            network = self._load(choice, path)
            with self._lock:
                if choice.kind == AUTHORS:  # one at a time: they are large
                    for known in [known for known in self._networks if known[0] == AUTHORS]:
                        del self._networks[known]
                self._networks[key] = network
        return network

    def describe(self, choice: NetworkChoice) -> str:
        """The chosen network in words ("the authors' GLU-Net-GOCor (GLUNet_GOCor_static.pth)")."""
        return self._name(choice, self.network(choice))

    def prepare(
        self, pair_id: str, settings: Settings, choice: NetworkChoice
    ) -> tuple[WorkingPair, GLUNet, float]:
        """The working pair, the network and the estimated seconds, or an
        :class:`~explorer.pipeline.InputError` (the network cannot be loaded, or would take
        longer than :data:`~explorer.pipeline.TIME_BUDGET`)."""
        working = self.pipeline.working_pair(pair_id, settings)
        network = self.network(choice)
        size = working.pair.target.shape[:2]
        seconds = estimate_seconds(network.config.name, size)
        if seconds > TIME_BUDGET:
            name = self._name(choice, network)
            raise InputError(_too_slow(name, network.config.name, settings, size, seconds))
        return working, network, seconds

    # -- the heavy stage --------------------------------------------------------------------------
    def compute(
        self,
        pair_id: str,
        settings: Settings,
        choice: NetworkChoice,
        progress: Progress | None = None,
        threads: int | None = None,
    ) -> NetworkComputed:
        """The chosen network's trace of the pair at the working resolution (cached), with
        ``threads`` torch threads (default: the pipeline's)."""
        key = self.key(pair_id, settings, choice)
        return self.pipeline._once(
            self._results,
            key,
            lambda: self._compute(pair_id, settings, choice, progress, threads),
        )

    def _compute(
        self,
        pair_id: str,
        settings: Settings,
        choice: NetworkChoice,
        progress: Progress | None,
        threads: int | None,
    ) -> NetworkComputed:
        report = progress or (lambda fraction, message: None)
        start = time.perf_counter()
        report(0.05, "loading the network")
        working, network, estimate = self.prepare(pair_id, settings, choice)
        pair = working.pair
        name = self._name(choice, network)
        torch.set_num_threads(threads or self.pipeline.threads)
        report(0.15, f"running {name}: every level, with GOCor's iterations")
        try:
            trace = network.trace(pair.target, pair.source)
        except ValueError as error:  # e.g. an image too elongated for GLU-Net
            raise InputError(f"{name} cannot run on this pair: {error}") from error
        report(0.85, "drawing the flow of every level")
        pictures = glunet_level_pictures(trace, pair.source, pair.flow, max_error=FLOW_ERROR_RANGE)
        notes = list(working.notes)
        if min(pair.target.shape[:2]) < 256:
            notes.append(
                "GLU-Net reads images at least 256 px on each side: the network enlarged this "
                "pair (its flow is given at the working resolution, as everything here)"
            )
        result = NetworkComputed(
            pair=pair,
            choice=choice,
            name=name,
            config_name=network.config.name,
            notes=tuple(notes),
            trace=trace,
            pictures=pictures,
            seconds=time.perf_counter() - start,
            estimate=estimate,
        )
        report(1.0, "done")
        return result

    # -- loading ----------------------------------------------------------------------------------
    def _file(self, choice: NetworkChoice) -> Path:
        return Path(choice.weights) if choice.weights is not None else self.small_glunet

    def _load(self, choice: NetworkChoice, path: Path) -> GLUNet:
        if choice.kind == AUTHORS:
            try:
                return load_official_glunet(path)
            except FileNotFoundError as error:
                raise InputError(
                    f"the weights file {path.name} is no longer on the server (uploads are kept "
                    "for two hours): give it again"
                ) from error
            except (OSError, ValueError) as error:  # CheckpointError is a ValueError
                raise InputError(
                    f"the authors' GLU-Net cannot use {path.name}: {without_path(str(error), path)}"
                    "; give GLUNet_static.pth, GLUNet_dynamic.pth, GLUNet_GOCor_static.pth or "
                    "GLUNet_GOCor_dynamic.pth from the GOCor authors' repository"
                ) from error
        if not path.is_file():
            raise InputError(
                f"this project's small GLU-Net is not trained yet (there is no {path.name}): "
                "run `make train` to train it, or choose the authors' network with a weights "
                "file you have"
            )
        try:
            network = load_small_glunet(choice.kind, path=path)  # type: ignore[arg-type]
        except (OSError, ValueError) as error:
            raise InputError(
                f"this project's small GLU-Net file {path.name} cannot be used: "
                f"{without_path(str(error), path)}; run `make train` to make it again"
            ) from error
        return network

    def _name(self, choice: NetworkChoice, network: GLUNet) -> str:
        if choice.kind != AUTHORS:
            return choice.label
        variant = "GLU-Net-GOCor" if network.config.uses_gocor else "GLU-Net"
        return f"the authors' {variant} ({Path(self._file(choice)).name})"


def _stamp(path: Path) -> float | None:
    """The file's modification time (a new file is a new network), None if it is missing."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _too_slow(
    name: str, config_name: str, settings: Settings, size: tuple[int, int], seconds: float
) -> str:
    """Why a network is refused as too slow at this working resolution, and what would fit."""
    height, width = size
    fits = []
    for working in WORKING_SIZES:
        scale = working / settings.working_size
        scaled = (max(1, round(height * scale)), max(1, round(width * scale)))
        if working < settings.working_size and estimate_seconds(config_name, scaled) <= TIME_BUDGET:
            fits.append(working)
    hint = (
        f"a working resolution of {max(fits)} px or less"
        if fits
        else "another network (this one takes longer even at the smallest working resolution)"
    )
    return (
        f"{name} at {width}×{height} px would take about {seconds:.0f} s on the 2 cores, more "
        f"than the {TIME_BUDGET:g} s the explorer allows (it serves everyone on these cores): "
        f"choose {hint}"
    )
