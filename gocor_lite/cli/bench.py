# SPDX-License-Identifier: MIT
"""Benchmarks: our correlations, GOCor and whole networks against this machine's floor, and
against the obvious alternatives and the matrix multiplies they cannot avoid, in one process.

    python -m gocor_lite.cli.bench                 # the full grid (~20 minutes on 2 CPU cores)
    python -m gocor_lite.cli.bench --quick         # a smoke run at tiny sizes (well under a minute)
    python -m gocor_lite.cli.bench --sizes 32 64 --channels 256 --radii 4 --out report.md

Every time sits beside its *floor*: the case's floating-point work over the speed this machine
reaches, in the same process, on a float32 matrix product or a 3x3 convolution (whichever kind
of operation does most of the case's work), and the ratio time / floor
(:mod:`gocor_lite.cli.floors` says how work is counted). Each case is timed in at least five
rounds, each round one run of the case (and of its alternatives) followed by one run of the
reference; a ratio is the median over the rounds, and the time and floor beside it are those of
the median round. The load average is read before and after each case; a case where it exceeded
``--load-limit`` is marked "(under load)". Times are in milliseconds. Memory is the peak of the
bytes torch allocates (CPU: from the profiler's memory events, each operator's net allocation in
time order, so a temporary freed inside one operator is not seen; CUDA:
``torch.cuda.max_memory_allocated``), above the level before the call.

The results are printed and written as markdown (default ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import gc
import importlib.util
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from gocor_lite.cli import plain
from gocor_lite.cli.floors import (
    LOAD_LIMIT,
    MIN_ROUNDS,
    Floored,
    Runs,
    Timer,
    Work,
    conv_reference,
    matmul_reference,
    one_minute_load,
)
from gocor_lite.core.correlation import (
    global_correlation,
    local_correlation,
    local_correlation_adjoint,
)
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor

Size = tuple[int, int]  # (width, height) of an image


@dataclass(frozen=True)
class Grid:
    """What to run."""

    channels: tuple[int, ...] = (64, 256)
    sizes: tuple[int, ...] = (16, 32, 64, 128)  # square feature maps, h = w
    radii: tuple[int, ...] = (3, 4, 8)
    iterations: tuple[int, ...] = (0, 1, 3, 7)
    rounds: int = MIN_ROUNDS  # alternating rounds (case, reference) per case
    gocor_max_size: int = 64  # global GOCor above this: (hw)^2 volumes of >= 1 GiB, skipped
    query_max_iterations_at_max_size: int = 3  # the 16-channel 4D convolutions are slow
    authors_images: tuple[Size, ...] = ((640, 480), (1024, 436))  # (W, H), authors' networks
    project_images: tuple[Size, ...] = ((640, 480),)  # (W, H), this project's network
    tiny_networks: bool = False  # networks' forward on prepared 32 x 32 inputs, L-Net 32
    matmul_side: int = 2048  # the matrix-product reference: side^3 float32 product
    conv_channels: int = 256  # the convolution reference: 3x3, channels -> channels ...
    conv_side: int = 64  # ... on a side x side map


QUICK = Grid(
    channels=(16,),
    sizes=(8,),
    radii=(4,),
    iterations=(0, 2),
    gocor_max_size=8,
    query_max_iterations_at_max_size=2,
    tiny_networks=True,
    matmul_side=256,
    conv_channels=32,
    conv_side=16,
)


@dataclass
class Table:
    """One markdown table."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # the numbers behind the rows

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        lines += [""] + [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Measuring.


@contextlib.contextmanager
def _cpu_profile(**options: Any) -> Iterator[torch.profiler.profile]:
    """``torch.profiler.profile`` of the CPU, with file descriptor 2 muted while it runs: its
    native tracer writes two log lines per use there (torch 2.13), which would bury the report.
    Python exceptions still propagate, and are printed once the descriptor is back."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            activities = [torch.profiler.ProfilerActivity.CPU]
            with torch.profiler.profile(activities=activities, **options) as profiler:
                yield profiler
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_mib(fn: Callable[[], object], device: torch.device) -> float | None:
    """Peak of the bytes torch allocates during one call of ``fn`` above the level before it,
    in MiB: ``torch.cuda.max_memory_allocated`` on CUDA; on CPU, the running sum of the
    profiler's memory events (each operator's net allocation, in time order)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    with _cpu_profile(profile_memory=True) as profiler:
        fn()
    changes = sorted(
        (event.time_range.start, event.self_cpu_memory_usage)
        for event in profiler.events()
        if event.self_cpu_memory_usage
    )
    level = peak = 0
    for _, change in changes:
        level += change
        peak = max(peak, level)
    return peak / 2**20


def machine(device: torch.device) -> str:
    """CPU model, cores, torch version, threads (and the GPU when there is one)."""
    model = platform.processor() or platform.machine()
    try:
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        if found:
            model = found.group(1).strip()
    except OSError:
        pass
    parts = [
        f"CPU: {model}, {os.cpu_count()} logical cores",
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
    ]
    if device.type == "cuda":
        parts.append(f"GPU: {torch.cuda.get_device_name(device)}")
    return "; ".join(parts)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _num(value: float | None) -> str:
    """Three significant digits, no exponent (all the integer digits from 100 up)."""
    if value is None or math.isnan(value):
        return "n/a"
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{2 - math.floor(math.log10(abs(value)))}f}"


# ---------------------------------------------------------------------------------------------
# The references written here.


def naive_local(target: Tensor, source: Tensor, radius: int) -> Tensor:
    """One elementwise product and channel sum per shift ``(dy, dx)``: ``(B, h, w, S, S)``."""
    batch, channels, height, width = target.shape
    size = 2 * radius + 1
    padded = F.pad(
        source,
        (radius, width + radius - source.shape[3], radius, height + radius - source.shape[2]),
    )
    out = target.new_empty(batch, height, width, size, size)
    for dy in range(size):
        for dx in range(size):
            shifted = padded[:, :, dy : dy + height, dx : dx + width]
            out[:, :, :, dy, dx] = (target * shifted).sum(1)
    return out / channels


def unfold_local(target: Tensor, source: Tensor, radius: int) -> Tensor:
    """``F.unfold`` of the source windows, then one product per cell: ``(B, h, w, S, S)``."""
    batch, channels, height, width = target.shape
    size = 2 * radius + 1
    windows = F.unfold(source, size, padding=radius)  # (B, C*S*S, h*w), same-size maps
    windows = windows.view(batch, channels, size * size, height * width)
    scores = torch.einsum("bcn,bckn->bnk", target.flatten(2), windows)  # (B, hw, S*S)
    return scores.view(batch, height, width, size, size) / channels


def _sampler() -> Callable[[Tensor, Tensor, int], Tensor] | None:
    """``spatial-correlation-sampler``'s op when it is installed (it rarely builds on CPU)."""
    if importlib.util.find_spec("spatial_correlation_sampler") is None:
        return None
    from spatial_correlation_sampler import spatial_correlation_sample

    def run(target: Tensor, source: Tensor, radius: int) -> Tensor:
        size = 2 * radius + 1
        return spatial_correlation_sample(target, source, patch_size=size, padding=0)

    return run


def _gflop(work: int | Work) -> str:
    flops = work.total if isinstance(work, Work) else work
    return _num(flops / 1e9)


def _time_cells(timed: Floored) -> list[str]:
    """``ms`` and ``ms / floor`` of one time."""
    return [_num(timed.ms), _num(timed.ratio)]


def _median_ms(seconds: list[float]) -> float:
    return 1e3 * statistics.median(seconds)


FLOOR_NOTE = (
    "floor = the case's work (GFLOP, counted on one run) / the {kind} speed measured in the same "
    "round; each 'ms / floor' is the median over the rounds, and 'ms' and 'floor ms' are those "
    "of the median round of the case (an alternative's ratio is the median of its own rounds, "
    "against the same floors)."
)


# ---------------------------------------------------------------------------------------------
# The benchmarks.


def bench_local(grid: Grid, timer: Timer) -> Table:
    device = timer.device
    sampler = _sampler()
    labels = {"ours": "ours", "naive": "naive loop", "unfold": "unfold"}
    if sampler is not None:
        labels["sampler"] = "sampler"
    columns = ["C", "h=w", "R", "GFLOP", "floor ms"]
    for label in labels.values():
        columns += [f"{label} ms", f"{label} / floor"]
    columns += ["best other / ours", "peak MiB", "load"]
    table = Table("Local correlation (B=1, square maps, float32)", columns)
    for channels in grid.channels:
        for size in grid.sizes:
            for radius in grid.radii:
                target = torch.randn(1, channels, size, size, device=device)
                source = torch.randn(1, channels, size, size, device=device)
                fns: dict[str, Callable[[], object]] = {
                    "ours": functools.partial(local_correlation, target, source, radius),
                    "naive": functools.partial(naive_local, target, source, radius),
                }
                unfold_bytes = 4 * channels * (2 * radius + 1) ** 2 * size * size
                if unfold_bytes <= 2**30:
                    fns["unfold"] = functools.partial(unfold_local, target, source, radius)
                if sampler is not None:
                    fns["sampler"] = functools.partial(sampler, target, source, radius)
                with torch.no_grad():
                    runs = timer.run(fns)
                    memory = peak_mib(fns["ours"], device)
                work = runs.work["ours"]  # the alternatives do the same products
                timed = {name: runs.floored(name, work.total) for name in fns}
                ours = timed["ours"]
                best = min(value.ms for name, value in timed.items() if name != "ours")
                table.records.append(
                    {
                        "case": f"C={channels} {size}x{size} R={radius}",
                        "best_other_ratio": best / ours.ms,
                        "percent_of_peak": 100 / ours.ratio,
                        "sampler_ratio": timed["sampler"].ms / ours.ms
                        if "sampler" in timed
                        else None,
                        "under_load": runs.under_load,
                    }
                )
                row = [str(channels), str(size), str(radius), _gflop(work), _num(ours.floor_ms)]
                for name in labels:
                    row += _time_cells(timed[name]) if name in timed else ["skipped (>1 GiB)", "-"]
                row += [_fmt(best / ours.ms, 2), _fmt(memory), runs.load()]
                table.rows.append(row)
    table.notes.append(
        "work = 2 C h w (2R+1)^2, the products a window needs (counted by formula: the "
        "correlation is a custom operator), for every implementation; "
        + FLOOR_NOTE.format(kind="matrix-product")
    )
    if sampler is None:
        table.notes.append("`spatial-correlation-sampler` is not installed: not timed.")
    return table


def bench_global(grid: Grid, timer: Timer) -> Table:
    device = timer.device
    table = Table(
        "Global correlation (B=1, square maps, float32)",
        [
            "C",
            "h=w",
            "GFLOP",
            "floor ms",
            "ours (out=) ms",
            "ours (out=) / floor",
            "bare bmm into buffer ms",
            "bare / floor",
            "ours (allocating) ms",
            "allocating / floor",
            "ours out= / bare",
            "ours allocating / bare",
            "peak MiB (allocating)",
            "load",
        ],
    )
    for channels in grid.channels:
        for size in grid.sizes:
            target = torch.randn(1, channels, size, size, device=device)
            source = torch.randn(1, channels, size, size, device=device)
            rows = target.flatten(2).transpose(1, 2)
            columns = source.flatten(2)
            buffer = torch.empty(1, size * size, size * size, device=device)
            volume = torch.empty(1, size, size, size, size, device=device)
            with torch.no_grad():
                runs = timer.run(
                    {
                        "out": functools.partial(global_correlation, target, source, out=volume),
                        "bare": functools.partial(torch.bmm, rows, columns, out=buffer),
                        "alloc": functools.partial(global_correlation, target, source),
                    }
                )
                memory = peak_mib(functools.partial(global_correlation, target, source), device)
            del buffer, volume
            work = runs.work["out"]
            timed = {name: runs.floored(name, work.total) for name in ("out", "bare", "alloc")}
            ratio = timed["out"].ms / timed["bare"].ms
            table.records.append(
                {
                    "case": f"C={channels} {size}x{size}",
                    "ratio": ratio,
                    "under_load": runs.under_load,
                }
            )
            table.rows.append(
                [
                    str(channels),
                    str(size),
                    _gflop(work),
                    _num(timed["out"].floor_ms),
                    *_time_cells(timed["out"]),
                    *_time_cells(timed["bare"]),
                    *_time_cells(timed["alloc"]),
                    _fmt(ratio, 2),
                    _fmt(timed["alloc"].ms / timed["bare"].ms, 2),
                    _fmt(memory),
                    runs.load(),
                ]
            )
    table.notes.append(
        "A fresh output volume costs page faults on first touch; pass `out=` to reuse one. "
        "work = 2 C (hw)^2 (counted); " + FLOOR_NOTE.format(kind="matrix-product")
    )
    return table


def _global_products(
    channels: int, size: int, iterations: int, query: bool, device: torch.device
) -> Callable[[], None]:
    """The matrix products global GOCor needs, alone: ``3K+1`` products ``(hw x C) @ (C x hw)``
    into a reused buffer (``6K+1`` with the query loss: its scores, their adjoint and the
    scores of the gradient on the source as well)."""
    cells = size * size
    rows = torch.randn(1, cells, channels, device=device)
    columns = torch.randn(1, channels, cells, device=device)
    out = torch.empty(1, cells, cells, device=device)
    products = (6 if query else 3) * iterations + 1

    def run() -> None:
        for _ in range(products):
            torch.bmm(rows, columns, out=out)

    return run


def _convolution_ms(fn: Callable[[], object]) -> float:
    """CPU time spent inside convolution kernels during one call of ``fn`` (self times from
    the profiler, so nothing is counted twice), in ms."""
    with _cpu_profile() as profiler:
        fn()
    total_us = sum(
        event.self_cpu_time_total
        for event in profiler.key_averages()
        if "conv" in event.key and event.key.startswith("aten::")
    )
    return total_us / 1e3


def bench_global_gocor(grid: Grid, timer: Timer) -> Table:
    device = timer.device
    table = Table(
        "Global GOCor forward, inference (B=1, simple initialiser, float32)",
        [
            "C",
            "h=w",
            "query loss",
            "K",
            "GFLOP (conv)",
            "floor ms",
            "ours ms",
            "ours / floor",
            "products alone ms",
            "ours / products",
            "peak MiB",
            "peak in volumes",
            "load",
        ],
    )
    for channels in grid.channels:
        for size in grid.sizes:
            if size > grid.gocor_max_size:
                continue
            target = torch.randn(1, channels, size, size, device=device)
            source = torch.randn(1, channels, size, size, device=device)
            volume_mib = 4 * size**4 / 2**20
            for query in (False, True):
                for iterations in grid.iterations:
                    if (
                        query
                        and size == grid.gocor_max_size
                        and (
                            iterations > grid.query_max_iterations_at_max_size
                            or channels != max(grid.channels)
                        )
                    ):
                        continue  # the 4D convolutions take ~10 s a step there
                    module = GlobalGOCor(num_iter=iterations, query_loss=query).to(device)
                    products = _global_products(channels, size, iterations, query, device)
                    ours = functools.partial(module, target, source)
                    with torch.no_grad():
                        runs = timer.run({"ours": ours, "products": products})
                        memory = peak_mib(ours, device)
                        convolutions = (
                            _convolution_ms(ours)
                            if query and iterations > 0 and device.type == "cpu"
                            else 0.0
                        )
                    timed = runs.floored("ours")
                    alone = _median_ms(runs.seconds["products"]) + convolutions
                    ratio = _median_ms(runs.seconds["ours"]) / alone
                    work = runs.work["ours"]
                    table.records.append(
                        {
                            "case": f"C={channels} {size}x{size} query loss "
                            + ("on" if query else "off"),
                            "K": iterations,
                            "query": query,
                            "ratio": ratio,
                            "floor_ratio": timed.ratio,
                            "under_load": runs.under_load,
                        }
                    )
                    table.rows.append(
                        [
                            str(channels),
                            str(size),
                            "on" if query else "off",
                            str(iterations),
                            f"{_gflop(work)} ({_gflop(work.conv)})",
                            _num(timed.floor_ms),
                            *_time_cells(timed),
                            _num(alone),
                            _fmt(ratio, 2),
                            _fmt(memory),
                            _fmt(None if memory is None else memory / volume_mib, 2),
                            runs.load(),
                        ]
                    )
    skipped = [size for size in grid.sizes if size > grid.gocor_max_size]
    if skipped:
        table.notes.append(
            f"Skipped h=w in {skipped}: each (hw)^2 volume is {4 * skipped[0] ** 4 / 2**30:g} GiB "
            "or more and one configuration would take minutes here; the module runs there "
            "(raise `memory_limit` if needed), it is just not part of this run."
        )
    table.notes.append(
        f"With the query loss at h=w={grid.gocor_max_size}: only C={max(grid.channels)} and "
        f"K <= {grid.query_max_iterations_at_max_size} (its convolutions do not depend on C)."
    )
    table.notes.append(
        "work (counted): the matrix products and, with the query loss, its 16-channel 4D "
        "convolutions (the GFLOP in brackets); GOCor's element-wise passes over its (hw)^2 "
        "volumes are not counted. The floor uses the matrix-product speed, or the 3x3 "
        "convolution's where convolutions do most of the work (the GFLOP in brackets). "
        + FLOOR_NOTE.format(kind="reference's")
    )
    table.notes.append(
        "products alone = the 3K+1 matrix products the algorithm needs (6K+1 with the query "
        "loss), timed alone into a reused buffer in the same rounds (median), plus, with the "
        "query loss, the time its run spends inside the 16-channel 4D convolutions (profiler "
        "self time of the convolution kernels); 'peak in volumes' = peak memory / one (hw)^2 "
        "float32 volume (the output is one)."
    )
    return table


def _local_floor(
    target: Tensor, source: Tensor, volume: Tensor, radius: int, iterations: int
) -> None:
    """Per step: scores on the target, their adjoint, scores of the gradient; then the
    output: ``2K+1`` local correlations and ``K`` adjoints."""
    for _ in range(iterations):
        local_correlation(target, target, radius)
        local_correlation_adjoint(volume, target, radius)
        local_correlation(target, target, radius)
    local_correlation(target, source, radius)


def bench_local_gocor(grid: Grid, timer: Timer) -> Table:
    device = timer.device
    table = Table(
        "Local GOCor forward, inference (B=1, simple initialiser, float32)",
        [
            "C",
            "h=w",
            "R",
            "K",
            "GFLOP",
            "floor ms",
            "ours ms",
            "ours / floor",
            "correlations alone ms",
            "ours / correlations",
            "peak MiB",
            "load",
        ],
    )
    main_radius = 4 if 4 in grid.radii else grid.radii[0]
    for channels in grid.channels:
        for size in grid.sizes:
            target = torch.randn(1, channels, size, size, device=device)
            source = torch.randn(1, channels, size, size, device=device)
            for radius in grid.radii:
                iterations_list = grid.iterations if radius == main_radius else (3,)
                for iterations in iterations_list:
                    if iterations not in grid.iterations:
                        continue
                    module = LocalGOCor(num_iter=iterations, search_radius=radius).to(device)
                    volume = local_correlation(target, source, radius)
                    ours = functools.partial(module, target, source)
                    alone = functools.partial(
                        _local_floor, target, source, volume, radius, iterations
                    )
                    with torch.no_grad():
                        runs = timer.run({"ours": ours, "correlations": alone})
                        memory = peak_mib(ours, device)
                    timed = runs.floored("ours")
                    correlations = _median_ms(runs.seconds["correlations"])
                    table.records.append(
                        {
                            "case": f"C={channels} {size}x{size} R={radius} K={iterations}",
                            "floor_ratio": timed.ratio,
                            "under_load": runs.under_load,
                        }
                    )
                    table.rows.append(
                        [
                            str(channels),
                            str(size),
                            str(radius),
                            str(iterations),
                            _gflop(runs.work["ours"]),
                            _num(timed.floor_ms),
                            *_time_cells(timed),
                            _num(correlations),
                            _fmt(_median_ms(runs.seconds["ours"]) / correlations, 2),
                            _fmt(memory),
                            runs.load(),
                        ]
                    )
    table.notes.append(
        "work (counted): the 2K+1 local correlations and K adjoints by formula, "
        "2 C h w (2R+1)^2 each, and the initialiser's and step length's products; the "
        "element-wise passes over the local volumes are not counted. correlations alone = those "
        "correlations and adjoints timed alone in the same rounds (median). "
        + FLOOR_NOTE.format(kind="matrix-product")
    )
    return table


def _forward_backward(forward: Callable[[], Tensor], weights: Tensor) -> None:
    (forward() * weights).sum().backward()


def bench_backward(grid: Grid, timer: Timer) -> Table:
    device = timer.device
    channels, size = grid.channels[0], min(32, max(grid.sizes))
    small = min(16, size)  # the query loss's 4D convolutions are slow to differentiate
    table = Table(
        f"Training: backward / forward (B=1, C={channels}, K=3, float32)",
        [
            "what",
            "h=w",
            "forward GFLOP",
            "forward floor ms",
            "forward ms",
            "forward / floor",
            "backward GFLOP",
            "backward floor ms",
            "backward ms",
            "backward / floor",
            "backward / forward",
            "load",
        ],
    )

    def features(side: int) -> tuple[Tensor, Tensor]:
        return (
            torch.randn(1, channels, side, side, device=device, requires_grad=True),
            torch.randn(1, channels, side, side, device=device, requires_grad=True),
        )

    cases: list[tuple[str, torch.nn.Module | Callable[..., Tensor], int]] = [
        ("local correlation R=4", functools.partial(local_correlation, radius=4), size),
        ("global correlation", global_correlation, size),
        ("local GOCor R=4", LocalGOCor(num_iter=3, search_radius=4).to(device), size),
        ("global GOCor", GlobalGOCor(num_iter=3).to(device), size),
        ("global GOCor, query loss", GlobalGOCor(num_iter=3, query_loss=True).to(device), small),
    ]
    for name, layer, side in cases:
        target, source = features(side)
        forward = functools.partial(layer, target, source)
        weights = torch.randn_like(forward().detach())
        both = functools.partial(_forward_backward, forward, weights)
        runs = timer.run({"both": both, "forward": forward})
        forward_work = runs.work["forward"]
        backward_work = runs.work["both"] - forward_work
        rounds = zip(runs.seconds["both"], runs.seconds["forward"], strict=True)
        seconds = [max(both_s - forward_s, 0.0) for both_s, forward_s in rounds]
        ahead = runs.floored("forward")
        back = runs.against(seconds, backward_work.total)
        ratio = _median_ms(seconds) / _median_ms(runs.seconds["forward"])
        table.records.append(
            {"case": f"{name}, {side}x{side}", "ratio": ratio, "under_load": runs.under_load}
        )
        table.rows.append(
            [
                name,
                str(side),
                _gflop(forward_work),
                _num(ahead.floor_ms),
                *_time_cells(ahead),
                _gflop(backward_work),
                _num(back.floor_ms),
                *_time_cells(back),
                _fmt(ratio, 2),
                runs.load(),
            ]
        )
    table.notes.append(
        "backward = (forward + backward) - forward in each round, both with autograd on; its work "
        "= the counted work of forward + backward minus the forward's; backward / forward = the "
        "ratio of their medians. " + FLOOR_NOTE.format(kind="reference's")
    )
    return table


def _without_grad(fn: Callable[..., object], *args: object) -> object:
    with torch.no_grad():
        return fn(*args)


@dataclass(frozen=True)
class _Network:
    """What one network case is."""

    label: str
    weights: str
    input: str
    ours: bool  # this project's network (the 1.5 s target)


def _networks(grid: Grid, device: torch.device) -> Iterator[tuple[_Network, Callable[[], object]]]:
    """The authors' GLU-Net and GLU-Net-GOCor (random weights of the released shapes) at
    ``grid.authors_images``, then this project's network (XFeat's backbone, the rest random)
    with and without GOCor at ``grid.project_images``: ``estimate_flow`` on random uint8
    images, a target and the same shifted by (3, -5) pixels. Built one at a time; each case
    with one call of it."""
    from gocor_lite.files.weights import build_glunet
    from gocor_lite.glunet import GLUNet, GLUNetConfig

    authors = [
        ("GLU-Net (authors' shapes)", GLUNetConfig.glunet()),
        ("GLU-Net-GOCor (authors' shapes)", GLUNetConfig.glunet_gocor()),
    ]
    project = [
        ("GLU-Net-GOCor (ours, XFeat)", GLUNetConfig.xfeat(gocor=True)),
        ("GLU-Net (ours, XFeat)", GLUNetConfig.xfeat(gocor=False)),
    ]
    generator = torch.Generator().manual_seed(0)
    for ours, configs, sizes in (
        (False, authors, grid.authors_images),
        (True, project, grid.project_images),
    ):
        for label, config in configs:
            if grid.tiny_networks:
                config = dataclasses.replace(config, l_net_size=32)
            torch.manual_seed(0)
            if ours:
                network, weights = build_glunet(config), "XFeat backbone, rest random"
            else:
                network, weights = GLUNet(config), "random"
            network = network.eval().to(device)
            if grid.tiny_networks:
                pre = torch.rand(1, 3, 32, 32, generator=generator).to(device)
                prepared = (pre, pre.roll(1, 3), pre, pre)
                yield (
                    _Network(label, weights, "prepared 32x32, L-Net 32", ours),
                    functools.partial(_without_grad, network, *prepared),
                )
                continue
            for width, height in sizes:
                image = torch.randint(
                    0, 256, (1, 3, height, width), generator=generator, dtype=torch.uint8
                ).to(device)
                shifted = image.roll((3, -5), (2, 3))
                yield (
                    _Network(label, weights, f"{width}x{height}", ours),
                    functools.partial(network.estimate_flow, image, shifted),
                )
            del network


def bench_networks(grid: Grid, timer: Timer) -> Table:
    """Whole networks, ``estimate_flow`` on a pair (the preparation of the images and the
    upsampling of the flow included), against OpenCV's DIS (medium preset) and Farneback on a
    640 x 480 pair, in the same process."""
    from gocor_lite.evaluation.peers import dis_flow, farneback_flow, opencv_available

    table = Table(
        "Whole networks: the flow of an image pair",
        [
            "network",
            "weights",
            "input",
            "GFLOP (conv)",
            "floor ms",
            "ms",
            "ms / floor",
            "x DIS",
            "load",
        ],
    )
    rows: list[tuple[_Network, Runs]] = [
        (case, timer.run({"network": run})) for case, run in _networks(grid, timer.device)
    ]
    dis = None
    if opencv_available():
        rng = np.random.default_rng(0)
        target = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        source = np.roll(target, (3, -5), axis=(0, 1)).copy()
        peers = timer.run(
            {
                "OpenCV DIS (medium)": functools.partial(dis_flow, target, source),
                "OpenCV Farneback": functools.partial(farneback_flow, target, source),
            },
            kind="matmul",
        )
        dis = _median_ms(peers.seconds["OpenCV DIS (medium)"])
    for case, runs in rows:
        timed = runs.floored("network")
        work = runs.work["network"]
        table.records.append(
            {
                "case": f"{case.label} {case.input}",
                "seconds": timed.ms / 1e3,
                "ours": case.ours,
                "floor_ratio": timed.ratio,
                "under_load": runs.under_load,
            }
        )
        table.rows.append(
            [
                case.label,
                case.weights,
                case.input,
                f"{_gflop(work)} ({_gflop(work.conv)})",
                _num(timed.floor_ms),
                *_time_cells(timed),
                "-" if dis is None else _fmt(timed.ms / dis),
                runs.load(),
            ]
        )
    if dis is None:
        table.notes.append(
            "OpenCV is not installed (pip install opencv-python-headless): no peers."
        )
    else:
        for name in peers.seconds:
            ms = _median_ms(peers.seconds[name])
            table.rows.append(
                [name, "-", "640x480", "-", "-", _num(ms), "-", _fmt(ms / dis), peers.load()]
            )
    table.notes.append(
        f"{timer.device.type}, {torch.get_num_threads()} torch threads; work (counted): the "
        "convolutions (in brackets) and matrix products, with the local correlations by "
        "formula; element-wise work (activations, normalisation, resizing, warping, GOCor's "
        "passes) is not counted. The floor uses the 3x3 convolution's speed where convolutions do "
        "most of the work (the GFLOP in brackets), else the matrix product's. "
        + FLOOR_NOTE.format(kind="reference's")
    )
    return table


def _target_row(
    target: str,
    records: list[dict[str, Any]],
    key: str,
    holds: Callable[[float], bool],
    worst: str,
    aim: bool = False,
) -> list[str]:
    """One row of the targets table: the worst measured value (the best, for an ``aim``),
    whether every case holds (an aim: in how many cases it is reached), and the cases that miss
    (at most four named)."""
    measured = [record for record in records if record.get(key) is not None]
    if not measured:
        return [target, "not measured in this run", "-", ""]
    pick = min if worst == "min" else max
    extreme = pick(measured, key=lambda record: record[key])
    misses = [record for record in measured if not holds(record[key])]
    if aim:
        reached = len(measured) - len(misses)
        return [
            target,
            f"best {extreme[key]:.2f} ({extreme['case']})",
            f"reached in {reached} of {len(measured)}",
            "",
        ]
    named = ", ".join(f"{record['case']}: {record[key]:.2f}" for record in misses[:4])
    more = f" and {len(misses) - 4} more" if len(misses) > 4 else ""
    return [
        target,
        f"{worst} {extreme[key]:.2f} ({extreme['case']})",
        "yes" if not misses else f"no: {len(misses)} of {len(measured)}",
        named + more,
    ]


def targets(tables: dict[str, Table]) -> Table:
    """The speed targets of the project, checked against this run's measurements."""
    table = Table("Targets, checked against this run", ["target", "measured", "holds", "misses"])
    local = tables["local"].records
    table.rows.append(
        _target_row(
            "local correlation at least as fast as the best alternative (ratio >= 1)",
            local,
            "best_other_ratio",
            lambda ratio: ratio >= 1.0,
            "min",
        )
    )
    table.rows.append(
        _target_row(
            "local correlation at least 30x the sampler op",
            local,
            "sampler_ratio",
            lambda ratio: ratio >= 30.0,
            "min",
        )
    )
    table.rows.append(
        _target_row(
            "local correlation: aim for 20% of the matrix-product speed (100 / (ours / floor))",
            local,
            "percent_of_peak",
            lambda percent: percent >= 20.0,
            "max",
            aim=True,
        )
    )
    table.rows.append(
        _target_row(
            "global correlation (out=) within 1.1x of the bare multiply",
            tables["global"].records,
            "ratio",
            lambda ratio: ratio <= 1.1,
            "max",
        )
    )
    gocor_3 = [record for record in tables["global_gocor"].records if record["K"] == 3]
    for query in (False, True):
        table.rows.append(
            _target_row(
                f"global GOCor, K=3, query loss {'on' if query else 'off'}: within 1.5x of its "
                "matrix products timed alone",
                [record for record in gocor_3 if record["query"] == query],
                "ratio",
                lambda ratio: ratio <= 1.5,
                "max",
            )
        )
    table.rows.append(
        _target_row(
            "backward no more than 3x the forward",
            tables["backward"].records,
            "ratio",
            lambda ratio: ratio <= 3.0,
            "max",
        )
    )
    if "networks" in tables:
        table.rows.append(
            _target_row(
                "this project's network: the whole flow of 640 x 480 within 1.5 s",
                [r for r in tables["networks"].records if r.get("ours")],
                "seconds",
                lambda seconds: seconds <= 1.5,
                "max",
            )
        )
    table.notes.append(
        "Computed from the tables below: 'measured' is the worst case of the grid (min for 'at "
        "least', max for 'within'), the best for the 20% aim. No comparison with the authors' "
        "code: it needs CUDA, and times not measured in this run are not quoted."
    )
    loaded = [
        record["case"]
        for records in tables.values()
        for record in records.records
        if record.get("under_load")
    ]
    table.notes.append(
        f"Cases marked (under load) below: {len(loaded)}"
        + (
            f" (e.g. {', '.join(loaded[:3])}): their times are not the machine's own."
            if loaded
            else "."
        )
    )
    return table


def run(
    grid: Grid,
    device: torch.device,
    out: Path | None,
    threads: int | None,
    *,
    load_limit: float = LOAD_LIMIT,
    read_load: Callable[[], float] = one_minute_load,
) -> str:
    """Run every benchmark of ``grid``; return (and write to ``out``) the markdown report.
    ``read_load`` gives the load average (read before and after each case), ``load_limit``
    the level above which a case is marked "(under load)"."""
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    started = time.perf_counter()
    timer = Timer(
        {
            "matmul": matmul_reference(grid.matmul_side, device),
            "conv": conv_reference(grid.conv_channels, grid.conv_side, device),
        },
        device,
        rounds=grid.rounds,
        load_limit=load_limit,
        read_load=read_load,
    )
    speeds = ", ".join(
        f"{reference.description}: {_num(timer.speed(kind) / 1e9)} GFLOP/s"
        for kind, reference in timer.references.items()
    )
    sections = [
        "# Benchmarks",
        "",
        "Produced by `python -m gocor_lite.cli.bench"
        + (" --quick" if grid == QUICK else "")
        + "`; every time is compared with its floor (the case's floating-point work over this "
        "machine's speed, measured in the same rounds) and every ratio with timings taken side "
        "by side in one process; see `gocor_lite/cli/floors.py`.",
        "",
        f"Machine: {machine(device)}. Reference speeds measured here, at the start: {speeds}.",
        "",
        f"Load: 'load' is the one-minute load average before-after each case ({os.cpu_count()} "
        f"logical cores); above {load_limit:g} the case is marked (under load).",
        "",
    ]
    print("\n".join(sections[4:7]), flush=True)
    steps: dict[str, Callable[[], Table]] = {
        "local": lambda: bench_local(grid, timer),
        "global": lambda: bench_global(grid, timer),
        "global_gocor": lambda: bench_global_gocor(grid, timer),
        "local_gocor": lambda: bench_local_gocor(grid, timer),
        "backward": lambda: bench_backward(grid, timer),
        "networks": lambda: bench_networks(grid, timer),
    }
    tables = {}
    for name, step in steps.items():
        tables[name] = table = step()
        text = table.markdown()
        print(text, flush=True)
        sections.append(text)
    checked = targets(tables).markdown()
    print(checked, flush=True)
    sections.insert(8, checked)
    sections.append(f"Total benchmark time: {time.perf_counter() - started:.0f} s.\n")
    report = "\n".join(sections)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.cli.bench",
        description=plain(__doc__ or ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--channels", type=int, nargs="+", help="feature channels C")
    parser.add_argument("--sizes", type=int, nargs="+", help="square map sizes h = w")
    parser.add_argument("--radii", type=int, nargs="+", help="search radii R")
    parser.add_argument("--iterations", type=int, nargs="+", help="GOCor steps K")
    parser.add_argument(
        "--rounds", type=int, help=f"alternating rounds per case (at least {MIN_ROUNDS})"
    )
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument(
        "--load-limit",
        type=float,
        default=LOAD_LIMIT,
        help=f"mark cases whose load average exceeds this (default {LOAD_LIMIT:g})",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--out", type=Path, default=Path("docs/benchmarks.md"), help="markdown report path"
    )
    args = parser.parse_args(argv)
    grid = QUICK if args.quick else Grid()
    overrides = {
        "channels": tuple(args.channels) if args.channels else None,
        "sizes": tuple(args.sizes) if args.sizes else None,
        "radii": tuple(args.radii) if args.radii else None,
        "iterations": tuple(args.iterations) if args.iterations else None,
        "rounds": args.rounds,
    }
    grid = dataclasses.replace(grid, **{k: v for k, v in overrides.items() if v is not None})
    if grid.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS}")
    run(grid, torch.device(args.device), args.out, args.threads, load_limit=args.load_limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
