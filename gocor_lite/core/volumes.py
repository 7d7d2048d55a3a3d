# SPDX-License-Identifier: MIT
"""A pair's volumes, in one call: extract the features of both images, normalise them as a
pair, correlate them globally and locally, and run global and local GOCor with their traces.

The app, the figure command and the notebooks all need this sequence; it is written once here.

Convention:
    Images ``(B, 3, H, W)`` (target) and ``(B, 3, H', W')`` (source) in ``[0, 1]``; features
    of stride ``s`` (:mod:`gocor_lite.core.grid`). Local windows are centred either on the target
    cell's own coordinates (``local_centre="same position"``) or, as GLU-Net does, on the
    source cell that the global correlation matches it to (``"coarse flow"``): the source
    features are then read at each target cell's coarse match (:func:`gocor_lite.reading.matching.
    warp_by_matches`) and window entry ``[R+dy, R+dx]`` scores the source cell matched by the
    target cell ``(x+dx, y+dy)`` (:func:`gocor_lite.reading.matching.window_sources`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from gocor_lite.core.correlation import global_correlation, local_correlation
from gocor_lite.core.features import FeatureExtractor, pair_features
from gocor_lite.gocor.modules import GlobalGOCor, GOCorTrace, LocalGOCor
from gocor_lite.reading.matching import best_match, warp_by_matches

LocalCentre = Literal["same position", "coarse flow"]
LOCAL_CENTRES: tuple[str, ...] = ("same position", "coarse flow")


@dataclass(frozen=True)
class PairVolumes:
    """Everything correlation and GOCor make of one pair (detached, inference).

    Shapes: target, source ``(B, C, h, w)`` / ``(B, C, h', w')`` (normalised features);
    correlation ``(B, h, w, h', w')``; self_correlation ``(B, h, w, h, w)`` (target against
    itself: what GOCor's filters are fitted on); local ``(B, h, w, 2R+1, 2R+1)`` (a sum over
    channels: cosine scores for unit vectors); local_source ``(B, C, h, w)`` the source
    features the windows read; coarse_matches ``(B, 2, h, w)`` source cells (x, y) or None.
    """

    target: Tensor
    source: Tensor
    stride: int
    correlation: Tensor
    self_correlation: Tensor
    local: Tensor
    local_source: Tensor
    coarse_matches: Tensor | None
    global_trace: GOCorTrace
    local_trace: GOCorTrace


@torch.no_grad()
def pair_volumes(
    extractor: FeatureExtractor,
    target: Tensor,
    source: Tensor,
    global_gocor: GlobalGOCor,
    local_gocor: LocalGOCor,
    *,
    normalization: str = "centered-l2",
    num_iter: int | None = None,
    local_centre: str = "same position",
    progress: Callable[[float, str], None] | None = None,
) -> PairVolumes:
    """The features, the plain volumes and both GOCor traces of a pair of images.

    ``num_iter`` overrides the modules' number of steps (their configuration otherwise); the
    local correlation uses ``local_gocor``'s search radius, so both local volumes share one
    window. ``progress(fraction, what)``, if given, is called before each stage (fractions of
    this call's work, 0 to 1); it may raise to give the computation up.
    """
    if local_centre not in LOCAL_CENTRES:
        raise ValueError(f"local_centre must be one of {LOCAL_CENTRES}, got {local_centre!r}")
    report = progress or (lambda fraction, what: None)
    report(0.0, "features")
    target_features, source_features = pair_features(extractor, target, source, normalization)
    report(0.4, "correlation volumes")
    correlation = global_correlation(target_features, source_features)
    self_correlation = global_correlation(target_features, target_features)
    coarse_matches = None
    local_source = source_features
    if local_centre == "coarse flow":
        coarse_matches = best_match(correlation)  # (B, 2, h, w) source cells
        local_source = warp_by_matches(source_features, coarse_matches)
    local = local_correlation(target_features, local_source, local_gocor.search_radius, "sum")
    report(0.5, "global GOCor")
    global_trace = global_gocor.trace(target_features, source_features, num_iter)
    report(0.9, "local GOCor")
    local_trace = local_gocor.trace(target_features, local_source, num_iter)
    return PairVolumes(
        target=target_features,
        source=source_features,
        stride=extractor.stride,
        correlation=correlation,
        self_correlation=self_correlation,
        local=local,
        local_source=local_source,
        coarse_matches=coarse_matches,
        global_trace=global_trace,
        local_trace=local_trace,
    )
