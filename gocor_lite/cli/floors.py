# SPDX-License-Identifier: MIT
"""The least time a computation could take on this machine, and how far a run is from it.

A case's *floor* is its floating-point work divided by the speed this machine reaches on the
operation that does most of that work: a float32 matrix product (``2048 x 2048 @ 2048 x 2048``
into a reused buffer) when matrix products dominate, a 3x3 convolution (256 -> 256 channels,
64 x 64) when convolutions do. Both speeds are measured in the same process, in *rounds*
alternating with the case (case, reference, case, reference, ...), so that a shared machine's
noise touches both alike.

Work is counted by :class:`torch.utils.flop_counter.FlopCounterMode` on one run of the case:
matrix products (``mm``, ``bmm``, ``addmm``, ...) and convolutions (forward and backward), two
operations per multiply-add. Our local correlation and its adjoint are custom operators the
counter does not know: they are counted by formula, ``2 B C h w (2R+1)^2`` (the products a
window needs, not the wider tiles the kernel computes). Element-wise work (GOCor's passes over
its volumes, activations, normalisation, resizing, sampling) is not counted: a floor is a lower
bound.

Convention: ``ratio = time / floor``, the median over the rounds of each round's time over
that round's floor; the time and floor printed beside it are those of the median round, so
``ratio = time / floor`` holds for the printed numbers.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import gocor_lite.core.correlation  # noqa: F401  (registers the custom operators counted below)

Kind = Literal["matmul", "conv"]

MIN_ROUNDS = 5  # every ratio is the median of at least this many rounds
# A case whose one-minute load average exceeds this (before or after it) is marked
# "(under load)": 1.5 on this project's 2-core machine.
LOAD_LIMIT = 1.5

# A run of a fast case repeats it until it lasts about this long (at most _MAX_CALLS calls).
_RUN_SECONDS = 0.02
_MAX_CALLS = 100


# ---------------------------------------------------------------------------------------------
# Counting.


def _local_window_flops(
    first: Sequence[int], second: Sequence[int], *args: Any, out_shape: Sequence[int], **kwargs: Any
) -> int:
    """``2 B C h w (2R+1)^2`` for ``local_correlation(target, source, R)`` (output
    ``(B, h, w, S, S)``, target ``(B, C, h, w)``) and for its adjoint (output ``(B, C, h, w)``,
    volume ``(B, h, w, S, S)``)."""
    if len(out_shape) == 5:  # the correlation: out (B, h, w, S, S), first = target
        batch, height, width, size, _ = out_shape
        channels = first[1]
    else:  # the adjoint: out (B, C, h, w), first = volume (B, h, w, S, S)
        batch, channels, height, width = out_shape
        size = first[3]
    return 2 * batch * channels * height * width * size * size


_CUSTOM_FORMULAS = {
    torch.ops.gocor_lite.local_correlation: _local_window_flops,
    torch.ops.gocor_lite.local_correlation_adjoint: _local_window_flops,
}


@dataclass(frozen=True)
class Work:
    """Floating-point operations of one call, by the kind of operation that does them."""

    matmul: int = 0  # matrix products and the local correlations
    conv: int = 0  # convolutions (and their gradients)

    @property
    def total(self) -> int:
        return self.matmul + self.conv

    @property
    def kind(self) -> Kind:
        """The kind that does most of the work (its speed sets the floor)."""
        return "conv" if self.conv > self.matmul else "matmul"

    def __sub__(self, other: Work) -> Work:
        return Work(self.matmul - other.matmul, self.conv - other.conv)


def count_flops(fn: Callable[[], object]) -> Work:
    """The work of one call of ``fn``, counted by ``FlopCounterMode`` (with the formula above for
    the local correlation and its adjoint)."""
    with FlopCounterMode(display=False, custom_mapping=_CUSTOM_FORMULAS) as counter:
        fn()
    by_operator = counter.get_flop_counts().get("Global", {})
    conv = sum(int(n) for op, n in by_operator.items() if "conv" in str(op))
    return Work(matmul=int(counter.get_total_flops()) - conv, conv=conv)


# ---------------------------------------------------------------------------------------------
# The references.


@dataclass(frozen=True)
class Reference:
    """An operation whose speed stands for this machine's: its work and one call of it."""

    kind: Kind
    description: str
    flops: int
    run: Callable[[], object]


def matmul_reference(side: int = 2048, device: torch.device | None = None) -> Reference:
    """A float32 ``(side x side) @ (side x side)`` product into a reused buffer:
    ``2 side^3`` FLOPs."""
    a = torch.randn(side, side, device=device)
    b = torch.randn(side, side, device=device)
    out = torch.empty(side, side, device=device)
    return Reference(
        "matmul",
        f"{side}x{side} @ {side}x{side} float32 matrix product",
        2 * side**3,
        lambda: torch.mm(a, b, out=out),
    )


def conv_reference(
    channels: int = 256, side: int = 64, device: torch.device | None = None
) -> Reference:
    """A float32 3x3 convolution, ``channels -> channels`` on a ``side x side`` map (padding 1):
    ``2 C_in C_out 9 H W`` FLOPs."""
    image = torch.randn(1, channels, side, side, device=device)
    weight = torch.randn(channels, channels, 3, 3, device=device)
    return Reference(
        "conv",
        f"3x3 convolution {channels}->{channels} channels at {side}x{side}, float32",
        2 * channels * channels * 9 * side * side,
        lambda: F.conv2d(image, weight, padding=1),
    )


def one_minute_load() -> float:
    """The one-minute load average (``os.getloadavg()[0]``)."""
    return os.getloadavg()[0]


# ---------------------------------------------------------------------------------------------
# Timing against the floor.


@dataclass(frozen=True)
class Floored:
    """One time against its floor, from the median round (``ratio = ms / floor_ms``)."""

    ms: float  # the time of the median round
    floor_ms: float  # that round's floor: work / the reference's speed in that round
    ratio: float  # ms / floor_ms, the median over the rounds


def against_floor(seconds: Sequence[float], speeds: Sequence[float], flops: int) -> Floored:
    """``seconds[i] / (flops / speeds[i])`` for each round ``i``; the median round's numbers.
    An even number of rounds takes the upper of the two middle ones."""
    if len(seconds) != len(speeds) or not seconds:
        raise ValueError(f"need one speed per round, got {len(seconds)} and {len(speeds)}")
    if flops <= 0:
        return Floored(1e3 * statistics.median(seconds), float("nan"), float("nan"))
    floors = [flops / speed for speed in speeds]
    ratios = [run / floor for run, floor in zip(seconds, floors, strict=True)]
    middle = sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]
    return Floored(1e3 * seconds[middle], 1e3 * floors[middle], ratios[middle])


@dataclass(frozen=True)
class Runs:
    """Rounds of a case and its alternatives, each round followed by one reference run."""

    seconds: dict[str, list[float]]  # per function, one time (per call) per round
    speeds: list[float]  # the reference's FLOP/s in each round
    work: dict[str, Work]  # per function, counted on its warm-up run
    reference: Reference
    load_start: float  # the load average before the first run
    load_end: float  # ... and after the last
    load_limit: float

    @property
    def under_load(self) -> bool:
        """The load average exceeded the limit at the start or at the end."""
        return max(self.load_start, self.load_end) > self.load_limit

    def load(self) -> str:
        """``start-end`` load averages, with ``(under load)`` past the limit."""
        text = f"{self.load_start:.1f}-{self.load_end:.1f}"
        return text + (" (under load)" if self.under_load else "")

    def floored(self, name: str, flops: int | None = None) -> Floored:
        """``name``'s times against the floor of ``flops`` (default: its own counted work)."""
        return self.against(self.seconds[name], self.work[name].total if flops is None else flops)

    def against(self, seconds: Sequence[float], flops: int) -> Floored:
        return against_floor(seconds, self.speeds, flops)


@dataclass(frozen=True)
class Timer:
    """How cases are timed against their floors: the references, the rounds, the load."""

    references: Mapping[Kind, Reference]
    device: torch.device
    rounds: int = MIN_ROUNDS
    load_limit: float = LOAD_LIMIT
    read_load: Callable[[], float] = one_minute_load

    def __post_init__(self) -> None:
        if self.rounds < MIN_ROUNDS:
            raise ValueError(f"rounds must be at least {MIN_ROUNDS}, got {self.rounds}")

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _seconds(self, fn: Callable[[], object], calls: int = 1) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        self._sync()
        return (time.perf_counter() - start) / calls

    def run(self, fns: Mapping[str, Callable[[], object]], kind: Kind | None = None) -> Runs:
        """Count each function's work on a warm-up call, then ``rounds`` rounds of: each function
        in turn (a fast one repeated to last ~20 ms), then the reference for the kind of work
        that dominates the first function (or ``kind``)."""
        load_start = self.read_load()
        work, calls = {}, {}
        for name, fn in fns.items():
            start = time.perf_counter()
            work[name] = count_flops(fn)
            self._sync()
            first = time.perf_counter() - start
            calls[name] = max(1, min(_MAX_CALLS, int(_RUN_SECONDS / max(first, 1e-9))))
        reference = self.references[kind or work[next(iter(fns))].kind]
        self._seconds(reference.run)  # its warm-up
        seconds: dict[str, list[float]] = {name: [] for name in fns}
        speeds = []
        for _ in range(self.rounds):
            for name, fn in fns.items():
                seconds[name].append(self._seconds(fn, calls[name]))
            speeds.append(reference.flops / self._seconds(reference.run))
        return Runs(seconds, speeds, work, reference, load_start, self.read_load(), self.load_limit)

    def speed(self, kind: Kind) -> float:
        """The reference's median speed over ``rounds`` runs after a warm-up, in FLOP/s."""
        reference = self.references[kind]
        self._seconds(reference.run)
        runs = [self._seconds(reference.run) for _ in range(self.rounds)]
        return reference.flops / statistics.median(runs)
