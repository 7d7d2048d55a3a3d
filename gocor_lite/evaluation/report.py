# SPDX-License-Identifier: MIT
"""``python -m gocor_lite.cli.evaluate``: how this project's GLU-Net-GOCor and GLU-Net compare with
the methods a user would pick instead, what GOCor changes in them, and how well each
correlation layer matches, on data no training has seen, written to ``docs/evaluation.md``.

Sets (:mod:`gocor_lite.evaluation.sets`): ``natural`` and ``repeated``, synthetic warps of
held-out photographs and of repeated structure (brick, gravel, a checkerboard); ``photos``,
synthetic warps of held-out real photographs; ``small-motion``, the same photographs moved by
at most 3 px; ``motorcycle``, ``aloe`` and ``graffiti``, real pairs with real ground truth
(Middlebury stereo, the Oxford graffiti homography), on the pixels whose truth is known. Sets
whose files are not installed are skipped, and the report says so.

Three parts:

* **Flow**: dense-flow methods (:class:`~gocor_lite.evaluation.methods.DenseFlowMethod`) on
  the ``uint8`` images of every set, timed per pair: this project's small GLU-Net-GOCor and
  GLU-Net (:func:`gocor_lite.evaluation.networks.project_networks`), the authors' networks
  where their files are given, OpenCV's DIS and Farneback and zero flow
  (:mod:`gocor_lite.evaluation.peers`).
* **The GOCor paper's ablation**: GLU-Net against GLU-Net-GOCor of the same training on every
  set (:func:`ablation_table`), and at the global level, the share of target cells whose best
  source cell is the true one, for GOCor's volume and the plain correlation of the same
  network's features (:func:`gocor_lite.evaluation.networks.cell_scores`).
* **Volumes**: the best match of every target cell (argmax refined below one cell) of the
  global correlation, the local correlation after a known coarse flow (the true flow shifted
  by up to two cells per pair, as a coarser level would leave it), and global and local GOCor
  at iterations 0, 1, 3 and 7, with the paper's initial parameters and with this project's
  trained ones (:func:`gocor_lite.files.weights.load_trained_gocor`), for every extractor.

Metrics: the mean endpoint error (AEPE, pixels, and in feature cells for the volumes) and the
percentage of matches within 1, 3, 5 and 10 pixels (PCK) and within one feature cell, pooled
over every counted target cell (volumes) or pixel (flow) of the set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from gocor_lite.core.correlation import global_correlation
from gocor_lite.core.features import FeatureExtractor, pair_features
from gocor_lite.data.split import EVAL_SEED
from gocor_lite.data.synthetic import WarpedBatch
from gocor_lite.evaluation.methods import (
    DenseFlowMethod,
    MethodScore,
    pairs_of_batch,
    score_methods,
)
from gocor_lite.evaluation.metrics import Metrics, score
from gocor_lite.evaluation.networks import (
    CellScore,
    EvaluatedNetwork,
    ablation_pairs,
    cell_scores,
    network_method,
)
from gocor_lite.evaluation.peers import peer_methods
from gocor_lite.evaluation.sets import EVAL_SIZE, EVALUATION_SETS, load_sets
from gocor_lite.files.weights import gocor_module
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor
from gocor_lite.reading.supervision import coarse_flow, global_matches, local_problem, true_matches

ITERATIONS = (0, 1, 3, 7)  # GOCor iterations reported
SEARCH_RADIUS = 4  # of the local correlation and local GOCor
COARSE_OFFSET = 2.0  # largest shift of the known coarse flow, in cells


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
        target, source = pair_features(extractor, pair.target, pair.source, one_pass=True)
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


# -- the whole evaluation -------------------------------------------------------------------------


def default_methods(networks: Sequence[EvaluatedNetwork] = ()) -> list[DenseFlowMethod]:
    """The networks (:func:`~gocor_lite.evaluation.networks.network_method`), then the peers
    and zero flow (:func:`~gocor_lite.evaluation.peers.peer_methods`)."""
    return [*(network_method(entry) for entry in networks), *peer_methods()]


@dataclass(frozen=True)
class Evaluation:
    """Everything ``python -m gocor_lite.cli.evaluate`` measured."""

    volumes: list[VolumeRow]
    methods: dict[str, dict[str, MethodScore]]  # set -> method -> score (networks and peers)
    descriptions: dict[str, str]  # method -> one line
    ablations: list[tuple[str, str, str]]  # (family, GLU-Net's name, GLU-Net-GOCor's name)
    cells: dict[str, dict[tuple[str, str], CellScore]]  # set -> (network, volume) -> score
    sets: dict[str, str]  # set name -> description
    skipped: dict[str, str]  # set name -> why it was not measured
    seconds: float
    notes: list[str] = field(default_factory=list)  # said at the top (a missing weights file)


def run_evaluation(
    extractors: dict[str, FeatureExtractor],
    *,
    pairs_per_image: int = 4,
    sets: Sequence[str] = EVALUATION_SETS,
    gocor_weights: Path | None = None,
    volumes: bool = True,
    networks: Sequence[EvaluatedNetwork] = (),
    methods: Sequence[DenseFlowMethod] | None = None,
    notes: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Measure every extractor of ``extractors`` (name -> extractor) on ``sets`` (with
    ``volumes``), and on every set every network of ``networks`` and every method of
    ``methods`` (default: the peers and zero flow; an empty list: none), with the ablation of
    each GLU-Net / GLU-Net-GOCor pair among the networks and every network's global-level cell
    accuracy. Sets whose files are missing are skipped (:attr:`Evaluation.skipped`)."""
    started = time.perf_counter()
    loaded, skipped = load_sets(sets, pairs_per_image, EVAL_SIZE)
    data = {name: evaluation_set.pairs for name, evaluation_set in loaded.items()}
    found: dict[tuple[str, str, str, int | None], dict[str, Metrics]] = {}
    for extractor_name, extractor in extractors.items() if volumes else ():
        modules = _gocor_modules(extractor_name, gocor_weights)
        for set_name, pairs in data.items():
            if progress is not None:
                progress(f"{extractor_name} on {set_name}: volumes")
            # A seed per set (not per position in this run), so a set alone gives the same.
            seed = EVAL_SEED + 1000 * (EVALUATION_SETS.index(set_name) + 1)
            predicted, truth, known, stride = volume_matches(extractor, pairs, modules, seed)
            for (method, parameters, iteration), matches in predicted.items():
                key = (extractor_name, method, parameters, iteration)
                found.setdefault(key, {})[set_name] = score(matches, truth, known, stride)
    if methods is None:
        flow_methods = default_methods(networks)
    else:
        flow_methods = [*(network_method(entry) for entry in networks), *methods]
    names = [method.name for method in flow_methods]
    if len(set(names)) != len(names):
        raise ValueError(f"two methods share a name: {names}")
    dense: dict[str, dict[str, MethodScore]] = {}
    cells: dict[str, dict[tuple[str, str], CellScore]] = {}
    for set_name, pairs in data.items():
        as_pairs = pairs_of_batch(pairs, set_name) if flow_methods else []
        if flow_methods:
            if progress is not None:
                progress(f"flow on {set_name}")
            dense[set_name] = score_methods(flow_methods, as_pairs)
        if networks:
            if progress is not None:
                progress(f"global cells on {set_name}")
            cells[set_name] = cell_scores(networks, as_pairs)
    order = {"global correlation": 0, "global GOCor": 1, "local correlation": 2, "local GOCor": 3}
    extractor_names = list(extractors)
    keys = sorted(
        found,
        key=lambda k: (
            extractor_names.index(k[0]),
            order[k[1]],
            k[2] != "paper initial",
            k[3] or 0,
        ),
    )
    return Evaluation(
        volumes=[VolumeRow(*key, found[key]) for key in keys],
        methods=dense,
        descriptions={method.name: method.description for method in flow_methods},
        ablations=ablation_pairs(networks),
        cells=cells,
        sets={name: evaluation_set.description for name, evaluation_set in loaded.items()},
        skipped=skipped,
        seconds=time.perf_counter() - started,
        notes=list(notes),
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


def _flow_cells(m: Metrics) -> str:
    return (
        f"{_number(m.aepe, 2)} | {_number(m.pck1, 1)} | {_number(m.pck3, 1)} | "
        f"{_number(m.pck5, 1)} | {_number(m.pck10, 1)}"
    )


FLOW_HEADER = "AEPE px | PCK-1 | PCK-3 | PCK-5 | PCK-10"


def methods_table(results: dict[str, dict[str, MethodScore]]) -> str:
    """Every method on every set: one row per (set, method), AEPE, PCK-1/3/5/10 and the mean
    time per pair in milliseconds."""
    lines = [f"| set | method | {FLOW_HEADER} | ms per pair |", "|---|---|" + "---:|" * 6]
    for set_name, scores in results.items():
        for method, result in scores.items():
            lines.append(
                f"| {set_name} | {method} | {_flow_cells(result.metrics)} | "
                f"{1e3 * result.seconds_per_pair:.0f} |"
            )
    return "\n".join(lines)


def ablation_table(results: dict[str, dict[str, MethodScore]], plain: str, gocor: str) -> str:
    """GLU-Net (``plain``) against GLU-Net-GOCor (``gocor``) on every set, and GOCor's change
    (GLU-Net-GOCor minus GLU-Net: negative AEPE and positive PCK mean GOCor is better)."""
    lines = [f"| set | network | {FLOW_HEADER} |", "|---|---|" + "---:|" * 5]
    for set_name, scores in results.items():
        if plain not in scores or gocor not in scores:
            continue
        a, b = scores[plain].metrics, scores[gocor].metrics
        lines.append(f"| {set_name} | {plain} | {_flow_cells(a)} |")
        lines.append(f"| {set_name} | {gocor} | {_flow_cells(b)} |")
        change = " | ".join(
            f"{getattr(b, name) - getattr(a, name):+.{2 if name == 'aepe' else 1}f}"
            for name in ("aepe", "pck1", "pck3", "pck5", "pck10")
        )
        lines.append(f"| {set_name} | change with GOCor | {change} |")
    return "\n".join(lines)


def cells_table(cells: dict[str, dict[tuple[str, str], CellScore]]) -> str:
    """The global level's cell accuracy: one row per (set, network, volume)."""
    lines = [
        "| set | network | global volume | % right cell | % within one cell | cells |",
        "|---|---|---|---:|---:|---:|",
    ]
    for set_name, scores in cells.items():
        for (network, volume), result in scores.items():
            lines.append(
                f"| {set_name} | {network} | {volume} | {_number(result.right, 1)} | "
                f"{_number(result.near, 1)} | {result.count} |"
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
    e.g. :func:`gocor_lite.evaluation.rule_scores.rules_section`; ``threads``: the thread count to
    state; ``machine``: a sentence about the machine's state, e.g. its load, to print with the
    time)."""
    sets = list(evaluation.sets)
    threads_note = "" if threads is None else f" with {threads} thread(s) for torch and OpenCV"
    text = [
        "# Evaluation: our GLU-Net-GOCor against its peers, GOCor against correlation, on data "
        "no training has seen",
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
    for note in evaluation.notes:
        text += ["", f"**Note**: {note}"]
    if evaluation.methods:
        text += [
            "",
            "## Flow: every method on every set",
            "",
            "Every method maps the pair's `uint8` images to a dense flow "
            "(`gocor_lite.evaluation.methods`), scored at every pixel whose truth is known; the "
            "time is the mean wall-clock time per pair of that call, measured in this run. "
            "AEPE: mean endpoint error in pixels (lower is better); PCK-n: % of the pixels "
            "within n pixels (higher is better). Methods:",
            "",
            *[f"- {name}: {line}" for name, line in evaluation.descriptions.items()],
            "",
            methods_table(evaluation.methods),
        ]
    if evaluation.ablations:
        text += [
            "",
            "## The GOCor paper's ablation: GLU-Net against GLU-Net-GOCor",
            "",
            "The same network with feature correlation and with GOCor in its place (global and "
            "local), of the same training, on every set: the numbers of the table above, side "
            "by side, with GOCor's change (negative AEPE and positive PCK: GOCor is better).",
        ]
        for family, plain, gocor in evaluation.ablations:
            text += ["", f"### {family[0].upper() + family[1:]} networks", ""]
            text += [ablation_table(evaluation.methods, plain, gocor)]
    if evaluation.cells:
        text += [
            "",
            "### The global level: the best source cell against the true one",
            "",
            "For every target cell of the global level (16x16 cells of the 256x256 copies), "
            "whether the source cell with the highest score holds its true match (`% right "
            "cell`) or is that cell or one of its 8 neighbours (`% within one cell`), pooled "
            "over the set's target cells whose true match is known and inside the source "
            "(`gocor_lite.evaluation.networks.cell_scores`). `global GOCor` is the network's "
            "trained GOCor volume; `global correlation` the plain correlation of the *same* "
            "network's features, so that only the correlation layer differs.",
            "",
            cells_table(evaluation.cells),
        ]
    if evaluation.volumes:
        text += [
            "",
            "## Volumes",
            "",
            "Features are centred and L2-normalised per pair before correlating (as the app "
            "does). The best match (argmax, refined below one cell) of every "
            "target cell centre whose true match is known; local correlation and local GOCor "
            f"(R = {SEARCH_RADIUS}) search around a known coarse flow: the true flow shifted by "
            f"up to {COARSE_OFFSET:g} cells per pair. GOCor: simple initialiser, no query loss; "
            "`paper initial` = the paper's initial parameters, `trained` = "
            "`assets/weights/gocor_trained.pt` (`python -m gocor_lite.cli.train`). AEPE: mean "
            "endpoint error (lower is better); PCK-n: % of matches within n pixels, PCK-cell: "
            "within one feature cell (8 px for these extractors); higher is better.",
            "",
            "### Summary (3 GOCor iterations, the paper's setting)",
            "",
            summary_table(evaluation.volumes, sets),
        ]
        for name in sets:
            text += ["", f"### Volumes: `{name}`", "", volume_table(evaluation.volumes, name)]
    for section in sections:
        text += ["", section]
    return "\n".join(text) + "\n"
