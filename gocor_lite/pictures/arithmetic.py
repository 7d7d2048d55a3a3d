# SPDX-License-Identifier: MIT
"""The arithmetic of one score: a target cell's feature vector, a source cell's, their product
channel by channel and its sum (the correlation score), beside GOCor's filter for the same cell
and the same products with it (GOCor's score).

A score of the global volume is ``C[i, j] = <f_i, f'_j> = sum_c f_i[c] f'_j[c]``; GOCor replaces
``f_i`` by its optimised filter ``w_i`` and scores ``<w_i, f'_j>``. :func:`draw_score_arithmetic`
shows both sums term by term for one or more source cells, so that one sees which channels make
a look-alike score high and how the filter moves them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScoreTerms:
    """The terms of two scores of one target cell against one source cell (``C`` channels):
    ``correlation = sum(feature * source)``, ``gocor = sum(filter * source)``."""

    source: np.ndarray  # f'_j, (C,)
    correlation_terms: np.ndarray  # f_i[c] f'_j[c], (C,)
    gocor_terms: np.ndarray  # w_i[c] f'_j[c], (C,)

    @property
    def correlation(self) -> float:
        return float(self.correlation_terms.sum())

    @property
    def gocor(self) -> float:
        return float(self.gocor_terms.sum())


def score_terms(feature: np.ndarray, gocor_filter: np.ndarray, source: np.ndarray) -> ScoreTerms:
    """The channel-by-channel terms of ``<feature, source>`` and ``<gocor_filter, source>``
    (each ``(C,)``, float64 for the sums)."""
    feature, gocor_filter, source = (
        np.asarray(vector, dtype=np.float64).reshape(-1)
        for vector in (feature, gocor_filter, source)
    )
    if not feature.shape == gocor_filter.shape == source.shape:
        raise ValueError(
            f"the vectors must have one length, got {feature.shape}, {gocor_filter.shape}, "
            f"{source.shape}"
        )
    return ScoreTerms(source, feature * source, gocor_filter * source)


def draw_score_arithmetic(
    figure,
    feature: np.ndarray,
    gocor_filter: np.ndarray,
    sources: Mapping[str, np.ndarray],
    *,
    filter_name: str = "GOCor's filter w_i",
) -> dict[str, ScoreTerms]:
    """Draw on a matplotlib ``figure``: a first row with the target cell's feature ``f_i`` and
    GOCor's filter ``w_i`` channel by channel (``(C,)`` each), then one row per source cell
    (``sources``: a title -> its feature ``f'_j``) with the products ``f_i f'_j`` (bars) and
    ``w_i f'_j`` (dots) and both sums in the row's title. Channels are ordered by ``|f_i|``,
    largest first (the terms that can matter come first). Returns the terms drawn."""
    feature = np.asarray(feature, dtype=np.float64).reshape(-1)
    gocor_filter = np.asarray(gocor_filter, dtype=np.float64).reshape(-1)
    order = np.argsort(-np.abs(feature), kind="stable")
    channels = np.arange(feature.size)
    axes = figure.subplots(1 + len(sources), 1, squeeze=False, sharex=True)[:, 0]
    top = axes[0]
    top.bar(channels, feature[order], color="0.55", label="target feature f_i")
    top.plot(channels, gocor_filter[order], ".", color="tab:orange", ms=5, label=filter_name)
    cosine = float(feature @ gocor_filter) / max(
        float(np.linalg.norm(feature) * np.linalg.norm(gocor_filter)), 1e-12
    )
    top.set_title(
        f"the clicked cell: |f_i| = {np.linalg.norm(feature):.2f}, "
        f"|w_i| = {np.linalg.norm(gocor_filter):.2f}, cos(f_i, w_i) = {cosine:.2f}",
        fontsize="medium",
    )
    top.legend(loc="upper right", fontsize="small", ncols=2)
    drawn: dict[str, ScoreTerms] = {}
    for axis, (title, source) in zip(axes[1:], sources.items(), strict=True):
        terms = score_terms(feature, gocor_filter, source)
        drawn[title] = terms
        axis.bar(channels, terms.correlation_terms[order], color="tab:blue", label="f_i[c] f'_j[c]")
        axis.plot(
            channels,
            terms.gocor_terms[order],
            ".",
            color="tab:orange",
            ms=5,
            label="w_i[c] f'_j[c]",
        )
        axis.axhline(0.0, color="0.3", linewidth=0.6)
        axis.set_title(
            f"{title}\ncorrelation Σ f_i f'_j = {terms.correlation:.3f}, "
            f"GOCor Σ w_i f'_j = {terms.gocor:.3f}",
            fontsize="medium",
        )
        axis.legend(loc="upper right", fontsize="small", ncols=2)
    axes[-1].set_xlabel("channel c, ordered by |f_i[c]| (largest first)")
    for axis in axes:
        axis.tick_params(labelsize=8)
        axis.grid(axis="y", alpha=0.3)
    return drawn
