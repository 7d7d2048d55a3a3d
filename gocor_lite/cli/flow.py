# SPDX-License-Identifier: MIT
"""Command line of the flow pipeline.

* ``python -m gocor_lite.flow TARGET SOURCE --out flow.png``: the flow between two images of
  any sizes, drawn per level (``--example NAME`` uses a bundled pair instead, with its true
  flow when known); ``--out flow.flo`` writes the flow itself as Middlebury ``.flo``,
  ``--out flow.npy`` as a ``(2, H, W)`` float32 array (:mod:`gocor_lite.export`);
* ``python -m gocor_lite.flow train``: train the decoders of every GOCor variant on synthetic
  warps (fixed seed, progress bar, resumable) and write ``assets/weights/flow_decoders.pt``;
* ``python -m gocor_lite.flow evaluate``: the same as ``python -m gocor_lite.evaluate`` (whose
  tables include the pipeline's ablation), written to ``docs/evaluation.md``.
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
        "--variant", choices=VARIANTS, default="gocor", help="where GOCor is used (default: gocor)"
    )
    parser.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default="argmax",
        help="argmax or soft-argmax (training-free), decoder (shipped weights); default argmax",
    )
    parser.add_argument("--weights", type=Path, default=None, help="decoder weights file")
    parser.add_argument("--save-flow", type=Path, help="also save the flow (.flo or .npy)")
    parser.add_argument("--dpi", type=int, default=80, help="resolution of the picture")
    args = parser.parse_args(argv)

    from gocor_lite.export import FLOW_SUFFIXES, write_flow
    from gocor_lite.images import read_image
    from gocor_lite.pictures.flow import draw_flow

    true_flow = None
    if not args.example and not (args.target and args.source):
        parser.error("give TARGET and SOURCE image files, or --example NAME")
    if args.save_flow and args.save_flow.suffix.lower() not in FLOW_SUFFIXES:
        parser.error(f"--save-flow must end in .flo or .npy, got {args.save_flow}")
    try:
        if args.example:
            from gocor_lite.data.examples import load_example

            pair = load_example(args.example)
            target, source, true_flow = pair.target, pair.source, pair.flow
        else:
            target, source = read_image(args.target), read_image(args.source)
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":
        return _train(argv[1:])
    if argv and argv[0] == "evaluate":
        return _evaluate(argv[1:])
    return _estimate(argv)
