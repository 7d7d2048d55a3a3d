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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from explorer.handlers import Explorer
from explorer.network_compute import estimate_seconds
from explorer.outputs import PICTURES, Screen
from explorer.pipeline import (
    TIME_BUDGET,
    WORKING_SIZES,
    Pipeline,
    Settings,
    estimate_cost,
)
from explorer.state import Session, View
from gocor_lite.data.examples import example_names, load_example
from gocor_lite.data.pairs import ExamplePair
from gocor_lite.files.images import resize_to_fit
from tools.explorer_load import costliest, heavy_candidates


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
    """Rows for ``python -m gocor_lite.cli.bench``: per pair, new-pair and click-to-maps times (ms)
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


def heaviest(threads: int) -> list[tuple[str, Settings, float, float]]:
    """For each bundled pair and a square image: the allowed settings with the largest
    estimated time, with and without the query loss; (pair, settings, estimate, measured s)."""
    pipeline = Pipeline(threads=threads, max_results=1)
    rows = []
    pairs = {name: pipeline.example_pair(name) for name in example_names()}
    pairs["square"] = pipeline.add_pair(_square_pair())
    for name, pair_id in pairs.items():
        for query in (False, True):
            candidates = [each for each in heavy_candidates() if each.query_loss == query]
            best = costliest(pipeline, pair_id, candidates)
            if best is None:
                continue
            start = time.perf_counter()
            pipeline.compute(pair_id, best[1])
            rows.append((name, best[1], best[0], time.perf_counter() - start))
    return rows


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cost_settings() -> list[tuple[str, Settings]]:
    """What ``--cost`` measures: every bundled pair at every working resolution with the
    default settings (what the page offers), then fewer and more GOCor iterations, a wider
    window, and the query loss on two pairs (the terms the default settings do not vary)."""
    names = example_names()
    rows = [(name, Settings(working_size=size)) for name in names for size in WORKING_SIZES]
    rows += [
        (name, Settings(working_size=400, num_iter=iterations))
        for name in names[:2]
        for iterations in (0, 8)
    ]
    rows += [(names[0], Settings(working_size=400, search_radius=8))]
    rows += [
        (names[0], Settings(working_size=size, num_iter=iterations, query_loss=True))
        for size, iterations in ((240, 1), (240, 3), (320, 1), (320, 3), (320, 8))
    ]
    # the heaviest that tools.explorer_load's heavy session may ask for: every term at its largest
    rows += [(names[-1], Settings(num_iter=8, search_radius=8, query_loss=True))]
    return rows


def cost_table(threads: int, repeat: int = 2) -> Iterator[dict[str, Any]]:
    """Wall seconds of :meth:`~explorer.pipeline.Pipeline.compute` beside
    :func:`~explorer.pipeline.estimate_cost`, for the settings of :func:`_cost_settings` (no
    refusal: what the budget allows is what this table is for); the load average after each.
    Each row is the fastest of ``repeat`` runs (and that run's processor seconds): what the
    computation takes when the cores are free, which others' work on a shared machine only
    lengthens. Rows are yielded as they are measured."""
    import explorer.pipeline as pipeline_module

    budget = pipeline_module.TIME_BUDGET, pipeline_module.RESULT_BUDGET
    pipeline_module.TIME_BUDGET, pipeline_module.RESULT_BUDGET = float("inf"), 1 << 62
    try:
        pipeline = Pipeline(threads=threads, max_results=1, max_bytes=1)
        warm = pipeline.example_pair(example_names()[0])
        pipeline.compute(warm, Settings(working_size=160, num_iter=0))  # warm up
        for name, settings in _cost_settings():
            pair_id = pipeline.example_pair(name)
            working = pipeline.working_pair(pair_id, settings)
            runs = []
            for _ in range(repeat):
                cpu, start = _cpu(), time.perf_counter()
                pipeline.compute(pair_id, settings)
                runs.append((time.perf_counter() - start, _cpu() - cpu))
                with pipeline._lock:  # computed again, not read from the cache
                    pipeline._results.clear()
            wall, cpu = min(runs)
            estimate = estimate_cost(working.target_grid, working.source_grid, settings)
            yield (
                {
                    "pair": name,
                    "size": settings.working_size,
                    "iterations": settings.num_iter,
                    "radius": settings.search_radius,
                    "query": settings.query_loss,
                    "target_h": working.target_grid[0],
                    "target_w": working.target_grid[1],
                    "source_h": working.source_grid[0],
                    "source_w": working.source_grid[1],
                    "wall": wall,
                    "cpu": cpu,
                    "estimate": estimate.seconds,
                    "load": os.getloadavg()[0],
                }
            )
    finally:
        pipeline_module.TIME_BUDGET, pipeline_module.RESULT_BUDGET = budget


COST_COLUMNS = (
    "pair",
    "size",
    "iterations",
    "radius",
    "query",
    "target_h",
    "target_w",
    "source_h",
    "source_w",
    "wall",
    "cpu",
    "load",
)


def write_cost_table(rows: list[dict[str, Any]], path: Path, command: str, runs: int = 2) -> None:
    """Store the measured rows as CSV, headed by comment lines: the command, date, machine and
    load averages (the data :func:`~explorer.pipeline.fit_cost_coefficients` fits)."""
    import csv
    import datetime
    import platform

    with path.open("w", newline="") as file:
        file.write(f"# made by: {command}\n")
        file.write(f"# on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, ")
        file.write(f"{platform.machine()} with {os.cpu_count()} cores, ")
        file.write(f"load averages (1, 5, 15 min) at the end {os.getloadavg()}\n")
        file.write(
            f"# wall: seconds of Pipeline.compute with 2 torch threads, the fastest of {runs} "
            "runs; cpu: that run's processor seconds (both threads), what the estimate is fitted "
            "to\n"
        )
        writer = csv.DictWriter(file, COST_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **row,
                    "wall": f"{row['wall']:.3f}",
                    "cpu": f"{row['cpu']:.3f}",
                    "load": f"{row['load']:.2f}",
                }
            )


def read_cost_table(path: Path) -> list[dict[str, Any]]:
    """The rows of :func:`write_cost_table`'s file, typed."""
    import csv

    with path.open() as file:
        lines = [line for line in file if not line.startswith("#")]
    rows = []
    for row in csv.DictReader(lines):
        typed: dict[str, Any] = {key: int(row[key]) for key in COST_COLUMNS[1:4]}
        typed.update({key: int(row[key]) for key in COST_COLUMNS[5:9]})
        typed.update(pair=row["pair"], query=row["query"] == "True")
        typed.update(wall=float(row["wall"]), cpu=float(row["cpu"]), load=float(row["load"]))
        rows.append(typed)
    return rows


def row_terms(row: dict[str, Any]) -> tuple[float, float, float, float]:
    """:func:`~explorer.pipeline.cost_terms` of one table row."""
    from explorer.pipeline import cost_terms

    settings = Settings(
        working_size=row["size"],
        num_iter=row["iterations"],
        search_radius=row["radius"],
        query_loss=row["query"],
    )
    return cost_terms(
        (row["target_h"], row["target_w"]), (row["source_h"], row["source_w"]), settings
    )


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
    from gocor_lite.training.small_glunet import NetworkTraining

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


def _print_cost(threads: int, load: str, write: bool, runs: int = 2) -> int:
    """``--cost``: the table, each row's estimate / measured ratio, and a failure (exit 1)
    naming every row beyond :data:`~explorer.pipeline.COST_TOLERANCE`."""
    from explorer.pipeline import COST_TABLE, COST_TOLERANCE, fit_cost_coefficients

    print(
        f"Pipeline.compute, {threads} threads ({load} at the start); measured: processor "
        f"seconds (both threads) of the fastest of {runs} runs, its wall seconds beside it"
    )
    print(
        f"{'pair':<20}{'size':>5}{'K':>3}{'R':>3}{'query':>6}{'cells':>11}"
        f"{'estimate':>10}{'measured':>10}{'ratio':>7}{'wall':>8}"
    )
    rows = []
    bad = []
    for row in cost_table(threads, runs):
        rows.append(row)
        ratio = row["estimate"] / row["cpu"]
        wrong = not 1 / COST_TOLERANCE <= ratio <= COST_TOLERANCE
        cells = f"{row['target_w']}x{row['target_h']}"
        line = (
            f"{row['pair']:<20}{row['size']:>5}{row['iterations']:>3}{row['radius']:>3}"
            f"{'yes' if row['query'] else 'no':>6}{cells:>11}{row['estimate']:>9.2f}s"
            f"{row['cpu']:>9.2f}s{ratio:>7.2f}{row['wall']:>7.2f}s   (load {row['load']:.1f})"
        )
        print(line + ("   <-- BEYOND 1.5x" if wrong else ""), flush=True)
        bad += [line] if wrong else []
    if write:
        command = "python -m tools.explorer_bench --cost --write" + (
            f" --threads {threads}" if threads != 2 else ""
        )
        command += f" --runs {runs}" if runs != 2 else ""
        write_cost_table(rows, COST_TABLE, command, runs)
        fitted = fit_cost_coefficients([row_terms(row) for row in rows], [r["cpu"] for r in rows])
        shown = ", ".join(f"{value:.3g}" for value in fitted)
        print(f"stored in {COST_TABLE}; fitted COST_COEFFICIENTS = ({shown})")
    if bad:
        print(
            f"FAILED: {len(bad)} of {len(rows)} estimates are beyond {COST_TOLERANCE:g}x of the "
            "measured time (refit: --cost --write, then copy the coefficients into pipeline.py)"
        )
        return 1
    print(f"every estimate within {COST_TOLERANCE:g}x of the measured time")
    return 0


# Run in a fresh process: its peak resident memory before and after reading one upload pair.
_UPLOAD_SNIPPET = """
import resource, sys
from explorer.pipeline import pair_from_files
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = peak()
pair = pair_from_files(sys.argv[1], sys.argv[1])
print(before, peak(), pair.target.shape[1], pair.target.shape[0])
"""


def upload_memory(megapixels: float, pythonpath: str | None = None) -> dict[str, float]:
    """Peak resident memory (MB) of a fresh process before and after it reads one pair of
    uploads of a ``megapixels`` JPEG photo (the same file as target and source), as the app
    does (:func:`~explorer.pipeline.pair_from_files`); ``pythonpath``: another checkout to
    measure (e.g. an older commit's), else this one. Also the side kept in memory."""
    import subprocess
    import sys
    import tempfile

    side = round((megapixels * 1e6) ** 0.5)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "photo.jpg"
        # A smooth gradient with noise: a photo-like JPEG, quick to make.
        rng = np.random.default_rng(0)
        row = np.linspace(0, 255, side, dtype=np.float32)
        picture = np.empty((side, side, 3), np.uint8)
        picture[..., 0] = row[None, :]
        picture[..., 1] = row[:, None]
        picture[..., 2] = rng.integers(0, 255, (side, side), dtype=np.uint8)
        Image.fromarray(picture).save(path, quality=90)
        del picture
        env = dict(os.environ)
        env["PYTHONPATH"] = pythonpath or str(Path(__file__).resolve().parent.parent)
        output = subprocess.run(
            [sys.executable, "-c", _UPLOAD_SNIPPET, str(path)],
            env=env,
            cwd=folder,  # not this checkout's folder, which `python -c` would import first
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    before, after, width, height = (float(value) for value in output[-4:])
    return {"before": before, "peak": after, "width": width, "height": height}


def start_seconds(pythonpath: str | None = None, port: int = 7893) -> float:
    """Seconds from starting ``python -m explorer`` (a process of its own; ``pythonpath``:
    another checkout, else this one) until its page answers HTTP 200; the server is then
    stopped."""
    import subprocess
    import sys
    import tempfile
    import urllib.request

    env = dict(os.environ)
    env["PYTHONPATH"] = pythonpath or str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "explorer", "--port", str(port)],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while time.perf_counter() - start < 300:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                        if answer.status == 200:
                            return time.perf_counter() - start
                except OSError:
                    time.sleep(0.1)
            return float("inf")
        finally:
            server.terminate()
            server.wait(timeout=60)


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
    parser.add_argument(
        "--cost", action="store_true", help="estimate_cost against measured time, per pair"
    )
    parser.add_argument(
        "--runs", type=int, default=2, help="--cost: runs per row, the fastest kept"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="--cost: store the table in pipeline.COST_TABLE and print the fitted coefficients",
    )
    parser.add_argument(
        "--network-cost", action="store_true", help="the data behind the network view's estimate"
    )
    parser.add_argument(
        "--upload-memory",
        type=float,
        metavar="MP",
        help="peak memory of reading an upload pair of a photo of this many megapixels",
    )
    parser.add_argument(
        "--start", action="store_true", help="seconds from `python -m explorer` to its first 200"
    )
    parser.add_argument(
        "--against",
        default=None,
        help="--upload-memory, --start: another checkout, measured beside (alternating)",
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
        return _print_cost(args.threads, load, args.write, args.runs)
    if args.start:
        checkouts = [("this checkout", None)] + (
            [(args.against, args.against)] if args.against else []
        )
        starts: dict[str, list[float]] = {name: [] for name, _ in checkouts}
        for _ in range(args.runs):
            for name, path in checkouts:
                starts[name].append(start_seconds(path))
        for name, values in starts.items():
            shown = ", ".join(f"{value:.1f}" for value in values)
            print(f"{name}: first HTTP 200 after {shown} s ({load} at the start)")
        print(f"load average at the end: {os.getloadavg()}")
        return 0
    if args.upload_memory:
        print(f"reading a {args.upload_memory:g}-megapixel JPEG as target and source ({load})")
        for name, path in (("this checkout", None), (args.against, args.against)):
            if name is None:
                continue
            row = upload_memory(args.upload_memory, path)
            print(
                f"{name}: peak resident memory {row['before']:.0f} MB before, {row['peak']:.0f} "
                f"MB after; kept at {row['width']:.0f}×{row['height']:.0f} px"
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
