# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.cli.flow``: the dense flow between two images, from a GLU-Net.

* ``python -m gocor_lite.cli.flow TARGET SOURCE --out flow.png``: the flow of this project's small
  GLU-Net-GOCor (``--network correlation``: the same network with feature correlation; both
  from :data:`gocor_lite.files.weights.SMALL_GLUNET`, made by ``make train``, or ``--network-weights
  FILE``) between two images of any sizes, drawn per level of the network (``--example NAME``
  uses a bundled pair instead, with its true flow when known); ``--out flow.flo`` writes the
  flow itself as Middlebury ``.flo``, ``--out flow.npy`` as a ``(2, H, W)`` float32 array
  (:mod:`gocor_lite.files.export`);
* ``python -m gocor_lite.cli.flow TARGET SOURCE --weights GLUNet_GOCor_static.pth``: the same with
  the authors' GLU-Net or GLU-Net-GOCor, from their released checkpoint
  (:func:`gocor_lite.glunet.load_official_glunet`);
* ``python -m gocor_lite.cli.flow time --network GLUNet_GOCor --size 640 480``: the time per pair
  of a GLU-Net configuration (random weights unless ``--weights``; the time does not depend on
  the weights' values), median of a few runs after a warm-up run.

Training and evaluation have their own commands: ``python -m gocor_lite.cli.train`` (``make
train``) and ``python -m gocor_lite.cli.evaluate`` (``make evaluate``).

Convention: target pixel ``p`` matches source pixel ``p + flow(p)``, x then y, on the target's
grid, in pixels of the original images.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import cast

import torch

from gocor_lite.files.weights import SMALL_VARIANTS, SmallVariant

#: Subcommands of the retired coarse-to-fine pipeline, and where their work is done now.
_MOVED = {
    "train": "python -m gocor_lite.cli.train (make train)",
    "evaluate": "python -m gocor_lite.cli.evaluate (make evaluate)",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.cli.flow",
        description="Estimate the dense flow from TARGET to SOURCE with a GLU-Net: this "
        "project's GLU-Net-GOCor by default, the same network with feature correlation, or the "
        "authors' network from their checkpoint; draw it per level, or write the flow itself. "
        "(`python -m gocor_lite.cli.flow time --help`: the time per pair.)",
    )
    parser.add_argument("target", nargs="?", help="target image file (the flow's grid)")
    parser.add_argument("source", nargs="?", help="source image file")
    parser.add_argument("--example", help="a bundled pair instead of two files")
    parser.add_argument(
        "--out",
        default="flow.png",
        help="what to write, by its suffix: .flo (Middlebury) or .npy ((2, H, W) float32, x "
        "then y) for the flow itself, an image suffix such as .png for the picture (default "
        "flow.png)",
    )
    parser.add_argument(
        "--network",
        choices=SMALL_VARIANTS,
        default=None,
        help="this project's network: gocor (GLU-Net-GOCor, the default) or correlation "
        "(the same network with feature correlation)",
    )
    parser.add_argument(
        "--network-weights",
        type=Path,
        default=None,
        help="this project's small GLU-Net file (default the shipped one, made by `make train`)",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="the authors' released GLU-Net or GLU-Net-GOCor checkpoint (GLUNet_static.pth, "
        "GLUNet_GOCor_static.pth, ...): their network runs instead of this project's",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        nargs=2,
        metavar=("GLOBAL", "LOCAL"),
        default=(3, 3),
        help="GOCor's optimiser steps in the authors' GLU-Net-GOCor (default: 3 3, the paper's)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    parser.add_argument("--save-flow", type=Path, help="also save the flow (.flo or .npy)")
    parser.add_argument("--dpi", type=int, default=80, help="resolution of the picture")
    return parser


def _estimate(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)

    from gocor_lite.files.export import FLOW_SUFFIXES, write_flow
    from gocor_lite.files.images import read_image
    from gocor_lite.pictures.flow_colours import draw_glunet_flow

    if not args.example and not (args.target and args.source):
        parser.error("give TARGET and SOURCE image files, or --example NAME")
    if args.example and (args.target or args.source):
        parser.error("give TARGET and SOURCE image files or --example NAME, not both")
    if args.weights is not None and (args.network is not None or args.network_weights):
        parser.error(
            "--weights runs the authors' network: drop --network and --network-weights (they "
            "choose this project's)"
        )
    if args.save_flow and args.save_flow.suffix.lower() not in FLOW_SUFFIXES:
        parser.error(f"--save-flow must end in .flo or .npy, got {args.save_flow}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    true_flow = None
    try:
        if args.example:
            from gocor_lite.data.examples import load_example

            pair = load_example(args.example)
            target, source, true_flow = pair.target, pair.source, pair.flow
        else:
            target, source = read_image(args.target), read_image(args.source)
        if args.weights is not None:
            from gocor_lite.glunet.official import load_official_glunet

            global_iterations, local_iterations = args.iterations
            network = load_official_glunet(
                args.weights,
                global_iterations=global_iterations,
                local_iterations=local_iterations,
            )
            title = f"the authors' {network.config.name} ({args.weights.name})"
        else:
            from gocor_lite.files.weights import load_small_glunet

            variant = cast(SmallVariant, args.network or "gocor")
            network = load_small_glunet(variant, path=args.network_weights)
            kind = "GLU-Net-GOCor" if variant == "gocor" else "GLU-Net with feature correlation"
            title = f"this project's small {kind}"
        start = time.perf_counter()
        trace = network.trace(target, source, gocor_traces=False)
        seconds = time.perf_counter() - start
    except (ValueError, FileNotFoundError) as error:  # ImageError, CheckpointError: ValueErrors
        print(f"error: {error}", file=sys.stderr)
        return 1
    flow = trace.estimated_flow  # (1, 2, H_t, W_t), source pixels
    if Path(args.out).suffix.lower() in FLOW_SUFFIXES:
        write_flow(args.out, flow)  # the flow itself, not a picture
    else:
        figure = draw_glunet_flow(target, source, trace, true_flow, title=title)
        figure.savefig(args.out, dpi=args.dpi)
    if args.save_flow:
        write_flow(args.save_flow, flow)
    print(f"wrote {args.out} ({title}; the network took {seconds:.1f} s)")
    return 0


_NETWORKS = ("small", "small-correlation", "GLUNet", "GLUNet_GOCor")


def _time(argv: list[str]) -> int:
    import os
    import platform
    import statistics

    from gocor_lite.glunet.config import GLUNetConfig
    from gocor_lite.glunet.network import GLUNet
    from gocor_lite.glunet.official import load_official_glunet

    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.cli.flow time",
        description="Time GLU-Net's estimate_flow on one pair of random images (float32).",
    )
    parser.add_argument("--network", choices=_NETWORKS, default="small")
    parser.add_argument("--weights", type=Path, help="an authors' checkpoint (else random)")
    parser.add_argument("--size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    configs = {
        "small": GLUNetConfig.small(True),
        "small-correlation": GLUNetConfig.small(False),
        "GLUNet": GLUNetConfig.glunet(),
        "GLUNet_GOCor": GLUNetConfig.glunet_gocor(),
    }
    try:
        if args.weights is not None:
            network = load_official_glunet(args.weights)
            weights = str(args.weights)
        else:
            torch.manual_seed(0)
            network = GLUNet(configs[args.network]).eval()
            weights = "random weights"
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    width, height = args.size
    generator = torch.Generator().manual_seed(0)
    target, source = (
        torch.randint(0, 256, (1, 3, height, width), generator=generator, dtype=torch.uint8)
        for _ in range(2)
    )
    network.estimate_flow(target, source)  # warm-up
    seconds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        network.estimate_flow(target, source)
        seconds.append(time.perf_counter() - start)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"{network.config.name} ({weights}), {width}x{height}, float32, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}: median {statistics.median(seconds):.2f} s per pair "
        f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {args.repeat} runs; load average "
        f"{load} at the end)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "time":
        return _time(argv[1:])
    if argv and argv[0] in _MOVED and not Path(argv[0]).exists():
        print(
            f"error: `python -m gocor_lite.cli.flow {argv[0]}` belonged to the retired "
            f"coarse-to-fine pipeline; use {_MOVED[argv[0]]}",
            file=sys.stderr,
        )
        return 2
    return _estimate(argv)


if __name__ == "__main__":
    raise SystemExit(main())
