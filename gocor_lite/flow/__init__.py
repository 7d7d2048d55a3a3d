# SPDX-License-Identifier: MIT
"""Coarse-to-fine dense flow (GLU-Net in miniature), with GOCor as a drop-in correlation.

Three lines::

    from gocor_lite.flow import estimate_flow, flow_to_colour
    result = estimate_flow(target, source)  # uint8 (H, W, 3) and (H', W', 3), any sizes
    flow, warped = result.to_numpy()  # float32 (2, H, W) pixels; source warped, uint8 (H, W, 3)

``flow_to_colour(flow)`` colours it. ``result.flow`` is ``(1, 2, H, W)``: target pixel ``p``
matches source pixel ``p + flow(p)`` (x then y); ``result.levels`` holds every level's flow
and volume. The command
``python -m gocor_lite.flow TARGET SOURCE --out flow.png`` draws them.
"""

from gocor_lite.flow.config import (
    ESTIMATORS,
    VARIANTS,
    FlowConfig,
    LevelConfig,
)
from gocor_lite.flow.estimators import LevelDecoder, argmax_position, soft_argmax_position
from gocor_lite.flow.geometry import Frame
from gocor_lite.flow.pipeline import (
    CoarseToFineFlow,
    FlowResult,
    LevelFlow,
    LevelInputs,
    estimate_flow,
)
from gocor_lite.flow.training import (
    DecoderTraining,
    TrainingRun,
    load_decoders,
    train_decoder,
    train_flow_decoders,
)
from gocor_lite.warp import colour_wheel, endpoint_error, flow_to_colour, warp

__all__ = [
    "ESTIMATORS",
    "VARIANTS",
    "CoarseToFineFlow",
    "DecoderTraining",
    "FlowConfig",
    "FlowResult",
    "Frame",
    "LevelConfig",
    "LevelDecoder",
    "LevelFlow",
    "LevelInputs",
    "TrainingRun",
    "argmax_position",
    "colour_wheel",
    "endpoint_error",
    "estimate_flow",
    "flow_to_colour",
    "load_decoders",
    "soft_argmax_position",
    "train_decoder",
    "train_flow_decoders",
    "warp",
]
