# SPDX-License-Identifier: MIT
"""The ablation of the flow pipeline, in the style of the GOCor paper's table: feature
correlation -> + global GOCor -> + local GOCor, for each estimator, on three sets.

Sets (none of them used in training, see :mod:`gocor_lite.flow.data`):

* ``natural``: synthetic homographies of photographs (seeds from ``EVAL_SEED``);
* ``repeated``: synthetic homographies of repeated structure (bricks, gravel);
* ``stereo``: the Middlebury ``stereo-motorcycle`` pair, pixels with known disparity.

Metrics: AEPE (mean endpoint error in pixels, averaged over pairs) and PCK-1 / PCK-5 (percent
of pixels within 1 / 5 pixels), on pixels whose true match lies inside the source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from gocor_lite.examples import load_example
from gocor_lite.flow.config import VARIANTS, FlowConfig
from gocor_lite.flow.data import EVAL_SEED, EVAL_SETS, PairBatch, make_pairs
from gocor_lite.flow.geometry import endpoint_error
from gocor_lite.flow.pipeline import CoarseToFineFlow, LevelInputs
from gocor_lite.flow.training import DEFAULT_DECODER_WEIGHTS, extract_in_chunks, load_decoders
from gocor_lite.images import to_tensor

EVAL_SIZE = (240, 320)  # (H, W) of the synthetic evaluation pairs
ROW_NAMES = {
    "correlation": "feature correlation",
    "global-gocor": "+ global GOCor",
    "local-gocor": "+ local GOCor (no global)",
    "gocor": "+ global and local GOCor",
}


@dataclass(frozen=True)
class Scores:
    """One method on one set."""

    aepe: float  # mean endpoint error (pixels), averaged over pairs
    pck1: float  # percent of valid pixels with an error below 1 pixel
    pck5: float  # below 5 pixels


def score(flow: Tensor, true_flow: Tensor, valid: Tensor) -> Scores:
    """Shapes: flow, true_flow ``(B, 2, H, W)``, valid ``(B, 1, H, W)`` -> :class:`Scores`."""
    error = endpoint_error(flow, true_flow)  # (B, H, W)
    aepe, pck1, pck5 = [], [], []
    for pair_error, pair_valid in zip(error, valid[:, 0], strict=True):
        values = pair_error[pair_valid & torch.isfinite(pair_error)]
        aepe.append(float(values.mean()))
        pck1.append(float((values < 1).float().mean()))
        pck5.append(float((values < 5).float().mean()))
    count = len(aepe)
    return Scores(sum(aepe) / count, 100 * sum(pck1) / count, 100 * sum(pck5) / count)


def evaluation_sets(pairs_per_image: int = 6) -> dict[str, PairBatch]:
    """The three sets as :class:`~gocor_lite.flow.data.PairBatch` (the stereo one of one pair;
    its source may differ in size from its target, hence one batch per set)."""
    sets = {
        name: make_pairs(images, pairs_per_image * len(images), EVAL_SIZE, EVAL_SEED)
        for name, images in EVAL_SETS.items()
    }
    stereo = load_example("stereo-motorcycle")
    assert stereo.flow is not None
    true_flow = torch.from_numpy(stereo.flow)[None]
    sets["stereo"] = PairBatch(
        target=to_tensor(stereo.target),
        source=to_tensor(stereo.source),
        flow=true_flow.nan_to_num(0.0),
        valid=torch.isfinite(true_flow[:, :1]),
    )
    return sets


def run_ablation(
    base: FlowConfig | None = None,
    estimators: tuple[str, ...] = ("argmax", "soft-argmax", "decoder"),
    weights: str | Path | None = None,
    pairs_per_image: int = 6,
    progress: Callable[[str], None] | None = None,
) -> dict[tuple[str, str], dict[str, Scores]]:
    """Scores of every ``(estimator, variant)`` on every set. The features of a set are
    computed once and shared by all rows. ``"decoder"`` rows need trained weights
    (``python -m gocor_lite.flow train``); they are skipped if the file is missing."""
    base = base or FlowConfig()
    weights = Path(weights) if weights is not None else DEFAULT_DECODER_WEIGHTS
    if "decoder" in estimators and not weights.is_file():
        estimators = tuple(e for e in estimators if e != "decoder")
    sets = evaluation_sets(pairs_per_image)
    extractor = CoarseToFineFlow(base)
    features: dict[str, list[LevelInputs]] = {}
    for name, pairs in sets.items():
        if progress:
            progress(f"features of the {name} set")
        with torch.no_grad():
            features[name] = extract_in_chunks(extractor, pairs)
    results: dict[tuple[str, str], dict[str, Scores]] = {}
    for estimator in estimators:
        for variant in VARIANTS:
            config = dataclasses.replace(base, estimator=estimator).with_variant(variant)
            model = CoarseToFineFlow(config, extractor=extractor.extractor)
            if estimator == "decoder":
                load_decoders(model, weights)
            if progress:
                progress(f"{estimator}, {variant}")
            row = {}
            for name, pairs in sets.items():
                with torch.no_grad():
                    size = (pairs.target.shape[2], pairs.target.shape[3])
                    flow = model.run(features[name], size)[-1].flow
                row[name] = score(flow, pairs.flow, pairs.valid)
            results[(estimator, variant)] = row
    return results


def ablation_table(results: dict[tuple[str, str], dict[str, Scores]]) -> str:
    """A markdown table: one row per estimator and variant, AEPE / PCK-1 / PCK-5 per set."""
    set_names = list(next(iter(results.values())))
    header = "| estimator | correlation | " + " | ".join(
        f"{name} AEPE | {name} PCK-1 | {name} PCK-5" for name in set_names
    )
    lines = [header + " |", "|---|---|" + "---:|" * (3 * len(set_names))]
    for (estimator, variant), row in results.items():
        cells = " | ".join(
            f"{row[name].aepe:.2f} | {row[name].pck1:.1f} | {row[name].pck5:.1f}"
            for name in set_names
        )
        lines.append(f"| {estimator} | {ROW_NAMES[variant]} | {cells} |")
    return "\n".join(lines)
