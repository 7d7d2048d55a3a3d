# SPDX-License-Identifier: MIT
"""Coarse-to-fine dense flow (GLU-Net in miniature), with GOCor as a drop-in correlation.

Three lines::

    from gocor_lite.flow import estimate_flow
    result = estimate_flow(target, source)  # uint8 (H, W, 3) and (H', W', 3), any sizes
    flow, warped = result.to_numpy()  # float32 (2, H, W) pixels; source warped, uint8 (H, W, 3)

``gocor_lite.pictures.flow.flow_to_colour(flow)`` colours it. ``result.flow`` is
``(1, 2, H, W)``: target pixel ``p`` matches source pixel ``p + flow(p)`` (x then y);
``result.levels`` holds every level's flow and volume. The command
``python -m gocor_lite.flow TARGET SOURCE --out flow.png`` draws them.
"""

from gocor_lite.flow.config import ESTIMATORS, VARIANTS, FlowConfig, LevelConfig
from gocor_lite.flow.decoder import LevelDecoder
from gocor_lite.flow.pipeline import (
    CoarseToFineFlow,
    FlowResult,
    LevelFlow,
    LevelInputs,
    estimate_flow,
)

__all__ = [
    "ESTIMATORS",
    "VARIANTS",
    "CoarseToFineFlow",
    "FlowConfig",
    "FlowResult",
    "LevelConfig",
    "LevelDecoder",
    "LevelFlow",
    "LevelInputs",
    "estimate_flow",
]
