# SPDX-License-Identifier: MIT
"""How long the explorer takes, measured three ways. Prints medians.

    python -m tools.explorer_bench                 # server: a click (slice + draw + JPEG) on
                                                   # cached volumes, and a recomputation, per pair
    python -m tools.explorer_bench --browser       # Chromium: a click on the target -> every
                                                   # panel redrawn and loaded (what a user waits)
    python -m tools.explorer_bench --heaviest      # the heaviest settings allowed, timed
    python -m tools.explorer_bench --cost          # the measurements behind pipeline.estimate_cost
    python -m tools.explorer_bench --network-cost  # ... and behind estimate_seconds (network),
                                                   # beside each trace's floor (cli.floors)

``--browser`` starts the app in this process and drives Debian's Chromium through Playwright
(never a downloaded browser). ``--heaviest`` runs, for each bundled pair and a square image,
the slowest settings that :meth:`explorer.pipeline.Pipeline.prepare` accepts, and says whether
each finished within :data:`~explorer.pipeline.TIME_BUDGET`. ``--cost`` times volumes and traces
over a grid of sizes, iterations and the query loss (wall and CPU seconds), the data that the
constants of :func:`~explorer.pipeline.estimate_cost` were set from.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import resource
import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from explorer.handlers import Explorer
from explorer.network_compute import estimate_seconds
from explorer.outputs import PICTURES, Screen
from explorer.pipeline import (
    QUERY_LOSS_MAX_SIZE,
    TIME_BUDGET,
    WORKING_SIZES,
    InputError,
    Pipeline,
    Settings,
    estimate_cost,
)
from explorer.state import Session, View
from gocor_lite.data.examples import example_names, load_example
from gocor_lite.data.pairs import ExamplePair
from gocor_lite.images import resize_to_fit


def _encode(screen: Screen) -> None:
    """JPEG-encode the pictures of a click, as the app does before sending them."""
    for name in PICTURES:
        picture = getattr(screen, name)
        if isinstance(picture, np.ndarray):
            Image.fromarray(picture).save(io.BytesIO(), format="jpeg", quality=85)


@dataclass(frozen=True)
class PairTiming:
    """Milliseconds for one bundled pair: the recomputation, and medians and maximum of clicks."""

    recompute: float
    click: float  # slice + draw, median
    click_encoded: float  # + JPEG encoding, median
    click_max: float  # + JPEG encoding, slowest


def measure(size: int, repeat: int, threads: int) -> dict[str, PairTiming]:
    """Time a recomputation and ``repeat`` clicks at random pixels for every bundled pair."""
    explorer = Explorer(Pipeline(threads=threads))
    settings = Settings(working_size=size)
    rng = np.random.default_rng(0)
    timings = {}
    for name in example_names():
        pair_id = explorer.pipeline.example_pair(name)
        start = time.perf_counter()
        computed = explorer.pipeline.compute(pair_id, settings)
        recompute = time.perf_counter() - start
        height, width = computed.pair.target.shape[:2]
        session = Session(View(pair_id, settings, (width / 2, height / 2), settings.num_iter))
        explorer.click(session, width / 3, height / 3)  # warm up (fonts, colour tables)
        clicks, encoded = [], []
        for _ in range(repeat):
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            start = time.perf_counter()
            screen = explorer.click(session, x, y)
            middle = time.perf_counter()
            _encode(screen)
            clicks.append(middle - start)
            encoded.append(time.perf_counter() - start)
        timings[name] = PairTiming(
            recompute * 1e3,
            statistics.median(clicks) * 1e3,
            statistics.median(encoded) * 1e3,
            max(encoded) * 1e3,
        )
    return timings


def benchmark(repeat: int = 20) -> dict[str, float]:
    """Rows for ``python -m gocor_lite.bench``: per pair, new-pair and click-to-maps times (ms)
    at the default working resolution."""
    rows = {}
    for name, timing in measure(Settings().working_size, repeat, torch.get_num_threads()).items():
        rows[f"{name}: new pair (features, volumes, traces)"] = timing.recompute
        rows[f"{name}: click to maps, median (with JPEG)"] = timing.click_encoded
        rows[f"{name}: click to maps, slowest"] = timing.click_max
    return rows


def browser_clicks(repeat: int, url: str | None = None) -> list[float]:
    """Milliseconds from a click on the target (in Chromium) until every panel shows its new,
    loaded picture, for ``repeat`` clicks at random places of the first pair. Timed in the
    page (from the pointer going down to the frame in which the last picture is loaded), so
    that Playwright's own round trips do not count. ``url``: a running explorer (default:
    one started in a process of its own, as ``make run`` does)."""
    from contextlib import nullcontext

    from tools.explorer_load import serve_elsewhere
    from tools.explorer_screenshot import PANELS, browser_page, click_target

    rng = np.random.default_rng(0)
    every = ["target", *PANELS]
    times = []
    # A window tall enough to show every panel at once (so that all of them load).
    with (
        nullcontext(url) if url else serve_elsewhere() as address,
        browser_page(address, height=2200) as page,
    ):
        click_target(page, 0.5, 0.5, loaded=tuple(every))  # warm up
        for _ in range(repeat):
            page.locator("#target img").scroll_into_view_if_needed()
            box = page.locator("#target img").bounding_box()
            before = page.evaluate(
                """(names) => { window.__down = null;
                       document.querySelector('#target img').addEventListener(
                           'pointerdown', () => { window.__down = performance.now(); },
                           {once: true});
                       return names.map(
                           (name) => document.querySelector('#' + name + ' img').src); }""",
                every,
            )
            fx, fy = float(rng.uniform(0.05, 0.95)), float(rng.uniform(0.05, 0.95))
            page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            elapsed = page.wait_for_function(
                """([names, before]) => {
                       const done = names.every((name, index) => {
                           const img = document.querySelector('#' + name + ' img');
                           return img && img.src !== before[index] && img.complete
                                  && img.naturalWidth > 0; });
                       return done && window.__down !== null
                              && performance.now() - window.__down; }""",
                arg=[every, before],
                timeout=30_000,
            )
            times.append(float(elapsed.json_value()))
    return times


def _square_pair() -> ExamplePair:
    """A square crop of a bundled image: the most cells for a working resolution."""
    image = load_example("astronaut-warp").target
    side = min(image.shape[:2])
    square = np.ascontiguousarray(image[:side, :side])
    return ExamplePair("square", f"a {side}×{side} crop", square, square)


def _heavy_candidates() -> list[Settings]:
    """Settings from the heaviest down: sizes, iterations, the widest window, the query loss."""
    return [
        Settings(working_size=size, num_iter=iterations, search_radius=8, query_loss=query)
        for size in sorted(WORKING_SIZES, reverse=True)
        for iterations in range(8, 0, -1)
        for query in (True, False)
        if not query or size <= QUERY_LOSS_MAX_SIZE
    ]


def heaviest(threads: int) -> list[tuple[str, Settings, float, float]]:
    """For each bundled pair and a square image: the allowed settings with the largest
    estimated time, with and without the query loss; (pair, settings, estimate, measured s)."""
    pipeline = Pipeline(threads=threads, max_results=1)
    rows = []
    pairs = {name: pipeline.example_pair(name) for name in example_names()}
    pairs["square"] = pipeline.add_pair(_square_pair())
    for name, pair_id in pairs.items():
        for query in (False, True):
            best: tuple[float, Settings] | None = None
            for settings in _heavy_candidates():
                if settings.query_loss != query:
                    continue
                try:
                    working = pipeline.prepare(pair_id, settings)
                except InputError:
                    continue
                cost = estimate_cost(working.target_grid, working.source_grid, settings)
                if best is None or cost.seconds > best[0]:
                    best = (cost.seconds, settings)
            if best is None:
                continue
            start = time.perf_counter()
            pipeline.compute(pair_id, best[1])
            rows.append((name, best[1], best[0], time.perf_counter() - start))
    return rows


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cost_table(threads: int) -> list[dict[str, float]]:
    """Wall and CPU seconds of volumes and traces over sizes, iterations and the query loss,
    on a square image (no refusal: the budget is what this table is for)."""
    import explorer.pipeline as pipeline_module

    budget = pipeline_module.TIME_BUDGET, pipeline_module.RESULT_BUDGET
    pipeline_module.TIME_BUDGET, pipeline_module.RESULT_BUDGET = float("inf"), 1 << 62
    try:
        pipeline = Pipeline(threads=threads, max_results=1, max_bytes=1)
        pair_id = pipeline.add_pair(_square_pair())
        pipeline.compute(pair_id, Settings(working_size=160, num_iter=0))  # warm up
        rows = []
        for size in WORKING_SIZES:
            for iterations in (0, 3, 8):
                for query in (False, True):
                    if query and (size > 320 or iterations == 0):
                        continue
                    settings = Settings(working_size=size, num_iter=iterations, query_loss=query)
                    working = pipeline.working_pair(pair_id, settings)
                    cpu, start = _cpu(), time.perf_counter()
                    computed = pipeline.compute(pair_id, settings)
                    wall, cpu = time.perf_counter() - start, _cpu() - cpu
                    estimate = estimate_cost(working.target_grid, working.source_grid, settings)
                    rows.append(
                        {
                            "size": size,
                            "iterations": iterations,
                            "query": query,
                            "cells": working.target_grid[0] * working.target_grid[1],
                            "wall": wall,
                            "cpu": cpu,
                            "estimate": estimate.seconds,
                            "mb": computed.nbytes / 1e6,
                            "load": os.getloadavg()[0],
                        }
                    )
                    del computed
        return rows
    finally:
        pipeline_module.TIME_BUDGET, pipeline_module.RESULT_BUDGET = budget


def network_cost_table(threads: int, repeat: int = 2) -> list[dict[str, Any]]:
    """Wall and CPU seconds of a network's trace (what the network view computes) for each
    configuration it can run, at every working resolution, on a square image (the most pixels
    a working resolution gives), with random weights (the time does not depend on them): the
    data behind :data:`explorer.network_compute.NETWORK_SECONDS`. Medians of ``repeat`` runs.

    Beside them, the trace's floor (:mod:`gocor_lite.cli.floors`): its work, counted on the
    warm-up run, over the speed of a 3x3 convolution (or a matrix product, whichever kind does
    most of the work) run after each timed trace; ``ratio`` = wall / floor, the median over
    the runs."""
    from gocor_lite.cli.floors import against_floor, conv_reference, count_flops, matmul_reference
    from gocor_lite.glunet import GLUNet, GLUNetConfig
    from gocor_lite.training.network import NetworkTraining

    torch.set_num_threads(threads)
    references = {"conv": conv_reference(), "matmul": matmul_reference()}
    configs = {
        "small-gocor": NetworkTraining(variant="gocor").config(),
        "small-correlation": NetworkTraining(variant="correlation").config(),
        "GLUNet": GLUNetConfig.glunet(),
        "GLUNet_GOCor": GLUNetConfig.glunet_gocor(),
    }
    rows: list[dict[str, Any]] = []
    for name, config in configs.items():
        torch.manual_seed(0)
        network = GLUNet(config).eval()
        for size in WORKING_SIZES:
            image = resize_to_fit(_square_pair().target, size)
            # warm up (and allocate), counting the work
            work = count_flops(functools.partial(network.trace, image, image))
            reference = references[work.kind]
            reference.run()
            walls, cpus, speeds = [], [], []
            for _ in range(repeat):
                cpu, start = _cpu(), time.perf_counter()
                network.trace(image, image)
                walls.append(time.perf_counter() - start)
                cpus.append(_cpu() - cpu)
                start = time.perf_counter()
                reference.run()
                speeds.append(reference.flops / (time.perf_counter() - start))
            floored = against_floor(walls, speeds, work.total)
            rows.append(
                {
                    "network": name,
                    "size": size,
                    "wall": statistics.median(walls),
                    "cpu": statistics.median(cpus),
                    "estimate": estimate_seconds(name, image.shape[:2]),
                    "gflop": work.total / 1e9,
                    "floor": floored.floor_ms / 1e3,
                    "ratio": floored.ratio,
                    "load": os.getloadavg()[0],
                }
            )
        del network
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size",
        type=int,
        default=Settings().working_size,
        help="working resolution (longer side, px)",
    )
    parser.add_argument("--repeat", type=int, default=20, help="clicks per pair")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--browser", action="store_true", help="clicks timed in Chromium")
    parser.add_argument("--url", default=None, help="--browser: a running explorer")
    parser.add_argument("--heaviest", action="store_true", help="the heaviest allowed settings")
    parser.add_argument("--cost", action="store_true", help="the data behind estimate_cost")
    parser.add_argument(
        "--network-cost", action="store_true", help="the data behind the network view's estimate"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    if args.browser:
        times = browser_clicks(args.repeat, args.url)
        print(f"Chromium, click on the target -> every panel loaded, {args.repeat} clicks ({load})")
        print(
            f"median {statistics.median(times):.0f} ms, "
            f"90th percentile {np.percentile(times, 90):.0f} ms, slowest {max(times):.0f} ms"
        )
        return 0
    if args.heaviest:
        print(f"the heaviest allowed settings, {args.threads} threads ({load})")
        print(f"{'pair':<20}{'settings':<42}{'estimate':>9}{'measured':>10}")
        for name, settings, estimate, seconds in heaviest(args.threads):
            what = f"{settings.working_size} px, K={settings.num_iter}, R={settings.search_radius}"
            what += ", query loss" if settings.query_loss else ""
            verdict = "" if seconds <= TIME_BUDGET else f"  over {TIME_BUDGET:g} s"
            print(f"{name:<20}{what:<42}{estimate:>8.1f}s{seconds:>9.1f}s{verdict}")
        return 0
    if args.cost:
        print(f"volumes and traces of a square image, {args.threads} threads ({load})")
        print(
            f"{'size':>5}{'K':>3}{'query':>7}{'cells':>7}{'wall':>7}{'cpu':>7}{'est.':>7}{'MB':>6}"
        )
        for row in cost_table(args.threads):
            cells = f"{row['cells']:.0f}"
            print(
                f"{row['size']:>5}{row['iterations']:>3}{'yes' if row['query'] else 'no':>7}"
                f"{cells:>7}{row['wall']:>7.1f}{row['cpu']:>7.1f}{row['estimate']:>7.1f}"
                f"{row['mb']:>6.0f}   (load {row['load']:.1f})"
            )
        return 0
    if args.network_cost:
        print(f"the network view's trace of a square image, {args.threads} threads ({load})")
        print(
            f"{'network':<19}{'size':>5}{'wall':>7}{'cpu':>7}{'est.':>7}"
            f"{'GFLOP':>8}{'floor':>7}{'/floor':>8}"
        )
        for row in network_cost_table(args.threads):
            print(
                f"{row['network']:<19}{row['size']:>5}{row['wall']:>7.1f}{row['cpu']:>7.1f}"
                f"{row['estimate']:>7.1f}{row['gflop']:>8.0f}{row['floor']:>7.2f}"
                f"{row['ratio']:>8.1f}   (load {row['load']:.1f})"
            )
        return 0
    print(
        f"working resolution {args.size} px, {args.threads} threads, "
        f"{args.repeat} clicks per pair; medians in ms ({load})"
    )
    print(f"{'pair':<20}{'recompute':>11}{'click':>9}{'+ jpeg':>9}{'max':>9}")
    for name, timing in measure(args.size, args.repeat, args.threads).items():
        print(
            f"{name:<20}{timing.recompute:>11.0f}{timing.click:>9.0f}"
            f"{timing.click_encoded:>9.0f}{timing.click_max:>9.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
