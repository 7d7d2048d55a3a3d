# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.train``: every trained weight the project ships, in one command.

Two stages, self-supervised on synthetic warps of the training images of
:mod:`gocor_lite.data.split` (held-out images never seen), fixed seed, resumable (``--resume``):

1. ``features``: the ``learned`` extractor -> ``learned_features.pt``;
2. ``gocor``: GOCor's learned parameters (global and local) on the frozen features of each
   extractor of ``--gocor-extractors`` -> ``gocor_trained.pt``.

Then ``TRAINING.md`` beside them: the card (command, data, steps, time, losses). The library
functions are in :mod:`gocor_lite.training`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gocor_lite.data.split import HELD_OUT, TRAIN_IMAGES
from gocor_lite.features import LearnedExtractor, make_extractor
from gocor_lite.training.features import FeatureTraining, train_features
from gocor_lite.training.gocor import GOCorTraining, train_gocor
from gocor_lite.weights import (
    LEARNED_FEATURES,
    TRAINED_GOCOR,
    TRAINING_CARD,
    WEIGHTS_DIR,
    save_trained_gocor,
)

STAGES = ("features", "gocor")
FEATURES_FILE = LEARNED_FEATURES.name
GOCOR_FILE = TRAINED_GOCOR.name
CARD_FILE = TRAINING_CARD.name


@dataclass
class StageReport:
    """What the card says about one trained thing."""

    name: str
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)

    def loss_line(self) -> str:
        if not self.losses:
            return "no steps run (resumed after the end)"
        tenth = max(1, len(self.losses) // 10)
        head = sum(self.losses[:tenth]) / tenth
        tail = sum(self.losses[-tenth:]) / tenth
        return f"{head:.3f} (first {tenth} steps) -> {tail:.3f} (last {tenth})"


def _bar(description: str) -> Any:
    from tqdm import tqdm

    state: dict[str, Any] = {}

    def progress(step: int, steps: int, loss: float) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=steps, initial=step, desc=description, unit="step")
        state["bar"].update(1)
        state["bar"].set_postfix(loss=f"{loss:.3f}")
        if step + 1 == steps:
            state["bar"].close()

    return progress


def _parser() -> argparse.ArgumentParser:
    features, gocor = FeatureTraining(), GOCorTraining()
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.train",
        description="Train the project's weights on synthetic warps of the skimage training "
        f"images ({', '.join(TRAIN_IMAGES)}; held out: "
        f"{', '.join(name for names in HELD_OUT.values() for name in names)}): the learned "
        "features and GOCor's parameters on them. About 10 minutes on a 2-core CPU; same seed "
        "and thread count give the same weights bit for bit.",
    )
    parser.add_argument(
        "--stages", nargs="+", choices=STAGES, default=list(STAGES), help="what to train"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("out/weights"),
        help="weights directory to write (default out/weights; the shipped weights are never "
        "overwritten unless --refresh-shipped is given)",
    )
    parser.add_argument(
        "--refresh-shipped",
        action="store_true",
        help=f"write into the package's shipped weights ({WEIGHTS_DIR}) instead of --out",
    )
    parser.add_argument(
        "--checkpoints",
        type=Path,
        default=Path("out/train"),
        help="where each stage saves its resumable state (default out/train)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue each stage from its checkpoint"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every stage (default 0)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: bit-identical results need the same count, and on a "
        "busy 2-core machine more threads were slower)",
    )
    counts = (  # (option, default, what it counts)
        (
            "--feature-steps",
            features.steps,
            f"steps of the features ({features.batch_size} fresh pairs each)",
        ),
        ("--gocor-steps", gocor.steps, "steps of GOCor's parameters per extractor"),
        ("--gocor-pairs", gocor.pairs, "cached pairs GOCor trains on"),
        ("--card-pairs", 2, "held-out pairs per image for the card's key metrics, 0 for none"),
    )
    for option, default, what in counts:
        parser.add_argument(option, type=int, default=default, help=f"{what} (default {default})")
    parser.add_argument(
        "--gocor-extractors",
        nargs="+",
        default=["learned", "daisy"],
        help="features GOCor's parameters are trained for (default: learned daisy)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    out = WEIGHTS_DIR if args.refresh_shipped else args.out
    checkpoints = args.checkpoints
    started = time.perf_counter()
    reports: list[StageReport] = []
    try:
        if "features" in args.stages:
            settings = FeatureTraining(steps=args.feature_steps, seed=args.seed)
            begin = time.perf_counter()
            extractor, losses = train_features(
                settings,
                checkpoint=checkpoints / "features.pt",
                resume=args.resume,
                progress=_bar("features"),
            )
            extractor.save_weights(out / FEATURES_FILE)
            reports.append(
                StageReport("learned features", settings.steps, time.perf_counter() - begin, losses)
            )
        if "gocor" in args.stages:
            gocor_settings = GOCorTraining(
                steps=args.gocor_steps, pairs=args.gocor_pairs, seed=args.seed
            )
            modules = {}
            for name in args.gocor_extractors:
                begin = time.perf_counter()
                if name == "learned":
                    extractor_used: Any = LearnedExtractor(out / FEATURES_FILE)
                else:
                    extractor_used = make_extractor(name)
                trained = train_gocor(
                    extractor_used,
                    gocor_settings,
                    checkpoint=checkpoints / f"gocor_{name}.pt",
                    resume=args.resume,
                    progress=_bar(f"GOCor on {name}"),
                )
                modules[name] = (trained.global_module, trained.local_module)
                reports.append(
                    StageReport(
                        f"GOCor parameters on {name} features",
                        gocor_settings.steps,
                        time.perf_counter() - begin,
                        trained.losses,
                    )
                )
            save_trained_gocor(
                out / GOCOR_FILE,
                modules,
                command="python -m gocor_lite.train",
                settings=gocor_settings,
            )
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    total = time.perf_counter() - started
    metrics = key_metrics(out, args.card_pairs) if args.card_pairs > 0 else ""
    card = training_card(args, reports, total, metrics)
    (out / CARD_FILE).write_text(card)
    print(card)
    return 0


def key_metrics(out: Path, pairs_per_image: int = 2) -> str:
    """A quick held-out check of the weights in ``out`` for the card: matches within one cell
    of the learned features' global correlation and GOCor (3 iterations), initial and trained
    parameters, on a few pairs of the held-out synthetic sets (``docs/evaluation.md`` has more).
    """
    from gocor_lite.evaluation.report import run_evaluation, summary_table

    if not (out / FEATURES_FILE).is_file():
        return ""
    sets = ("natural", "repeated")
    evaluation = run_evaluation(
        {"learned": LearnedExtractor(out / FEATURES_FILE).eval()},
        pairs_per_image=pairs_per_image,
        sets=sets,
        gocor_weights=out / GOCOR_FILE,
        methods=[],
    )
    return (
        f"Key metrics, on {pairs_per_image} held-out pairs per image of the `natural` and "
        "`repeated` sets (the best score of each target cell as its match; PCK-cell: % within "
        "one 8-pixel cell, AEPE in pixels; the full table is `docs/evaluation.md`):\n\n"
        + summary_table(evaluation.volumes, sets)
        + "\n"
    )


def training_card(
    args: argparse.Namespace, reports: list[StageReport], seconds: float, metrics: str = ""
) -> str:
    """The markdown card written beside the weights."""
    command = "python -m gocor_lite.train" + (
        "" if sys.argv[1:] == [] else " " + " ".join(sys.argv[1:])
    )
    lines = [
        "# Trained weights: how they were made",
        "",
        f"Written by `{command}` (seed {args.seed}, {args.threads} torch thread(s)) in "
        f"{seconds:.0f} s on this machine (2 shared CPU cores; timings vary with the load). "
        "Rerunning the command with the same seed and thread count writes the same tensors bit "
        "for bit.",
        "",
        f"Data: synthetic warps (homography, affine, thin-plate spline, photometric changes; "
        f"`gocor_lite.data.synthetic`) of the scikit-image images {', '.join(TRAIN_IMAGES)} "
        "(`gocor_lite.data.split.TRAIN_IMAGES`). Never seen in training: "
        f"{', '.join(name for names in HELD_OUT.values() for name in names)} and the "
        "stereo pair, which `python -m gocor_lite.evaluate` measures on (`docs/evaluation.md`).",
        "",
        "| what | steps | time (s) | loss |",
        "|---|---:|---:|---|",
    ]
    for report in reports:
        lines.append(
            f"| {report.name} | {report.steps} | {report.seconds:.0f} | {report.loss_line()} |"
        )
    lines += [
        "",
        "Losses: the features and GOCor, the cross-entropy of the volume's softmax against a "
        "Gaussian around the true match (`gocor_lite.supervision.match_loss`; GOCor: global plus "
        "local).",
        "",
    ]
    if metrics:
        lines += [metrics]
    return "\n".join(lines)
