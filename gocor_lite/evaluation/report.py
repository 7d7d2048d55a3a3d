# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.evaluate``: how well each correlation layer matches, and how this
project's flow compares with the methods a user would pick instead, on data no training has
seen, written to ``docs/evaluation.md``.

Sets (:mod:`gocor_lite.evaluation.sets`): ``natural`` and ``repeated``, synthetic warps of
held-out photographs and of repeated structure (brick, gravel, a checkerboard); ``photos``,
synthetic warps of held-out real photographs; ``motorcycle``, ``aloe`` and ``graffiti``, real
pairs with real ground truth (Middlebury stereo, the Oxford graffiti homography), on the pixels
whose truth is known. Sets whose files are not installed are skipped, and the report says so.

Three parts:

* **Volumes**: the best match of every target cell (argmax refined below one cell) of the
  global correlation, the local correlation after a known coarse flow (the true flow shifted
  by up to two cells per pair, as a coarser level would leave it), and global and local GOCor
  at iterations 0, 1, 3 and 7, with the paper's initial parameters and with this project's
  trained ones (:func:`gocor_lite.weights.load_trained_gocor`), for every extractor.
* **Flow pipeline** (:mod:`gocor_lite.flow`), the GOCor paper's ablation: feature correlation
  -> + global GOCor -> + local GOCor -> both, training-free and with the learned decoders,
  the dense flow scored at every valid pixel.
* **Peers and ours**: dense-flow methods (:class:`~gocor_lite.evaluation.methods.DenseFlowMethod`)
  on the ``uint8`` images of every set, timed per pair: OpenCV's DIS and Farneback, zero flow
  (:mod:`gocor_lite.evaluation.peers`) and this project's flow pipeline in a few settings
  (:func:`default_methods`; a network is added as one more method).

Metrics: the mean endpoint error (AEPE, pixels, and in feature cells for the volumes) and the
percentage of matches within 1, 3 and 5 pixels (PCK) and within one feature cell, pooled over
every counted target cell (volumes) or pixel (flow) of the set.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from gocor_lite.correlation import global_correlation
from gocor_lite.data.split import EVAL_SEED
from gocor_lite.data.synthetic import WarpedBatch
from gocor_lite.evaluation.methods import (
    DenseFlowMethod,
    MethodScore,
    pairs_of_batch,
    pipeline_method,
    score_methods,
)
from gocor_lite.evaluation.metrics import Metrics, score
from gocor_lite.evaluation.peers import peer_methods
from gocor_lite.evaluation.sets import EVAL_SIZE, EVALUATION_SETS, load_sets
from gocor_lite.features import FeatureExtractor
from gocor_lite.flow.config import VARIANTS, FlowConfig
from gocor_lite.flow.pipeline import CoarseToFineFlow
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor
from gocor_lite.supervision import global_matches, local_problem, true_matches
from gocor_lite.training.decoders import extract_in_chunks
from gocor_lite.training.features import feature_pair
from gocor_lite.training.gocor import coarse_flow
from gocor_lite.weights import decoder_keys, gocor_module

ITERATIONS = (0, 1, 3, 7)  # GOCor iterations reported
PIXEL_THRESHOLDS = (1.0, 3.0, 5.0)
SEARCH_RADIUS = 4  # of the local correlation and local GOCor
COARSE_OFFSET = 2.0  # largest shift of the known coarse flow, in cells
ROW_NAMES = {
    "correlation": "feature correlation",
    "global-gocor": "+ global GOCor",
    "local-gocor": "+ local GOCor (no global)",
    "gocor": "+ global and local GOCor",
}


# -- volumes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeRow:
    """One line of the volume tables."""

    extractor: str
    method: str  # "global correlation", "local GOCor", ...
    parameters: str  # "", "paper initial", "trained"
    iteration: int | None
    metrics: dict[str, Metrics]  # per set


def _gocor_modules(
    extractor: str, gocor_weights: Path | None
) -> dict[str, tuple[GlobalGOCor, LocalGOCor]]:
    """Paper-initial modules, and trained ones where the file has them for ``extractor``."""
    last = max(ITERATIONS)
    modules: dict[str, tuple[GlobalGOCor, LocalGOCor]] = {}
    for parameters, name in (("initial", "paper initial"), ("trained", "trained")):
        pair = []
        for kind in ("global", "local"):
            module, trained = gocor_module(
                kind,
                extractor,
                parameters,  # type: ignore[arg-type]
                num_iter=last,
                search_radius=SEARCH_RADIUS,
                path=gocor_weights,
            )
            pair.append(module)
        if parameters == "initial" or trained:
            global_module, local_module = pair
            assert isinstance(global_module, GlobalGOCor) and isinstance(local_module, LocalGOCor)
            modules[name] = (global_module, local_module)
    return modules


@torch.no_grad()
def volume_matches(
    extractor: FeatureExtractor,
    pairs: WarpedBatch,
    modules: dict[str, tuple[GlobalGOCor, LocalGOCor]],
    seed: int,
) -> tuple[dict[tuple[str, str, int | None], Tensor], Tensor, Tensor, int]:
    """Predicted matches of every method for ``pairs``, one pair at a time.

    Returns ``{(method, parameters, iteration): (B, 2, h, w)}``, the true matches
    ``(B, 2, h, w)``, known ``(B, h, w)`` and the stride.
    """
    stride = extractor.stride
    generator = torch.Generator().manual_seed(seed)
    coarse = coarse_flow(pairs.flow.to(torch.float64), stride, COARSE_OFFSET, generator)
    predicted: dict[tuple[str, str, int | None], list[Tensor]] = {}
    truths, knowns = [], []

    def add(key: tuple[str, str, int | None], value: Tensor) -> None:
        predicted.setdefault(key, []).append(value)

    for index in range(pairs.target.shape[0]):
        pair = WarpedBatch(*(field[index : index + 1] for field in pairs))
        target, source = feature_pair(extractor, pair)
        grid = (target.shape[2], target.shape[3])
        matches, known = true_matches(pair.flow, pair.valid, grid, stride)
        truths.append(matches)
        knowns.append(known)
        problem = local_problem(source, coarse[index : index + 1].to(source), stride, SEARCH_RADIUS)
        add(
            ("global correlation", "", None),
            global_matches(global_correlation(target, source), stride),
        )
        add(("local correlation", "", None), problem.matches(problem.correlation(target)))
        for parameters, (global_module, local_module) in modules.items():
            global_trace = global_module.trace(target, source)
            local_trace = local_module.trace(target, problem.source)
            for k in ITERATIONS:
                add(
                    ("global GOCor", parameters, k), global_matches(global_trace.volumes[k], stride)
                )
                add(("local GOCor", parameters, k), problem.matches(local_trace.volumes[k]))
    stacked = {key: torch.cat(values) for key, values in predicted.items()}
    return stacked, torch.cat(truths), torch.cat(knowns), stride


# -- the flow pipeline ----------------------------------------------------------------------------


@torch.no_grad()
def flow_ablation(
    extractor: FeatureExtractor,
    pairs: WarpedBatch,
    estimators: Sequence[str],
    decoder_weights: Path | None,
    trained_gocor: bool = False,
) -> dict[tuple[str, str, str], Metrics]:
    """Dense-flow scores of every ``(estimator, variant, GOCor parameters)`` of the default
    pipeline with ``extractor``'s features; the features are computed once and shared by all
    rows. ``trained_gocor``: also the training-free estimators with this project's trained
    GOCor parameters (the decoders were trained with the initial ones)."""
    base = FlowConfig(extractor=extractor.name)
    shared = CoarseToFineFlow(base, extractor)
    features = extract_in_chunks(shared, pairs)
    size = (pairs.target.shape[2], pairs.target.shape[3])
    rows = []
    for estimator in estimators:
        rows += [(estimator, variant, "initial") for variant in VARIANTS]
        if trained_gocor and estimator != "decoder":
            rows += [(estimator, variant, "trained") for variant in VARIANTS[1:]]
    results = {}
    for estimator, variant, parameters in rows:
        config = dataclasses.replace(base, estimator=estimator, gocor_parameters=parameters)
        model = CoarseToFineFlow(config.with_variant(variant), extractor)
        if estimator == "decoder":
            model.load_decoders(decoder_weights)
        flow = model.run(features, size)[-1].flow
        results[(estimator, variant, parameters)] = score(flow, pairs.flow, pairs.valid[:, 0], None)
    return results


def _has_decoders(extractor: str, path: Path | None) -> bool:
    return {f"{extractor}/{variant}" for variant in VARIANTS} <= set(decoder_keys(path))


# -- the whole evaluation -------------------------------------------------------------------------


def default_methods(decoder_weights: Path | None = None) -> list[DenseFlowMethod]:
    """The peers (:func:`~gocor_lite.evaluation.peers.peer_methods`) and this project's flow
    pipeline with the default (learned) features: feature correlation (``FlowConfig()``, what
    ``estimate_flow`` does), global and local GOCor with the trained parameters, and the learned
    decoders on feature correlation where their file has them."""
    correlation = FlowConfig()
    methods = [
        *peer_methods(),
        pipeline_method(
            "ours: flow, feature correlation",
            correlation,
            description="gocor_lite.flow with FlowConfig() (estimate_flow's default), argmax",
        ),
        pipeline_method(
            "ours: flow, global and local GOCor (trained)",
            dataclasses.replace(correlation, gocor_parameters="trained").with_variant("gocor"),
            description="the same with GOCor at every level, this project's trained parameters",
        ),
    ]
    if f"{correlation.extractor}/correlation" in decoder_keys(decoder_weights):
        methods.append(
            pipeline_method(
                "ours: flow, learned decoders, feature correlation",
                dataclasses.replace(correlation, estimator="decoder"),
                description="the same with the learned per-level decoders instead of the argmax",
                decoder_weights=decoder_weights,
            )
        )
    return methods


@dataclass(frozen=True)
class Evaluation:
    """Everything ``python -m gocor_lite.evaluate`` measured."""

    volumes: list[VolumeRow]
    flow: dict[str, dict[tuple[str, str, str], dict[str, Metrics]]]  # extractor -> row -> set
    methods: dict[str, dict[str, MethodScore]]  # set -> method -> score (peers and ours)
    descriptions: dict[str, str]  # method -> one line
    sets: dict[str, str]  # set name -> description
    skipped: dict[str, str]  # set name -> why it was not measured
    seconds: float


def run_evaluation(
    extractors: dict[str, FeatureExtractor],
    *,
    pairs_per_image: int = 4,
    sets: Sequence[str] = EVALUATION_SETS,
    gocor_weights: Path | None = None,
    decoder_weights: Path | None = None,
    flow: bool = True,
    volumes: bool = True,
    methods: Sequence[DenseFlowMethod] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Measure every extractor of ``extractors`` (name -> extractor) on ``sets`` (volumes and,
    with ``flow``, the flow pipeline's ablation), and every dense-flow method of ``methods``
    (default: :func:`default_methods`; an empty list: none) on every set. Sets whose files are
    missing are skipped (:attr:`Evaluation.skipped`)."""
    started = time.perf_counter()
    loaded, skipped = load_sets(sets, pairs_per_image, EVAL_SIZE)
    data = {name: evaluation_set.pairs for name, evaluation_set in loaded.items()}
    found: dict[tuple[str, str, str, int | None], dict[str, Metrics]] = {}
    flows: dict[str, dict[tuple[str, str, str], dict[str, Metrics]]] = {}
    for extractor_name, extractor in extractors.items() if volumes or flow else ():
        modules = _gocor_modules(extractor_name, gocor_weights)
        estimators = ["argmax", "soft-argmax"]
        if _has_decoders(extractor_name, decoder_weights):
            estimators.append("decoder")
        for set_name, pairs in data.items():
            if volumes:
                if progress is not None:
                    progress(f"{extractor_name} on {set_name}: volumes")
                # A seed per set (not per position in this run), so a set alone gives the same.
                seed = EVAL_SEED + 1000 * (EVALUATION_SETS.index(set_name) + 1)
                predicted, truth, known, stride = volume_matches(extractor, pairs, modules, seed)
                for (method, parameters, iteration), matches in predicted.items():
                    key = (extractor_name, method, parameters, iteration)
                    found.setdefault(key, {})[set_name] = score(matches, truth, known, stride)
            if flow:
                if progress is not None:
                    progress(f"{extractor_name} on {set_name}: flow pipeline")
                rows = flow_ablation(
                    extractor, pairs, estimators, decoder_weights, "trained" in modules
                )
                for row, metrics in rows.items():
                    flows.setdefault(extractor_name, {}).setdefault(row, {})[set_name] = metrics
    methods = default_methods(decoder_weights) if methods is None else list(methods)
    dense: dict[str, dict[str, MethodScore]] = {}
    if methods:
        for set_name, pairs in data.items():
            if progress is not None:
                progress(f"peers and ours on {set_name}")
            dense[set_name] = score_methods(methods, pairs_of_batch(pairs, set_name))
    order = {"global correlation": 0, "global GOCor": 1, "local correlation": 2, "local GOCor": 3}
    names = list(extractors)
    keys = sorted(
        found,
        key=lambda k: (names.index(k[0]), order[k[1]], k[2] != "paper initial", k[3] or 0),
    )
    return Evaluation(
        volumes=[VolumeRow(*key, found[key]) for key in keys],
        flow=flows,
        methods=dense,
        descriptions={method.name: method.description for method in methods},
        sets={name: evaluation_set.description for name, evaluation_set in loaded.items()},
        skipped=skipped,
        seconds=time.perf_counter() - started,
    )


# -- tables ---------------------------------------------------------------------------------------


def _number(value: float, digits: int) -> str:
    return "–" if value != value else f"{value:.{digits}f}"  # NaN -> a dash


def volume_table(rows: Sequence[VolumeRow], set_name: str) -> str:
    """One set's volume table: AEPE (px, cells), PCK at 1/3/5 px and one cell."""
    lines = [
        "| features | method | parameters | iter. | AEPE px | AEPE cells | PCK-1 | PCK-3 | "
        "PCK-5 | PCK-cell |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        m = row.metrics[set_name]
        iteration = "" if row.iteration is None else str(row.iteration)
        lines.append(
            f"| {row.extractor} | {row.method} | {row.parameters} | {iteration} | "
            f"{_number(m.aepe, 2)} | {_number(m.aepe_cells, 2)} | {_number(m.pck1, 1)} | "
            f"{_number(m.pck3, 1)} | {_number(m.pck5, 1)} | {_number(m.pck_cell, 1)} |"
        )
    return "\n".join(lines)


def summary_table(rows: Sequence[VolumeRow], sets: Sequence[str], iteration: int = 3) -> str:
    """The README's table: per extractor, correlation against GOCor (``iteration`` steps,
    initial and trained parameters), PCK within one cell and AEPE (px) per set."""
    header = "| features | method | " + " | ".join(
        f"{name} PCK-cell | {name} AEPE" for name in sets
    )
    lines = [header + " |", "|---|---|" + "---:|" * (2 * len(sets))]
    for row in rows:
        if row.iteration not in (None, iteration):
            continue
        name = row.method + (f" ({row.parameters}, {iteration} it.)" if row.parameters else "")
        cells = " | ".join(
            f"{_number(row.metrics[s].pck_cell, 1)} | {_number(row.metrics[s].aepe, 2)}"
            for s in sets
        )
        lines.append(f"| {row.extractor} | {name} | {cells} |")
    return "\n".join(lines)


def flow_table(results: dict[tuple[str, str, str], dict[str, Metrics]], extractor: str) -> str:
    """The ablation table of the flow pipeline: AEPE / PCK-1 / PCK-3 / PCK-5 per set."""
    set_names = list(next(iter(results.values())))
    header = "| features | estimator | correlation | GOCor parameters | " + " | ".join(
        f"{name} AEPE | {name} PCK-1 | {name} PCK-3 | {name} PCK-5" for name in set_names
    )
    lines = [header + " |", "|---|---|---|---|" + "---:|" * (4 * len(set_names))]
    for (estimator, variant, parameters), row in results.items():
        cells = " | ".join(
            f"{row[name].aepe:.2f} | {row[name].pck1:.1f} | {row[name].pck3:.1f} | "
            f"{row[name].pck5:.1f}"
            for name in set_names
        )
        shown = "" if variant == "correlation" else parameters
        lines.append(f"| {extractor} | {estimator} | {ROW_NAMES[variant]} | {shown} | {cells} |")
    return "\n".join(lines)


def methods_table(results: dict[str, dict[str, MethodScore]]) -> str:
    """Peers and ours, every set: one row per (set, method), AEPE, PCK-1, PCK-5 and the mean
    time per pair in milliseconds."""
    lines = [
        "| set | method | AEPE px | PCK-1 | PCK-5 | ms per pair |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for set_name, scores in results.items():
        for method, result in scores.items():
            m = result.metrics
            lines.append(
                f"| {set_name} | {method} | {_number(m.aepe, 2)} | {_number(m.pck1, 1)} | "
                f"{_number(m.pck5, 1)} | {1e3 * result.seconds_per_pair:.0f} |"
            )
    return "\n".join(lines)


def report(
    evaluation: Evaluation,
    command: str,
    sections: Sequence[str] = (),
    threads: int | None = None,
    machine: str = "",
) -> str:
    """The markdown of ``docs/evaluation.md`` (``sections``: more markdown sections, appended,
    e.g. :func:`gocor_lite.evaluation.rules.rules_section`; ``threads``: the thread count to
    state; ``machine``: a sentence about the machine's state, e.g. its load, to print with the
    time)."""
    sets = list(evaluation.sets)
    threads_note = "" if threads is None else f" with {threads} thread(s) for torch and OpenCV"
    text = [
        "# Evaluation: correlation against GOCor, and our flow against its peers, on data no "
        "training has seen",
        "",
        f"Written by `{command}` in {evaluation.seconds:.0f} s on this machine{threads_note}."
        f"{' ' + machine if machine else ''} "
        "Sets (`gocor_lite.evaluation.sets`; nothing here was used for training or tuning):",
        "",
        *[f"- `{name}`: {description}" for name, description in evaluation.sets.items()],
    ]
    if evaluation.skipped:
        text += [
            "",
            "Skipped (not installed here):",
            "",
            *[f"- `{name}`: {reason}" for name, reason in evaluation.skipped.items()],
        ]
    if evaluation.methods:
        text += [
            "",
            "## Peers and ours, every set",
            "",
            "Every method maps the pair's `uint8` images to a dense flow "
            "(`gocor_lite.evaluation.methods`), scored at every pixel whose truth is known; the "
            "time is the mean wall-clock time per pair of that call, measured in this run. "
            "Methods:",
            "",
            *[f"- {name}: {line}" for name, line in evaluation.descriptions.items()],
            "",
            methods_table(evaluation.methods),
        ]
    if evaluation.volumes:
        text += [
            "",
            "## Volumes",
            "",
            "Features are centred and L2-normalised per pair before correlating (as the app and "
            "the flow pipeline do). The best match (argmax, refined below one cell) of every "
            "target cell centre whose true match is known; local correlation and local GOCor "
            f"(R = {SEARCH_RADIUS}) search around a known coarse flow: the true flow shifted by "
            f"up to {COARSE_OFFSET:g} cells per pair. GOCor: simple initialiser, no query loss; "
            "`paper initial` = the paper's initial parameters, `trained` = "
            "`assets/weights/gocor_trained.pt` (`python -m gocor_lite.train`). AEPE: mean "
            "endpoint error (lower is better); PCK-n: % of matches within n pixels, PCK-cell: "
            "within one feature cell (8 px for these extractors); higher is better.",
            "",
            "### Summary (3 GOCor iterations, the paper's setting)",
            "",
            summary_table(evaluation.volumes, sets),
        ]
        for name in sets:
            text += ["", f"### Volumes: `{name}`", "", volume_table(evaluation.volumes, name)]
    if evaluation.flow:
        config = FlowConfig()
        text += [
            "",
            "## Flow pipeline: the ablation of GOCor",
            "",
            f"`gocor_lite.flow` with `FlowConfig()` ({len(config.levels)} levels, working size "
            f"{config.working_size[1]}x{config.working_size[0]}, GOCor with "
            f"{config.gocor_iterations} iterations, `initial` or `trained` parameters), the "
            "dense flow scored at every valid pixel (on the float images, before any rounding "
            "to `uint8`). `decoder` rows use the decoders trained by "
            "`python -m gocor_lite.train` for those features (with the initial GOCor "
            "parameters; none for other extractors).",
        ]
        for extractor, results in evaluation.flow.items():
            text += ["", flow_table(results, extractor)]
    for section in sections:
        text += ["", section]
    return "\n".join(text) + "\n"


# -- the command ----------------------------------------------------------------------------------
