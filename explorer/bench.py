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

import numpy as np
import torch
from PIL import Image

from explorer.handlers import Explorer, Screen, View
from explorer.pipeline import Pipeline, Settings
from gocor_lite.examples import example_names

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
    explorer = Explorer(Pipeline(threads=args.threads))
    settings = Settings(working_size=args.size)
    rng = np.random.default_rng(0)
    print(
        f"working resolution {args.size} px, {args.threads} threads, "
        f"{args.repeat} clicks per pair; medians in ms"
    )
    print(f"{'pair':<20}{'recompute':>11}{'click':>9}{'+ jpeg':>9}{'max':>9}")
    for name in example_names():
        pair_id = explorer.pipeline.example_pair(name)
        start = time.perf_counter()
        computed = explorer.pipeline.compute(pair_id, settings)
        recompute = time.perf_counter() - start
        height, width = computed.pair.target.shape[:2]
        view = View(pair_id, settings, (width / 2, height / 2), settings.num_iter)
        explorer.click(view, width / 3, height / 3)  # warm up (fonts, colour tables)
        clicks, encoded = [], []
        for _ in range(args.repeat):
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            start = time.perf_counter()
            screen = explorer.click(view, x, y)
            middle = time.perf_counter()
            _encode(screen)
            clicks.append(middle - start)
            encoded.append(time.perf_counter() - start)
        print(
            f"{name:<20}{recompute * 1e3:>11.0f}{statistics.median(clicks) * 1e3:>9.0f}"
            f"{statistics.median(encoded) * 1e3:>9.0f}{max(encoded) * 1e3:>9.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
