# SPDX-License-Identifier: MIT
"""The arithmetic of one score: a target cell's feature vector, a source cell's, their product
channel by channel and its sum (the correlation score), beside GOCor's filter for the same cell
and the same products with it (GOCor's score). Computed here, drawn by the explorer.

A score of the global volume is ``C[i, j] = <f_i, f'_j> = sum_c f_i[c] f'_j[c]``; GOCor replaces
``f_i`` by its optimised filter ``w_i`` and scores ``<w_i, f'_j>``. :func:`score_terms` gives
both sums term by term (the explorer draws them for the source cells that matter), so that one
sees which channels make a look-alike score high and how the filter moves them.
"""

from __future__ import annotations

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
    (each ``(C,)``, float64 for the sums).

    >>> terms = score_terms([1.0, 0.5], [0.5, 0.0], [0.2, -0.4])
    >>> terms.correlation_terms.tolist(), round(terms.correlation, 6), round(terms.gocor, 6)
    ([0.2, -0.2], 0.0, 0.1)
    """
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
