# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.cli.evaluate``: the evaluation of :mod:`gocor_lite.evaluation`, printed
and written to ``docs/evaluation.md``.

The flow rows come from this project's small GLU-Net-GOCor and GLU-Net (``--network-weights``,
default the shipped :data:`gocor_lite.files.weights.SMALL_GLUNET`; while it is missing the command
says to run ``make train`` and measures the rest), the authors' networks from the files given
to ``--official-weights``, and the peers."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import torch

from gocor_lite.core.features import default_extractor_name, make_extractor
from gocor_lite.evaluation.networks import EvaluatedNetwork, official_networks, project_networks
from gocor_lite.evaluation.peers import opencv_available
from gocor_lite.evaluation.report import report, run_evaluation
from gocor_lite.evaluation.sets import EVALUATION_SETS
from gocor_lite.files.weights import SMALL_GLUNET, TRAINED_GOCOR


def _rules_section(extractors: dict[str, Any], args: argparse.Namespace, progress: Any) -> str:
    """The matching rules on the held-out sets, their calibration figure beside ``--out``."""
    from gocor_lite.evaluation.rule_scores import held_out_rules, rules_section
    from gocor_lite.pictures.matching_rules import draw_calibration

    default = default_extractor_name()
    name = default if default in extractors else next(iter(extractors))
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


def _ambiguity_section(extractors: dict[str, Any], args: argparse.Namespace) -> str:
    """Correlation against trained GOCor on the real pairs, their cells split by
    correlation's peak ratio (the default features, or the first extractor)."""
    from gocor_lite.data.pairs import resize_pair
    from gocor_lite.data.real import load_real_pair, real_pair_available
    from gocor_lite.evaluation.rule_scores import ambiguity_section, ambiguity_split
    from gocor_lite.evaluation.sets import REAL_SETS, REAL_SIDE
    from gocor_lite.files.weights import gocor_module
    from gocor_lite.gocor.modules import GlobalGOCor

    default = default_extractor_name()
    name = default if default in extractors else next(iter(extractors))
    module, trained = gocor_module("global", name, path=args.gocor_weights)
    if not trained or not isinstance(module, GlobalGOCor):
        return ""
    splits = {
        pair: ambiguity_split(
            resize_pair(load_real_pair(pair), REAL_SIDE), extractors[name], module
        )
        for set_name, pair in REAL_SETS.items()
        if set_name in args.sets and real_pair_available(pair)
    }
    return ambiguity_section(splits, name) if splits else ""


def _networks(args: argparse.Namespace) -> tuple[list[EvaluatedNetwork], list[str]]:
    """The networks to measure, and notes for the report: the project's file where it is (a
    missing default file is a note saying to run ``make train``; a missing named file an
    error), then the authors' files."""
    if args.no_methods:
        return [], []
    networks, notes = [], []
    try:
        networks += project_networks(args.network_weights)
    except FileNotFoundError as error:
        if args.network_weights is not None:
            raise
        notes.append(
            f"this project's GLU-Net weights ({SMALL_GLUNET.name}) are not there yet: run "
            "`make train`, then this command again; the peers were measured without them."
        )
        print(f"note: {error}; measuring the rest without it", file=sys.stderr)
    networks += official_networks(args.official_weights)
    return networks, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.cli.evaluate",
        description="Measure this project's GLU-Net-GOCor and GLU-Net (and the authors' networks "
        "from files you give) against OpenCV's DIS and Farneback and zero flow, GLU-Net against "
        "GLU-Net-GOCor (the GOCor paper's ablation, with the global level's cell accuracy), "
        "global and local correlation against GOCor (paper-initial and trained parameters, "
        "iterations 0/1/3/7) and the matching rules (with their calibration curves), on held-out "
        "synthetic warps, held-out real photographs (also moved by at most 3 px) and real pairs "
        "with ground truth (Middlebury motorcycle and aloe, Oxford graffiti); print the tables "
        "and write them to --out.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("docs/evaluation.md"), help="markdown file to write"
    )
    parser.add_argument(
        "--extractors",
        nargs="*",
        default=["xfeat", "learned", "daisy"],
        help="extractors that need no file (default: xfeat learned daisy; none: only the files "
        "below)",
    )
    parser.add_argument(
        "--network-weights",
        type=Path,
        default=None,
        help="this project's small GLU-Net file (default the shipped "
        f"{SMALL_GLUNET.name}, made by `make train`; while it is missing, the rest is measured)",
    )
    parser.add_argument(
        "--official-weights",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="the authors' released GLU-Net or GLU-Net-GOCor checkpoints (GLUNet_static.pth, "
        "GLUNet_GOCor_static.pth, ...), any number: each adds its flow rows",
    )
    parser.add_argument(
        "--vgg16", type=Path, help="also VGG-16 features in the volumes (torchvision weights)"
    )
    parser.add_argument(
        "--official-glunet-gocor",
        type=Path,
        help="also the authors' GLU-Net-GOCor pyramid as features in the volumes",
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
        "--no-methods",
        action="store_true",
        help="skip the flow (networks and peers) and the ablation",
    )
    parser.add_argument(
        "--no-rules",
        action="store_true",
        help="skip the matching rules' section (the default features, or the first extractor; none "
        "without extractors) and its calibration figure (written beside --out as "
        "rules_calibration.png)",
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
        networks, notes = _networks(args)
        if not extractors and args.no_methods:
            parser.error("nothing to evaluate: name extractors, or drop --no-methods")
        rules = not args.no_rules and bool(extractors)  # the rules read an extractor's volumes
        per_set = len(extractors) + (0 if args.no_methods else 1) + (1 if networks else 0)
        steps = len(args.sets) * per_set + rules
        with tqdm(total=steps, unit="part") as bar:

            def progress(message: str) -> None:
                bar.set_description(message)
                bar.update(1)

            evaluation = run_evaluation(
                {name: extractor.eval() for name, extractor in extractors.items()},
                pairs_per_image=args.pairs_per_image,
                sets=args.sets,
                gocor_weights=args.gocor_weights,
                networks=networks,
                methods=[] if args.no_methods else None,
                notes=notes,
                progress=progress,
            )
            sections = [_rules_section(extractors, args, progress)] if rules else []
            if rules:
                sections.append(_ambiguity_section(extractors, args))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m gocor_lite.cli.evaluate", *given])
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


if __name__ == "__main__":
    raise SystemExit(main())
