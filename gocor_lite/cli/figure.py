# SPDX-License-Identifier: MIT
"""Draw the GOCor paper's Fig. 1 for a bundled pair (or two image files) into a PNG.

python -m gocor_lite.cli.figure --out gocor_figure.png
python -m gocor_lite.cli.figure --pair stereo-motorcycle --pixel 200 150 --iterations 5
python -m gocor_lite.cli.figure --target a.jpg --source b.jpg --out mine.png
python -m gocor_lite.cli.figure --features daisy --gocor-parameters initial
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from gocor_lite.cli import plain
from gocor_lite.core.features import (
    NORMALIZATIONS,
    default_extractor_name,
    extractor_names,
    make_extractor,
    pair_features,
)
from gocor_lite.data.examples import example_names, load_example
from gocor_lite.files.images import ImageError, read_image, resize_to_fit, to_tensor
from gocor_lite.files.weights import gocor_module
from gocor_lite.pictures.score_maps import draw_iterations, pixel_maps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.cli.figure", description=plain(__doc__.splitlines()[0])
    )
    parser.add_argument("--pair", default=example_names()[0], choices=example_names())
    parser.add_argument("--target", type=Path, help="target image file (with --source)")
    parser.add_argument("--source", type=Path, help="source image file (with --target)")
    parser.add_argument(
        "--pixel",
        type=float,
        nargs=2,
        metavar=("X", "Y"),
        help="target pixel at the working resolution (default: the centre)",
    )
    parser.add_argument("--features", default=default_extractor_name(), choices=extractor_names())
    parser.add_argument(
        "--gocor-parameters",
        choices=("trained", "initial"),
        default="trained",
        help="this project's trained GOCor parameters for the features (where there are "
        "some; else the initial ones) or the paper's initial values",
    )
    parser.add_argument("--normalization", default="centered-l2", choices=NORMALIZATIONS)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--size", type=int, default=320, help="working resolution (longer side)")
    parser.add_argument("--out", type=Path, default=Path("gocor_figure.png"))
    args = parser.parse_args(argv)

    true_flow = None
    try:
        if (args.target is None) != (args.source is None):
            parser.error("give both --target and --source, or neither")
        if args.target is not None:
            target, source = read_image(args.target), read_image(args.source)
            name = f"{args.target.name} -> {args.source.name}"
        else:
            pair = load_example(args.pair)
            target, source, true_flow, name = pair.target, pair.source, pair.flow, pair.name
    except ImageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    extractor = make_extractor(args.features)
    original_size = target.shape[:2]
    target = resize_to_fit(target, args.size, extractor.stride)
    source = resize_to_fit(source, args.size, extractor.stride)
    gocor, trained = gocor_module(
        "global", args.features, args.gocor_parameters, num_iter=args.iterations
    )
    target_features, source_features = pair_features(
        extractor, to_tensor(target), to_tensor(source), args.normalization
    )
    with torch.no_grad():
        trace = gocor.trace(target_features, source_features)

    height, width = target.shape[:2]
    pixel = tuple(args.pixel) if args.pixel else (width / 2, height / 2)
    maps = pixel_maps(
        target_features,
        source_features,
        trace,
        pixel,
        extractor.stride,
        target.shape[:2],
        source.shape[:2],
    )
    true_match = None
    if true_flow is not None:
        # Ground truth is given at the original size; read it at the chosen cell's centre.
        scale_y, scale_x = original_size[0] / height, original_size[1] / width
        row = min(int(maps.pixel[1] * scale_y), original_size[0] - 1)
        col = min(int(maps.pixel[0] * scale_x), original_size[1] - 1)
        flow_x, flow_y = true_flow[:, row, col]
        if np.isfinite(flow_x) and np.isfinite(flow_y):
            true_match = (maps.pixel[0] + flow_x / scale_x, maps.pixel[1] + flow_y / scale_y)
    figure = draw_iterations(
        target,
        source,
        maps,
        true_match,
        title=f"{name}: {args.features} features ({args.normalization}), "
        f"target cell {maps.cell}, global GOCor with "
        + ("this project's trained parameters" if trained else "the paper's initial parameters"),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
