# SPDX-License-Identifier: MIT
"""Benchmarks: our correlations and GOCor against the obvious alternatives and against the
matrix multiplies they cannot avoid, side by side in one process.

    python -m gocor_lite.bench                 # the full grid (~10 minutes on 2 CPU cores)
    python -m gocor_lite.bench --quick         # a smoke run (seconds)
    python -m gocor_lite.bench --sizes 32 64 --channels 256 --radii 4 --out report.md

Every time is the median of a few runs after one warm-up run, in milliseconds; each ratio
compares two timings taken in the same process, interleaved, so that a shared machine's noise
affects both alike. Memory is the peak
of the bytes torch allocates (CPU: from the profiler's memory events, each operator's net
allocation in time order, so a temporary freed inside one operator is not seen; CUDA:
``torch.cuda.max_memory_allocated``), above the level before the call.

The results are printed and written as markdown (default ``docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import contextlib
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

from gocor_lite.correlation import (
    global_correlation,
    local_correlation,
    local_correlation_adjoint,
)
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor

# Heavy runs are measured once after their warm-up run.
_SLOW_SECONDS = 2.0


@dataclass(frozen=True)
class Grid:
    """What to run."""

    channels: tuple[int, ...] = (64, 256)
    sizes: tuple[int, ...] = (16, 32, 64, 128)  # square feature maps, h = w
    radii: tuple[int, ...] = (3, 4, 8)
    iterations: tuple[int, ...] = (0, 1, 3, 7)
    repeat: int = 3  # timed runs after the warm-up (fewer for slow cases)
    gocor_max_size: int = 64  # global GOCor above this: (hw)^2 volumes of >= 1 GiB, skipped
    query_max_iterations_at_max_size: int = 3  # the 16-channel 4D convolutions are slow


QUICK = Grid(channels=(64,), sizes=(16, 32), radii=(4,), iterations=(0, 3), repeat=2)


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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _runs(first_seconds: float, repeat: int) -> int:
    """Timed runs: ``repeat``, more for fast calls (up to ~0.3 s in all, at most 15), one for
    slow calls."""
    if first_seconds > _SLOW_SECONDS:
        return 1
    return max(repeat, min(15, int(0.3 / max(first_seconds, 1e-6))))


def median_ms(fn: Callable[[], object], repeat: int, device: torch.device) -> float:
    """Median wall time of ``fn`` in ms, after one warm-up call."""
    start = time.perf_counter()
    fn()
    _sync(device)
    times = []
    for _ in range(_runs(time.perf_counter() - start, repeat)):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def interleaved_ms(
    fns: dict[str, Callable[[], object]], repeat: int, device: torch.device
) -> dict[str, float]:
    """Medians of several functions timed in turn (``a b c a b c ...``), after a warm-up."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    for fn in fns.values():
        fn()
        _sync(device)
    for _ in range(_runs(time.perf_counter() - start, repeat)):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(values) for name, values in times.items()}


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


def gemm_peak_gflops(device: torch.device, repeat: int) -> float:
    """The machine's matrix-multiply throughput: a 2048^3 float32 product into a buffer."""
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    out = torch.empty(2048, 2048, device=device)
    ms = median_ms(lambda: torch.mm(a, b, out=out), max(repeat, 3), device)
    return 2 * 2048**3 / ms / 1e6


# ---------------------------------------------------------------------------------------------
# The benchmarks.


def bench_local(grid: Grid, device: torch.device, peak: float) -> Table:
    sampler = _sampler()
    table = Table(
        "Local correlation (B=1, square maps, float32)",
        [
            "C",
            "h=w",
            "R",
            "ours ms",
            "naive loop ms",
            "unfold ms",
            "sampler ms",
            "best other / ours",
            "useful GFLOP/s",
            "% of GEMM peak",
            "peak MiB",
        ],
    )
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
                    times = interleaved_ms(fns, grid.repeat, device)
                    memory = peak_mib(fns["ours"], device)
                ours = times["ours"]
                best = min(value for name, value in times.items() if name != "ours")
                flops = 2 * channels * size * size * (2 * radius + 1) ** 2
                useful = flops / ours / 1e6
                table.records.append(
                    {
                        "case": f"C={channels} {size}x{size} R={radius}",
                        "best_other_ratio": best / ours,
                        "percent_of_peak": 100 * useful / peak,
                        "sampler_ratio": times["sampler"] / ours if "sampler" in times else None,
                    }
                )
                table.rows.append(
                    [
                        str(channels),
                        str(size),
                        str(radius),
                        _fmt(ours, 2),
                        _fmt(times["naive"], 2),
                        _fmt(times.get("unfold")) if "unfold" in times else "skipped (>1 GiB)",
                        _fmt(times.get("sampler")) if sampler else "not installed",
                        _fmt(best / ours, 2),
                        _fmt(useful),
                        _fmt(100 * useful / peak),
                        _fmt(memory),
                    ]
                )
    table.notes.append(
        "useful FLOPs = 2 C h w (2R+1)^2 (the products a window needs), against the GEMM peak "
        "measured above; `spatial-correlation-sampler` is timed when installed."
    )
    return table


def bench_global(grid: Grid, device: torch.device, peak: float) -> Table:
    table = Table(
        "Global correlation (B=1, square maps, float32)",
        [
            "C",
            "h=w",
            "bare bmm into buffer ms",
            "ours (out=) ms",
            "ours (allocating) ms",
            "ours out= / bare",
            "ours allocating / bare",
            "GFLOP/s",
            "peak MiB (allocating)",
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
                times = interleaved_ms(
                    {
                        "bare": functools.partial(torch.bmm, rows, columns, out=buffer),
                        "out": functools.partial(global_correlation, target, source, out=volume),
                        "alloc": functools.partial(global_correlation, target, source),
                    },
                    grid.repeat,
                    device,
                )
                memory = peak_mib(functools.partial(global_correlation, target, source), device)
            del buffer, volume
            flops = 2 * channels * size**4
            table.records.append(
                {"case": f"C={channels} {size}x{size}", "ratio": times["out"] / times["bare"]}
            )
            table.rows.append(
                [
                    str(channels),
                    str(size),
                    _fmt(times["bare"], 2),
                    _fmt(times["out"], 2),
                    _fmt(times["alloc"], 2),
                    _fmt(times["out"] / times["bare"], 2),
                    _fmt(times["alloc"] / times["bare"], 2),
                    _fmt(flops / times["out"] / 1e6),
                    _fmt(memory),
                ]
            )
    table.notes.append(
        "A fresh output volume costs page faults on first touch; pass `out=` to reuse one."
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


def bench_global_gocor(grid: Grid, device: torch.device) -> Table:
    table = Table(
        "Global GOCor forward, inference (B=1, simple initialiser, float32)",
        [
            "C",
            "h=w",
            "query loss",
            "K",
            "ours ms",
            "multiply floor ms",
            "ours / floor",
            "peak MiB",
            "peak in volumes",
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
                    floor = _global_products(channels, size, iterations, query, device)
                    ours = functools.partial(module, target, source)
                    with torch.no_grad():
                        times = interleaved_ms({"ours": ours, "floor": floor}, grid.repeat, device)
                        memory = peak_mib(ours, device)
                        if query and iterations > 0 and device.type == "cpu":
                            times["floor"] += _convolution_ms(ours)
                    table.records.append(
                        {
                            "case": f"C={channels} {size}x{size} query loss "
                            + ("on" if query else "off"),
                            "K": iterations,
                            "query": query,
                            "ratio": times["ours"] / times["floor"],
                        }
                    )
                    table.rows.append(
                        [
                            str(channels),
                            str(size),
                            "on" if query else "off",
                            str(iterations),
                            _fmt(times["ours"]),
                            _fmt(times["floor"]),
                            _fmt(times["ours"] / times["floor"], 2),
                            _fmt(memory),
                            _fmt(None if memory is None else memory / volume_mib, 2),
                        ]
                    )
    skipped = [size for size in grid.sizes if size > grid.gocor_max_size]
    if skipped:
        table.notes.append(
            f"Skipped h=w in {skipped}: each (hw)^2 volume is {4 * skipped[0] ** 4 / 2**30:g} GiB "
            "or more and one configuration would take minutes here; the module runs there "
            "(raise `memory_limit` if needed), it is just not part of a 10-minute run."
        )
    table.notes.append(
        f"With the query loss at h=w={grid.gocor_max_size}: only C={max(grid.channels)} and "
        f"K <= {grid.query_max_iterations_at_max_size} (its convolutions do not depend on C)."
    )
    table.notes.append(
        "floor = the 3K+1 matrix products the algorithm needs (6K+1 with the query loss), run "
        "alone into a reused buffer, plus, with the query loss, the time its run spends inside "
        "the 16-channel 4D convolutions (profiler self time of the convolution kernels); "
        "'peak in volumes' = peak memory / one (hw)^2 float32 volume (the output is one)."
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


def bench_local_gocor(grid: Grid, device: torch.device) -> Table:
    table = Table(
        "Local GOCor forward, inference (B=1, simple initialiser, float32)",
        ["C", "h=w", "R", "K", "ours ms", "correlation floor ms", "ours / floor", "peak MiB"],
    )
    for channels in grid.channels:
        for size in grid.sizes:
            target = torch.randn(1, channels, size, size, device=device)
            source = torch.randn(1, channels, size, size, device=device)
            for radius in grid.radii:
                iterations_list = grid.iterations if radius == 4 else (3,)
                for iterations in iterations_list:
                    if iterations not in grid.iterations:
                        continue
                    module = LocalGOCor(num_iter=iterations, search_radius=radius).to(device)
                    volume = local_correlation(target, source, radius)

                    floor = functools.partial(
                        _local_floor, target, source, volume, radius, iterations
                    )

                    with torch.no_grad():
                        times = interleaved_ms(
                            {"ours": functools.partial(module, target, source), "floor": floor},
                            grid.repeat,
                            device,
                        )
                        memory = peak_mib(functools.partial(module, target, source), device)
                    table.rows.append(
                        [
                            str(channels),
                            str(size),
                            str(radius),
                            str(iterations),
                            _fmt(times["ours"], 2),
                            _fmt(times["floor"], 2),
                            _fmt(times["ours"] / times["floor"], 2),
                            _fmt(memory),
                        ]
                    )
    table.notes.append(
        "floor = the 2K+1 local correlations and K adjoints the algorithm needs, alone."
    )
    return table


def bench_backward(grid: Grid, device: torch.device) -> Table:
    channels, size = grid.channels[0], min(32, max(grid.sizes))
    small = min(16, size)  # the query loss's 4D convolutions are slow to differentiate
    table = Table(
        f"Training: backward / forward (B=1, C={channels}, K=3, float32)",
        ["what", "h=w", "forward ms", "backward ms", "backward / forward"],
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
        times = interleaved_ms({"forward": forward, "both": both}, grid.repeat, device)
        back = max(times["both"] - times["forward"], 0.0)
        table.records.append({"case": f"{name}, {side}x{side}", "ratio": back / times["forward"]})
        table.rows.append(
            [
                name,
                str(side),
                _fmt(times["forward"], 2),
                _fmt(back, 2),
                _fmt(back / times["forward"], 2),
            ]
        )
    table.notes.append("backward = (forward + backward) - forward, both with autograd on.")
    return table


def bench_flow(grid: Grid, device: torch.device) -> Table:
    """The whole flow of a 640 x 480 pair (the size of a VGA photograph): this project's small
    GLU-Net with and without GOCor (the shipped weights where they are, else random ones: the
    time does not depend on the values) against OpenCV's DIS (medium preset) and Farneback,
    each timed in turn on the same pair, the ratio to DIS from the same run."""
    from gocor_lite.evaluation.peers import dis_flow, farneback_flow, opencv_available
    from gocor_lite.training.network import NetworkTraining, fresh_network
    from gocor_lite.weights import SMALL_GLUNET, SmallVariant, load_small_glunet

    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 256, (480, 640, 3), generator=generator, dtype=torch.uint8)
    target_image = target.numpy()
    source_image = np.roll(target_image, (3, -5), axis=(0, 1)).copy()
    table = Table(
        "Whole flow of a 640 x 480 pair",
        ["method", "ms", "x DIS", "weights"],
    )
    methods: list[tuple[str, Callable[[], object], str]] = []
    variants: tuple[SmallVariant, ...] = ("gocor", "correlation")
    for variant in variants:
        shipped = SMALL_GLUNET.is_file()
        network = (
            load_small_glunet(variant)
            if shipped
            else fresh_network(NetworkTraining(variant=variant)).eval()
        ).to(device)
        weights = "shipped" if shipped else "random"
        pair = (
            torch.from_numpy(target_image).permute(2, 0, 1)[None].to(device),
            torch.from_numpy(source_image).permute(2, 0, 1)[None].to(device),
        )
        label = "GLU-Net-GOCor (small)" if variant == "gocor" else "GLU-Net (small)"
        methods.append((label, functools.partial(network.estimate_flow, *pair), weights))
    if opencv_available():
        methods.append(("OpenCV DIS (medium)", lambda: dis_flow(target_image, source_image), "-"))
        methods.append(
            ("OpenCV Farneback", lambda: farneback_flow(target_image, source_image), "-")
        )
    times = {label: median_ms(run, grid.repeat, device) for label, run, _ in methods}
    dis = times.get("OpenCV DIS (medium)")
    for label, _, weights in methods:
        ratio = "-" if dis is None else _fmt(times[label] / dis)
        table.rows.append([label, _fmt(times[label]), ratio, weights])
        table.records.append({"case": label, "seconds": times[label] / 1000})
    if dis is None:
        table.notes.append(
            "OpenCV is not installed (pip install opencv-python-headless): no peers."
        )
    table.notes.append(
        f"{device.type}, {torch.get_num_threads()} torch threads; the network's time includes "
        "its preparation of the images (resizing, normalisation) and the upsampling of its flow."
    )
    return table


def _forward_backward(forward: Callable[[], Tensor], weights: Tensor) -> None:
    (forward() * weights).sum().backward()


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
            "local correlation: aim for 20% of the GEMM peak in useful FLOPs",
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
                "multiply floor",
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
    if "flow" in tables:
        table.rows.append(
            _target_row(
                "the whole flow of 640 x 480 within 1.5 s",
                [r for r in tables["flow"].records if "GLU-Net" in r["case"]],
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
    return table


def run(grid: Grid, device: torch.device, out: Path | None, threads: int | None) -> str:
    """Run every benchmark of ``grid``; return (and write to ``out``) the markdown report."""
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    started = time.perf_counter()
    peak = gemm_peak_gflops(device, grid.repeat)
    sections = [
        "# Benchmarks",
        "",
        "Produced by `python -m gocor_lite.bench"
        + (" --quick" if grid == QUICK else "")
        + "`; every ratio compares timings taken side by side in one process.",
        "",
        f"Machine: {machine(device)}. Matrix-multiply peak measured here: {peak:.0f} GFLOP/s.",
        "",
    ]
    print(sections[4], flush=True)
    steps: dict[str, Callable[[], Table]] = {
        "local": lambda: bench_local(grid, device, peak),
        "global": lambda: bench_global(grid, device, peak),
        "global_gocor": lambda: bench_global_gocor(grid, device),
        "local_gocor": lambda: bench_local_gocor(grid, device),
        "backward": lambda: bench_backward(grid, device),
        "flow": lambda: bench_flow(grid, device),
    }
    tables = {}
    for name, step in steps.items():
        tables[name] = table = step()
        text = table.markdown()
        print(text, flush=True)
        sections.append(text)
    checked = targets(tables).markdown()
    print(checked, flush=True)
    sections.insert(6, checked)
    sections.append(f"Total benchmark time: {time.perf_counter() - started:.0f} s.\n")
    report = "\n".join(sections)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a small grid: a smoke run")
    parser.add_argument("--channels", type=int, nargs="+", help="feature channels C")
    parser.add_argument("--sizes", type=int, nargs="+", help="square map sizes h = w")
    parser.add_argument("--radii", type=int, nargs="+", help="search radii R")
    parser.add_argument("--iterations", type=int, nargs="+", help="GOCor steps K")
    parser.add_argument("--repeat", type=int, help="timed runs per measurement")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
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
        "repeat": args.repeat,
    }
    for name, value in overrides.items():
        if value is not None:
            grid = Grid(**{**grid.__dict__, name: value})
    run(grid, torch.device(args.device), args.out, args.threads)
    return 0
