# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.evaluate``: the evaluation of :mod:`gocor_lite.evaluation`, printed
and written to ``docs/evaluation.md``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import torch

from gocor_lite.evaluation.peers import opencv_available
from gocor_lite.evaluation.report import report, run_evaluation
from gocor_lite.evaluation.sets import EVALUATION_SETS
from gocor_lite.features import make_extractor
from gocor_lite.weights import FLOW_DECODERS, TRAINED_GOCOR


def _rules_section(extractors: dict[str, Any], args: argparse.Namespace, progress: Any) -> str:
    """The matching rules on the held-out sets, their calibration figure beside ``--out``."""
    from gocor_lite.evaluation.rules import held_out_rules, rules_section
    from gocor_lite.pictures.rules import draw_calibration

    name = "learned" if "learned" in extractors else next(iter(extractors))
    progress(f"{name}: matching rules")
    rules = held_out_rules(
        extractors[name],
        args.sets,
        pairs_per_image=args.pairs_per_image,
        gocor_weights=args.gocor_weights,
    )
    figure = args.out.with_name("rules_calibration.png")
    figure.parent.mkdir(parents=True, exist_ok=True)
    draw_calibration(rules).savefig(figure, dpi=72)
    return rules_section(rules, figure.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.evaluate",
        description="Measure global and local correlation, GOCor (paper-initial and trained "
        "parameters, iterations 0/1/3/7), the flow pipeline, the matching rules (with their "
        "calibration curves), and the flow against its peers (OpenCV's DIS and Farneback, zero "
        "flow), on held-out synthetic warps, held-out real photographs and real pairs with ground "
        "truth (Middlebury motorcycle and aloe, Oxford graffiti); print the tables and write them "
        "to --out.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("docs/evaluation.md"), help="markdown file to write"
    )
    parser.add_argument(
        "--extractors",
        nargs="*",
        default=["learned", "daisy"],
        help="extractors that need no file (default: learned daisy; none: only the files below)",
    )
    parser.add_argument("--vgg16", type=Path, help="also VGG-16 (torchvision weights file)")
    parser.add_argument(
        "--official-glunet-gocor", type=Path, help="also the authors' GLU-Net-GOCor pyramid"
    )
    parser.add_argument(
        "--pairs-per-image", type=int, default=4, help="pairs per held-out image (default 4)"
    )
    parser.add_argument(
        "--sets",
        nargs="+",
        choices=EVALUATION_SETS,
        default=list(EVALUATION_SETS),
        help=f"default: all ({' '.join(EVALUATION_SETS)}); those not installed are skipped",
    )
    parser.add_argument(
        "--gocor-weights",
        type=Path,
        default=TRAINED_GOCOR,
        help="trained GOCor parameters (default assets/weights/gocor_trained.pt)",
    )
    parser.add_argument(
        "--decoder-weights",
        type=Path,
        default=FLOW_DECODERS,
        help="flow decoders (default assets/weights/flow_decoders.pt)",
    )
    parser.add_argument("--no-flow", action="store_true", help="skip the flow pipeline rows")
    parser.add_argument(
        "--no-methods", action="store_true", help="skip the table of peers and ours"
    )
    parser.add_argument(
        "--no-rules",
        action="store_true",
        help="skip the matching rules' section (learned features, or the first extractor) and "
        "its calibration figure (written beside --out as rules_calibration.png)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch and OpenCV threads (default 1)"
    )
    args = parser.parse_args(argv)
    if args.pairs_per_image < 1:
        parser.error("--pairs-per-image must be >= 1")
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    if opencv_available():
        import cv2

        cv2.setNumThreads(args.threads)  # the peers on the same footing as ours
    from tqdm import tqdm

    try:
        extractors: dict[str, Any] = {name: make_extractor(name) for name in args.extractors}
        if args.vgg16 is not None:
            extractors["vgg16"] = make_extractor("vgg16", weights=args.vgg16)
        if args.official_glunet_gocor is not None:
            extractors["official-glunet-gocor"] = make_extractor(
                "official-glunet-gocor", weights=args.official_glunet_gocor, layer="pool3"
            )
        if not extractors:
            parser.error("no extractor to evaluate: name some, or pass a weights file")
        steps = len(args.sets) * (
            len(extractors) * (1 if args.no_flow else 2) + (0 if args.no_methods else 1)
        ) + (not args.no_rules)
        with tqdm(total=steps, unit="part") as bar:

            def progress(message: str) -> None:
                bar.set_description(message)
                bar.update(1)

            evaluation = run_evaluation(
                {name: extractor.eval() for name, extractor in extractors.items()},
                pairs_per_image=args.pairs_per_image,
                sets=args.sets,
                gocor_weights=args.gocor_weights,
                decoder_weights=args.decoder_weights,
                flow=not args.no_flow,
                methods=[] if args.no_methods else None,
                progress=progress,
            )
            sections = [] if args.no_rules else [_rules_section(extractors, args, progress)]
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m gocor_lite.evaluate", *given])
    cores = os.cpu_count() or 0
    machine = (
        f"Load average (processes wanting a core, over 1 min) {load_before:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end, on {cores} cores: times (and the ms per pair "
        "below) grow with it, for every method alike."
    )
    text = report(evaluation, command, sections, threads=args.threads, machine=machine)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"wrote {args.out}")
    return 0
