# SPDX-License-Identifier: MIT
"""How long the explorer's server takes: a click (slice + draw + JPEG encoding, what Gradio
sends) on cached volumes, and a recomputation, per bundled pair. Prints medians.

    python -m explorer.bench                 # default settings (working resolution 320 px)
    python -m explorer.bench --size 480 --repeat 30
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from explorer.handlers import Explorer, Screen, View
from explorer.pipeline import Pipeline, Settings
from gocor_lite.data.examples import example_names

PICTURES = (
    "target",
    "source",
    "local_correlation",
    "global_correlation",
    "gocor_global",
    "gocor_local",
    "strip",
)


def _encode(screen: Screen) -> None:
    """JPEG-encode the pictures of a click, as Gradio does for ``format="jpeg"`` images."""
    for name in PICTURES:
        picture = getattr(screen, name)
        if picture is not None:
            Image.fromarray(picture).save(io.BytesIO(), format="jpeg", quality=95)


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
        view = View(pair_id, settings, (width / 2, height / 2), settings.num_iter)
        explorer.click(view, width / 3, height / 3)  # warm up (fonts, colour tables)
        clicks, encoded = [], []
        for _ in range(repeat):
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            start = time.perf_counter()
            screen = explorer.click(view, x, y)
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
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"working resolution {args.size} px, {args.threads} threads, "
        f"{args.repeat} clicks per pair; medians in ms"
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
