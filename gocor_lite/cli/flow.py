# SPDX-License-Identifier: MIT
"""Command line of the flow pipeline.

* ``python -m gocor_lite.flow TARGET SOURCE --out flow.png``: the flow between two images of
  any sizes, drawn per level (``--example NAME`` uses a bundled pair instead, with its true
  flow when known); ``--out flow.flo`` writes the flow itself as Middlebury ``.flo``,
  ``--out flow.npy`` as a ``(2, H, W)`` float32 array (:mod:`gocor_lite.export`);
* ``python -m gocor_lite.flow TARGET SOURCE --weights GLUNet_GOCor_static.pth``: the same with
  the authors' GLU-Net or GLU-Net-GOCor, from their released checkpoint, on the CPU
  (:func:`gocor_lite.glunet.load_official_glunet`);
* ``python -m gocor_lite.flow train``: train the decoders of every GOCor variant on synthetic
  warps (fixed seed, progress bar, resumable) and write ``assets/weights/flow_decoders.pt``;
* ``python -m gocor_lite.flow evaluate``: the same as ``python -m gocor_lite.evaluate`` (whose
  tables include the pipeline's ablation), written to ``docs/evaluation.md``;
* ``python -m gocor_lite.flow time --network GLUNet_GOCor --size 640 480``: the time per pair
  of a GLU-Net configuration (random weights unless ``--weights``; the time does not depend on
  the weights' values), median of a few runs after a warm-up run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

from gocor_lite.flow.config import ESTIMATORS, VARIANTS, FlowConfig
from gocor_lite.flow.pipeline import CoarseToFineFlow, estimate_flow
from gocor_lite.training.decoders import TrainingRun, train_flow_decoders

_THREADS_HELP = (
    "torch threads (default 1: these small operations gain little from more, and on a busy "
    "2-core machine more threads made training 30x slower)"
)


def _estimate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.flow",
        description="Estimate the dense flow from TARGET to SOURCE (coarse to fine, GLU-Net "
        "style) and draw it per level. Subcommands: train, evaluate.",
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
        "--variant", choices=VARIANTS, default=None, help="where GOCor is used (default: gocor)"
    )
    parser.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default=None,
        help="argmax or soft-argmax (training-free), decoder (shipped weights); default argmax",
    )
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="the authors' released GLU-Net or GLU-Net-GOCor checkpoint (GLUNet_static.pth, "
        "GLUNet_GOCor_static.pth, ...: their network runs instead of this project's pipeline); "
        "with --estimator decoder, a decoder weights file of this project instead",
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
    args = parser.parse_args(argv)

    from gocor_lite.export import FLOW_SUFFIXES, write_flow
    from gocor_lite.images import read_image
    from gocor_lite.pictures.flow import draw_flow

    true_flow = None
    if not args.example and not (args.target and args.source):
        parser.error("give TARGET and SOURCE image files, or --example NAME")
    authors = args.weights is not None and args.estimator != "decoder"
    if authors and (args.estimator is not None or args.variant is not None):
        parser.error(
            "--weights without --estimator decoder runs the authors' network, which has its own "
            "estimator and GOCor variant: drop --estimator and --variant"
        )
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.variant = args.variant or "gocor"
    args.estimator = args.estimator or "argmax"
    if args.save_flow and args.save_flow.suffix.lower() not in FLOW_SUFFIXES:
        parser.error(f"--save-flow must end in .flo or .npy, got {args.save_flow}")
    try:
        if args.example:
            from gocor_lite.data.examples import load_example

            pair = load_example(args.example)
            target, source, true_flow = pair.target, pair.source, pair.flow
        else:
            target, source = read_image(args.target), read_image(args.source)
        if authors:
            return _estimate_authors(args, target, source, true_flow)
        config = FlowConfig(estimator=args.estimator).with_variant(args.variant)
        model = CoarseToFineFlow(config)
        if args.estimator == "decoder":
            model.load_decoders(args.weights)
        start = time.perf_counter()
        result = estimate_flow(target, source, model=model)
        seconds = time.perf_counter() - start
    except (ValueError, FileNotFoundError) as error:  # ImageError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 1
    title = f"GOCor variant '{args.variant}', estimator '{args.estimator}'"
    if Path(args.out).suffix.lower() in FLOW_SUFFIXES:
        write_flow(args.out, result.flow)  # the flow itself, not a picture
    else:
        draw_flow(target, source, result, true_flow, title=title).savefig(args.out, dpi=args.dpi)
    if args.save_flow:
        write_flow(args.save_flow, result.flow)
    print(f"wrote {args.out} ({title}; the flow took {seconds:.1f} s)")
    return 0


def _estimate_authors(args: Any, target: Any, source: Any, true_flow: Any) -> int:
    """The authors' GLU-Net (-GOCor) from their checkpoint: the flow, drawn per level."""
    from gocor_lite.glunet.official import load_official_glunet
    from gocor_lite.pictures.flow import draw_glunet_flow

    global_iterations, local_iterations = args.iterations
    network = load_official_glunet(
        args.weights, global_iterations=global_iterations, local_iterations=local_iterations
    )
    start = time.perf_counter()
    trace = network.trace(target, source)
    seconds = time.perf_counter() - start
    title = f"the authors' {network.config.name} ({args.weights.name})"
    from gocor_lite.export import FLOW_SUFFIXES, write_flow

    if Path(args.out).suffix.lower() in FLOW_SUFFIXES:
        write_flow(args.out, trace.estimated_flow)  # the flow itself, not a picture
    else:
        figure = draw_glunet_flow(target, source, trace, true_flow, title=title)
        figure.savefig(args.out, dpi=args.dpi)
    if args.save_flow:
        write_flow(args.save_flow, trace.estimated_flow)
    print(f"wrote {args.out} ({title}; the network took {seconds:.1f} s)")
    return 0


def _train(argv: list[str]) -> int:
    from tqdm import tqdm

    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.flow train",
        description="Train the flow decoders of every GOCor variant on synthetic warps.",
    )
    defaults = TrainingRun()
    parser.add_argument("--pairs", type=int, default=defaults.pairs, help="synthetic pairs")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="steps per variant")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out/weights/flow_decoders.pt"),
        help="decoder weights to write (default out/weights/flow_decoders.pt; the shipped "
        "file is written only when named here)",
    )
    parser.add_argument(
        "--checkpoint", type=Path, default=Path("out/flow_training.pt"), help="resumable state"
    )
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    parser.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = TrainingRun(
        pairs=args.pairs, steps=args.steps, seed=args.seed, variants=tuple(args.variants)
    )
    bars: dict[str, Any] = {}

    def progress(key: str, step: int, steps: int, loss: float) -> None:
        if key not in bars:
            for bar in bars.values():
                bar.close()
            bars[key] = tqdm(total=steps, initial=step, desc=key, unit="step")
        bars[key].update(1)
        bars[key].set_postfix(loss=f"{loss:.2f}")

    def log(message: str) -> None:
        (tqdm.write if bars else print)(message)

    try:
        train_flow_decoders(
            run, args.out, args.checkpoint, resume=args.resume, progress=progress, log=log
        )
    except ValueError as error:
        parser.error(str(error))
    finally:
        for bar in bars.values():
            bar.close()
    return 0


def _evaluate(argv: list[str]) -> int:
    """An alias: the flow pipeline's ablation is part of ``python -m gocor_lite.evaluate``."""
    from gocor_lite.cli.evaluate import main as evaluate

    return evaluate(argv)


_NETWORKS = ("small", "small-correlation", "GLUNet", "GLUNet_GOCor")


def _time(argv: list[str]) -> int:
    import os
    import platform
    import statistics

    from gocor_lite.glunet.config import GLUNetConfig
    from gocor_lite.glunet.network import GLUNet
    from gocor_lite.glunet.official import load_official_glunet

    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.flow time",
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
    if argv and argv[0] == "train":
        return _train(argv[1:])
    if argv and argv[0] == "evaluate":
        return _evaluate(argv[1:])
    return _estimate(argv)
