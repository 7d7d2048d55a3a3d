# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.evaluate``: how well each correlation layer matches, on data no
training has seen, written to ``docs/evaluation.md``.

Sets (:mod:`gocor_lite.data.split`): ``natural`` and ``repeated``, synthetic warps of held-out
photographs and of repeated structure (brick, gravel, a checkerboard), and ``stereo``, the
Middlebury pair bundled with scikit-image, on the pixels whose disparity is known.

Two parts:

* **Volumes**: the best match of every target cell (argmax refined below one cell) of the
  global correlation, the local correlation after a known coarse flow (the true flow shifted
  by up to two cells per pair, as a coarser level would leave it), and global and local GOCor
  at iterations 0, 1, 3 and 7, with the paper's initial parameters and with this project's
  trained ones (:func:`gocor_lite.weights.load_trained_gocor`), for every extractor.
* **Flow pipeline** (:mod:`gocor_lite.flow`), the GOCor paper's ablation: feature correlation
  -> + global GOCor -> + local GOCor -> both, training-free and with the learned decoders,
  the dense flow scored at every valid pixel.

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
from gocor_lite.data.split import EVAL_SEED, EVALUATION_SETS, HELD_OUT, evaluation_pairs
from gocor_lite.data.synthetic import WarpedBatch
from gocor_lite.evaluation.metrics import Metrics, score
from gocor_lite.features import FeatureExtractor
from gocor_lite.flow.config import VARIANTS, FlowConfig
from gocor_lite.flow.pipeline import CoarseToFineFlow
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor
from gocor_lite.supervision import global_matches, local_problem, true_matches
from gocor_lite.training.decoders import extract_in_chunks
from gocor_lite.training.features import feature_pair
from gocor_lite.training.gocor import coarse_flow
from gocor_lite.weights import decoder_keys, gocor_module

EVAL_SIZE = (240, 320)  # (H, W) of the synthetic evaluation pairs; the stereo pair: 320 wide
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


@dataclass(frozen=True)
class Evaluation:
    """Everything ``python -m gocor_lite.evaluate`` measured."""

    volumes: list[VolumeRow]
    flow: dict[str, dict[tuple[str, str, str], dict[str, Metrics]]]  # extractor -> row -> set
    sets: dict[str, str]  # set name -> description
    seconds: float


def run_evaluation(
    extractors: dict[str, FeatureExtractor],
    *,
    pairs_per_image: int = 4,
    sets: Sequence[str] = EVALUATION_SETS,
    gocor_weights: Path | None = None,
    decoder_weights: Path | None = None,
    flow: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Measure every extractor of ``extractors`` (name -> extractor) on ``sets``."""
    started = time.perf_counter()
    data = {name: evaluation_pairs(name, pairs_per_image, EVAL_SIZE) for name in sets}
    volumes: dict[tuple[str, str, str, int | None], dict[str, Metrics]] = {}
    flows: dict[str, dict[tuple[str, str, str], dict[str, Metrics]]] = {}
    for extractor_name, extractor in extractors.items():
        modules = _gocor_modules(extractor_name, gocor_weights)
        estimators = ["argmax", "soft-argmax"]
        if _has_decoders(extractor_name, decoder_weights):
            estimators.append("decoder")
        for set_index, set_name in enumerate(sets):
            pairs = data[set_name]
            if progress is not None:
                progress(f"{extractor_name} on {set_name}: volumes")
            seed = EVAL_SEED + 1000 * (set_index + 1)
            predicted, truth, known, stride = volume_matches(extractor, pairs, modules, seed)
            for (method, parameters, iteration), matches in predicted.items():
                key = (extractor_name, method, parameters, iteration)
                volumes.setdefault(key, {})[set_name] = score(matches, truth, known, stride)
            if flow:
                if progress is not None:
                    progress(f"{extractor_name} on {set_name}: flow pipeline")
                rows = flow_ablation(
                    extractor, pairs, estimators, decoder_weights, "trained" in modules
                )
                for row, metrics in rows.items():
                    flows.setdefault(extractor_name, {}).setdefault(row, {})[set_name] = metrics
    descriptions = {
        "natural": f"synthetic warps of {', '.join(HELD_OUT['natural'])}, "
        f"{pairs_per_image} pairs per image at {EVAL_SIZE[1]}x{EVAL_SIZE[0]}",
        "repeated": f"synthetic warps of {', '.join(HELD_OUT['repeated'])}, "
        f"{pairs_per_image} pairs per image at {EVAL_SIZE[1]}x{EVAL_SIZE[0]}",
        "stereo": f"skimage stereo_motorcycle resized to {max(EVAL_SIZE)} px wide, valid "
        "disparities only",
    }
    order = {"global correlation": 0, "global GOCor": 1, "local correlation": 2, "local GOCor": 3}
    names = list(extractors)
    keys = sorted(
        volumes,
        key=lambda k: (names.index(k[0]), order[k[1]], k[2] != "paper initial", k[3] or 0),
    )
    return Evaluation(
        volumes=[VolumeRow(*key, volumes[key]) for key in keys],
        flow=flows,
        sets={name: descriptions[name] for name in sets},
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


def report(evaluation: Evaluation, command: str, sections: Sequence[str] = ()) -> str:
    """The markdown of ``docs/evaluation.md``; ``sections``: more markdown sections, appended
    (e.g. :func:`gocor_lite.evaluation.rules.rules_section`)."""
    sets = list(evaluation.sets)
    text = [
        "# Evaluation: correlation against GOCor, on data no training has seen",
        "",
        f"Written by `{command}` in {evaluation.seconds:.0f} s on this machine. Sets "
        "(`gocor_lite.data.split`; nothing here was used for training or tuning):",
        "",
        *[f"- `{name}`: {description}" for name, description in evaluation.sets.items()],
        "",
        "Features are centred and L2-normalised per pair before correlating (as the app and "
        "the flow pipeline do). **Volumes**: the best match (argmax, refined below one cell) "
        "of every target cell centre whose true match is known; local correlation and local "
        f"GOCor (R = {SEARCH_RADIUS}) search around a known coarse flow: the true flow shifted "
        f"by up to {COARSE_OFFSET:g} cells per pair. GOCor: simple initialiser, no query loss; "
        "`paper initial` = the paper's initial parameters, `trained` = "
        "`assets/weights/gocor_trained.pt` (`python -m gocor_lite.train`). AEPE: mean "
        "endpoint error (lower is better); PCK-n: % of matches within n pixels, PCK-cell: "
        "within one feature cell (8 px for these extractors); higher is better.",
        "",
        "## Summary (3 GOCor iterations, the paper's setting)",
        "",
        summary_table(evaluation.volumes, sets),
    ]
    for name in sets:
        text += ["", f"## Volumes: `{name}`", "", volume_table(evaluation.volumes, name)]
    if evaluation.flow:
        config = FlowConfig()
        text += [
            "",
            "## Flow pipeline: the ablation of GOCor",
            "",
            f"`gocor_lite.flow` with `FlowConfig()` ({len(config.levels)} levels, working size "
            f"{config.working_size[1]}x{config.working_size[0]}, GOCor with "
            f"{config.gocor_iterations} iterations, `initial` or `trained` parameters), the "
            "dense flow scored at every valid pixel. `decoder` rows use the decoders trained by "
            "`python -m gocor_lite.train` for those features (with the initial GOCor "
            "parameters; none for other extractors).",
        ]
        for extractor, results in evaluation.flow.items():
            text += ["", flow_table(results, extractor)]
    for section in sections:
        text += ["", section]
    return "\n".join(text) + "\n"


# -- the command ----------------------------------------------------------------------------------
