# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.cli.train``: every trained weight the project ships, in one command.

Three stages, self-supervised on synthetic warps of real photographs
(:mod:`gocor_lite.data.photos`: the training split; no evaluation image is ever seen), fixed
seed, resumable (``--resume``), progress bars:

1. ``features``: the ``learned`` extractor (the explorer's and the course's features) ->
   ``learned_features.pt``;
2. ``gocor``: GOCor's learned parameters (global and local) on the frozen features of each
   extractor of ``--gocor-extractors`` -> ``gocor_trained.pt``;
3. ``network``: this project's GLU-Net on XFeat's pretrained, frozen backbone, with GOCor
   inside (GLU-Net-GOCor) and with feature correlation (GLU-Net): the shared start of the
   correlation network, then each variant to the end (:mod:`gocor_lite.training.small_glunet`) ->
   the network file. ``--network-pyramid small`` trains the older CPU-sized pyramid from
   scratch first instead (its pyramid phase).

Then ``TRAINING.md`` beside them: the card (command, machine, data, steps, time, losses).
Under ``torchrun --nproc_per_node=N -m gocor_lite.cli.train --stages network`` the network trains
data-parallel (:mod:`gocor_lite.training.distributed`).
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from gocor_lite.core.features import LearnedExtractor, make_extractor
from gocor_lite.data.photos import (
    HELD_OUT_PHOTOS,
    available_training_photos,
    held_out_pairs,
    held_out_shift_pairs,
)
from gocor_lite.files.weights import (
    LEARNED_FEATURES,
    SMALL_GLUNET,
    TRAINED_GOCOR,
    TRAINING_CARD,
    WEIGHTS_DIR,
    save_small_glunet,
    save_trained_gocor,
)
from gocor_lite.glunet.config import XFEAT_MAX_WORKING_SIDE
from gocor_lite.training.distributed import Workers, leave, workers_from_environment
from gocor_lite.training.extractor import FeatureTraining, train_features
from gocor_lite.training.gocor import GOCorTraining, train_gocor
from gocor_lite.training.small_glunet import (
    NetworkTraining,
    carry_over,
    endpoint_loss,
    fresh_network,
    held_out_errors,
    train_network,
    zero_flow_error,
)

STAGES = ("features", "gocor", "network")
FEATURES_FILE = LEARNED_FEATURES.name
GOCOR_FILE = TRAINED_GOCOR.name
NETWORK_FILE = SMALL_GLUNET.name
CARD_FILE = TRAINING_CARD.name
PYRAMID_LEARNING_RATE = 2e-3  # the pyramid phase's Adam (decayed to a tenth)
#: ``--quick``: every stage end to end in about a minute (CI proves the command with it).
#: The network stage's defaults: the shared correlation start, then each variant to the end.
NETWORK_SHARED_STEPS = 600
NETWORK_STEPS = 1100
QUICK = {
    "feature_steps": 4,
    "gocor_steps": 3,
    "gocor_pairs": 8,
    "network_pyramid_steps": 2,
    "network_shared_steps": 2,
    "network_steps": 3,
    "network_batch": 2,
    "card_pairs": 0,
}


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


def _bar(description: str, workers: Workers) -> Any:
    """A tqdm progress bar for a stage (the leader's only)."""
    from tqdm import tqdm

    if not workers.leader:
        return None
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
    features, gocor, network = FeatureTraining(), GOCorTraining(), NetworkTraining()
    parser = argparse.ArgumentParser(
        prog="python -m gocor_lite.cli.train",
        description="Train the project's weights on synthetic warps of real photographs "
        "(gocor_lite.data.photos' training split; held out: the evaluation pairs and "
        f"{len(HELD_OUT_PHOTOS)} photographs): the learned features, GOCor's parameters on "
        "them, and the small GLU-Net with and without GOCor. About an hour on a 2-core CPU "
        "(TRAINING.md states the measured time). Under torchrun --nproc_per_node=N (with "
        "--stages network) the network trains data-parallel.",
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
        default=None,
        help="torch threads per process (default 2, or 1 under torchrun); the card records it",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few steps of every stage (about a minute): proves the command end to end; the "
        "weights are not useful",
    )
    counts = (  # (option, default, what it counts)
        (
            "--feature-steps",
            features.steps,
            f"steps of the features ({features.batch_size} fresh pairs each)",
        ),
        ("--gocor-steps", gocor.steps, "steps of GOCor's parameters per extractor"),
        ("--gocor-pairs", gocor.pairs, "cached pairs GOCor trains on"),
        (
            "--network-pyramid-steps",
            700,
            "steps of the small pyramid's phase (--network-pyramid small)",
        ),
        (
            "--network-shared-steps",
            NETWORK_SHARED_STEPS,
            "steps of the correlation network that both variants start from",
        ),
        (
            "--network-steps",
            NETWORK_STEPS,
            "network steps of each variant, the shared ones included",
        ),
        ("--network-batch", network.batch_size, "pairs per network step (all processes)"),
        ("--card-pairs", 1, "held-out pairs per photograph for the card's checks, 0 for none"),
    )
    for option, default, what in counts:
        parser.add_argument(option, type=int, default=default, help=f"{what} (default {default})")
    parser.add_argument(
        "--gocor-extractors",
        nargs="+",
        default=["xfeat", "learned", "daisy"],
        help="features GOCor's parameters are trained for (default: xfeat learned daisy)",
    )
    parser.add_argument(
        "--network-pyramid",
        choices=("xfeat", "small"),
        default="xfeat",
        help="the network's features: XFeat's pretrained backbone (default) or the small "
        "pyramid trained from scratch",
    )
    parser.add_argument(
        "--small-motion",
        type=float,
        default=0.25,
        help="share of each network batch moved by a few pixels (default 0.25)",
    )
    parser.add_argument(
        "--wide-motion",
        type=float,
        default=0.4,
        help="share of each network batch with wide warps: shifts up to half the image, "
        "rotations to 30 degrees, strong perspective (default 0.4; the rest GLU-Net's warps)",
    )
    parser.add_argument(
        "--network-variants",
        nargs="+",
        choices=("gocor", "correlation"),
        default=["gocor", "correlation"],
        help="which small GLU-Nets to train (default both)",
    )
    return parser


def _settings(args: argparse.Namespace) -> argparse.Namespace:
    """``--quick`` and the thread default applied."""
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.network_shared_steps > args.network_steps:
        raise ValueError("--network-shared-steps must not exceed --network-steps")
    return args


def train_small_glunet(
    args: argparse.Namespace, workers: Workers, reports: list[StageReport]
) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The network stage: pyramid phase, the shared correlation start, each variant to the end.
    Returns ``{variant: (network, GLUNetConfig.small arguments)}``."""
    xfeat = args.network_pyramid == "xfeat"
    base = NetworkTraining(
        variant="correlation",
        batch_size=args.network_batch,
        seed=args.seed,
        steps=args.network_steps,
        pyramid=args.network_pyramid,
        max_working_side=XFEAT_MAX_WORKING_SIDE if xfeat else None,
        freeze_pyramid=not xfeat,  # XFeat's backbone is frozen; its stride-4 adapter trains
        small_motion=args.small_motion,
        wide_motion=args.wide_motion,
    )
    network = fresh_network(base)
    if not xfeat:  # the small pyramid learns to match first (XFeat's was trained by its authors)
        pyramid = replace(
            base,
            phase="pyramid",
            steps=args.network_pyramid_steps,
            learning_rate=PYRAMID_LEARNING_RATE,
            final_learning_rate=PYRAMID_LEARNING_RATE / 10,
        )
        network = _phase(args, workers, reports, pyramid, network, "pyramid", "network pyramid")

    shared = replace(base, steps=args.network_shared_steps, schedule_steps=args.network_steps)
    network = _phase(
        args, workers, reports, shared, network, "shared", "network shared start (correlation)"
    )

    trained: dict[str, tuple[Any, dict[str, Any]]] = {}
    for variant in args.network_variants:
        settings = replace(base, variant=variant, first_step=shared.steps)
        start = copy.deepcopy(network)
        if variant == "gocor":
            start = carry_over(start, fresh_network(settings))
        title = f"network {variant} (steps {shared.steps}..{settings.steps - 1})"
        result = _phase(args, workers, reports, settings, start, variant, title)
        trained[variant] = (result, settings.config_arguments())
    return trained


def _phase(
    args: argparse.Namespace,
    workers: Workers,
    reports: list[StageReport],
    settings: NetworkTraining,
    network: Any,
    name: str,
    title: str,
) -> Any:
    """One resumable phase of the network stage (checkpoint ``network_<name>.pt``, a progress
    bar, a line of the card titled ``title``); returns the trained network."""
    begin = time.perf_counter()
    network, losses = train_network(
        settings,
        network,
        checkpoint=args.checkpoints / f"network_{name}.pt",
        resume=args.resume,
        progress=_bar(f"network: {name}", workers),
        workers=workers,
    )
    steps = settings.steps - settings.first_step
    reports.append(StageReport(title, steps, _since(begin), losses))
    return network


def _since(begin: float) -> float:
    return time.perf_counter() - begin


def main(argv: list[str] | None = None) -> int:
    workers = workers_from_environment()
    try:
        args = _settings(_parser().parse_args(argv))
        if workers.distributed and set(args.stages) != {"network"}:
            raise ValueError(
                "under torchrun only the network trains data-parallel: add --stages network "
                "(train the other stages in one process first)"
            )
        threads = args.threads or (1 if workers.distributed else 2)
        torch.set_num_threads(threads)
        return _run(args, workers, threads)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        leave(workers)


def _run(args: argparse.Namespace, workers: Workers, threads: int) -> int:
    out = WEIGHTS_DIR if args.refresh_shipped else args.out
    checkpoints = args.checkpoints
    started = time.perf_counter()
    reports: list[StageReport] = []
    networks: dict[str, tuple[Any, dict[str, Any]]] = {}
    if "features" in args.stages:
        settings = FeatureTraining(steps=args.feature_steps, seed=args.seed)
        begin = time.perf_counter()
        extractor, losses = train_features(
            settings,
            checkpoint=checkpoints / "features.pt",
            resume=args.resume,
            progress=_bar("features", workers),
        )
        extractor.save_weights(out / FEATURES_FILE)
        reports.append(StageReport("learned features", settings.steps, _since(begin), losses))
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
                progress=_bar(f"GOCor on {name}", workers),
            )
            modules[name] = (trained.global_module, trained.local_module)
            reports.append(
                StageReport(
                    f"GOCor parameters on {name} features",
                    gocor_settings.steps,
                    _since(begin),
                    trained.losses,
                )
            )
        save_trained_gocor(
            out / GOCOR_FILE,
            modules,
            command="python -m gocor_lite.cli.train",
            settings=gocor_settings,
        )
    if "network" in args.stages:
        networks = train_small_glunet(args, workers, reports)
        if workers.leader:
            save_small_glunet(
                out / NETWORK_FILE,
                networks,
                command="python -m gocor_lite.cli.train",
                seed=args.seed,
                processes=workers.world,
                threads=threads,
                torch=torch.__version__,
            )
    if not workers.leader:
        return 0
    total = time.perf_counter() - started
    checks = network_checks(networks, args.card_pairs) if args.card_pairs > 0 else ""
    card = training_card(args, reports, total, threads, workers.world, checks)
    (out / CARD_FILE).write_text(card)
    print(card)
    return 0


def network_checks(networks: dict[str, tuple[Any, dict[str, Any]]], pairs: int) -> str:
    """Each level's endpoint error of the trained networks on held-out photographs (synthetic
    warps at 256 x 256, GLU-Net's training kind), beside predicting zero flow."""
    if not networks:
        return ""
    batch = held_out_pairs(pairs, (256, 256))
    grids = {"flow4": 16, "flow3": 32, "flow2": 32, "flow1": 64}
    lines = [
        f"Held-out check: {batch.target.shape[0]} synthetic warps of the held-out photographs "
        "(`gocor_lite.data.photos.held_out_pairs`, 256 x 256), mean endpoint error in pixels at "
        "each level's cells (flow4: 16 x 16, flow3: 32 x 32, flow2: 32 x 32, flow1: 64 x 64). "
        "The real pairs and the peers are in `docs/evaluation.md` (`python -m "
        "gocor_lite.cli.evaluate`).",
        "",
        "| network | flow4 | flow3 | flow2 | flow1 |",
        "|---|---:|---:|---:|---:|",
        "| zero flow | "
        + " | ".join(f"{zero_flow_error(batch, (g, g)):.2f}" for g in grids.values())
        + " |",
    ]
    for variant, (network, _) in networks.items():
        errors = held_out_errors(network, batch)
        lines.append(
            f"| GLU-Net {variant} | " + " | ".join(f"{errors[name]:.2f}" for name in grids) + " |"
        )
    lines += ["", shift_check(networks)]
    return "\n".join(lines) + "\n"


#: Shifts of the held-out check at growing displacements, as fractions of the width.
SHIFTS = (0.1, 0.25, 0.5, 0.75)


def shift_check(networks: dict[str, tuple[Any, dict[str, Any]]]) -> str:
    """The share of pixels within 8 px of the truth, and the mean endpoint error, of each
    network on pure translations of the held-out photographs by growing fractions of the
    width (:func:`gocor_lite.data.photos.held_out_shift_pairs`, 256 x 256, full resolution:
    :meth:`GLUNet.estimate_flow`), beside zero flow."""
    header = " | ".join(f"{round(100 * f)} %" for f in SHIFTS)
    lines = [
        f"Held-out check at growing shifts: the {len(HELD_OUT_PHOTOS)} held-out photographs "
        "translated horizontally by a fraction of the 256-px width "
        "(`gocor_lite.data.photos.held_out_shift_pairs`); share of the known pixels within "
        "8 px of the truth, then the mean endpoint error (px), of `estimate_flow`.",
        "",
        f"| network | {header} |",
        "|---|" + "---:|" * len(SHIFTS),
    ]
    batches = [held_out_shift_pairs(fraction) for fraction in SHIFTS]
    for variant, (network, _) in networks.items():
        cells = []
        for batch in batches:
            images = [
                (batch.target * 255).round().to(torch.uint8),
                (batch.source * 255).round().to(torch.uint8),
            ]
            flow = network.estimate_flow(*images)
            error = (flow - batch.flow).norm(dim=1)  # (B, H, W)
            known = batch.valid[:, 0]
            within = float((error[known] <= 8).float().mean())
            mean = float(endpoint_loss(flow, batch.flow, known))
            cells.append(f"{100 * within:.1f} % / {mean:.1f}")
        lines.append(f"| GLU-Net {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def training_card(
    args: argparse.Namespace,
    reports: list[StageReport],
    seconds: float,
    threads: int,
    processes: int,
    checks: str = "",
) -> str:
    """The markdown card written beside the weights."""
    command = "python -m gocor_lite.cli.train" + (
        "" if sys.argv[1:] == [] else " " + " ".join(sys.argv[1:])
    )
    photos, notes = available_training_photos()
    lines = [
        "# Trained weights: how they were made",
        "",
        f"Written by `{command}` (seed {args.seed}, {processes} process(es) of {threads} torch "
        f"thread(s)) in {seconds:.0f} s ({seconds / 60:.1f} min) on {_cpu()} "
        f"({torch.get_num_threads()} threads used, {_cores()} cores visible), torch "
        f"{torch.__version__}, Python {platform.python_version()}. Timings vary with the "
        "machine's load. The same command, seed, thread count, CPU and torch build give the "
        "same tensors; another CPU or thread count gives floating-point sums in another order, "
        "and hundreds of optimiser steps amplify those differences "
        "(`tests/test_training.py::test_a_rerun_of_the_gocor_stage_is_close_to_the_shipped_one` "
        "measures how far).",
        "",
        f"Data: synthetic warps (homography, affine, thin-plate spline, photometric changes; "
        f"`gocor_lite.data.synthetic`) of {len(photos)} real photographs "
        "(`gocor_lite.data.photos.TRAIN_PHOTOS`: opencv-doc's sample photographs and video "
        "frames, mate-backgrounds' nature photographs, scikit-image's and scikit-learn's "
        "photographs; sources and licences in `assets/README.md`). Never seen in training: the "
        f"{len(HELD_OUT_PHOTOS)} held-out photographs and every real pair of the evaluation "
        "(motorcycle, aloe, graffiti: `gocor_lite.data.photos.check_training_photos` refuses "
        "them).",
    ]
    if notes:
        lines += ["", "Skipped on this machine: " + "; ".join(notes) + "."]
    lines += [
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
        "Losses: the features, GOCor and the network's pyramid phase, the cross-entropy of a "
        "volume's softmax against a Gaussian around the true match "
        "(`gocor_lite.reading.supervision.match_loss`); the network, GLU-Net's multi-scale "
        "endpoint error (`gocor_lite.training.small_glunet.network_loss`, pixels).",
        "",
    ]
    if checks:
        lines += [checks]
    return "\n".join(lines)


def _cores() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    raise SystemExit(main())
