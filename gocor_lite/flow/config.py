# SPDX-License-Identifier: MIT
"""Settings of the coarse-to-fine flow pipeline: one :class:`LevelConfig` per level, gathered in
a :class:`FlowConfig`. Frozen dataclasses; change a copy with :func:`dataclasses.replace`.

The default pyramid follows GLU-Net's structure at teaching scale. Cell sizes are given for a
640x480 input and the default (learned) extractor (stride 8):

=====  ===================================  ===========  =================  ============
level  images                               grid         correlation        cell (px)
=====  ===================================  ===========  =================  ============
0      both resized to 128x128 (working)    16x16        global             40x30
1      both resized to 256x256 (working)    32x32        local, R = 3       20x15
2      original size                        60x80        local, R = 2       8x8
3      original size x 2                    120x160      local, R = 2       4x4
=====  ===================================  ===========  =================  ============

Levels 0 and 1 are GLU-Net's *adaptive-resolution* low-resolution network: whatever the input
size, the global volume keeps ``16^2 x 16^2`` entries, and the flow is scaled back to the
original images exactly (each image keeps its own scale factors, so target and source may
differ in size and aspect). Levels 2 and 3 are its high-resolution network (GLU-Net: 1/8 and
1/4 of the original). An extractor has one stride; a level asks for finer cells by enlarging
the images (``image_scale``). For images smaller than the working size, level 1's cells can be
finer than level 2's: the pyramid is then not strictly coarse to fine, and level 3 still is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from gocor_lite.features import NORMALIZATIONS

Estimator = Literal["argmax", "soft-argmax", "decoder"]
ESTIMATORS: tuple[str, ...] = ("argmax", "soft-argmax", "decoder")
# The ablation of the paper's table: where GOCor replaces the feature correlation.
Variant = Literal["correlation", "global-gocor", "local-gocor", "gocor"]
VARIANTS: tuple[str, ...] = ("correlation", "global-gocor", "local-gocor", "gocor")
GOCOR_PARAMETERS: tuple[str, ...] = ("initial", "trained")


@dataclass(frozen=True)
class LevelConfig:
    """One level of the pyramid: which images it reads, and how it correlates them."""

    image_scale: float = 1.0  # factor applied to the images: of the working size, or their own
    working: bool = False  # True: images resized to FlowConfig.working_size * image_scale
    search_radius: int | None = None  # None: global correlation (level 0 only); else local R
    gocor: bool = False  # GOCor (global or local, as the correlation) instead of the plain one

    def __post_init__(self) -> None:
        if not self.image_scale > 0:
            raise ValueError(f"image_scale must be > 0, got {self.image_scale}")
        radius = self.search_radius
        if radius is not None and (isinstance(radius, bool) or not isinstance(radius, int)):
            raise ValueError(f"search_radius must be None or an integer >= 1, got {radius!r}")
        if radius is not None and radius < 1:
            raise ValueError(f"search_radius must be None or an integer >= 1, got {radius}")

    @property
    def is_global(self) -> bool:
        return self.search_radius is None


DEFAULT_LEVELS: tuple[LevelConfig, ...] = (
    LevelConfig(image_scale=1.0, working=True, search_radius=None),
    LevelConfig(image_scale=2.0, working=True, search_radius=3),
    LevelConfig(image_scale=1.0, working=False, search_radius=2),
    LevelConfig(image_scale=2.0, working=False, search_radius=2),
)


@dataclass(frozen=True)
class FlowConfig:
    """The whole pipeline. Defaults: GLU-Net's structure, feature correlation, argmax."""

    levels: tuple[LevelConfig, ...] = DEFAULT_LEVELS  # coarse to fine; only level 0 is global
    working_size: tuple[int, int] = (128, 128)  # (H, W) of the working levels (GLU-Net: 256)
    extractor: str = "learned"  # a name of gocor_lite.features.make_extractor
    normalization: str = "centered-l2"  # of each level's feature pair, before correlating
    estimator: str = "argmax"  # "argmax" or "soft-argmax" (training-free), "decoder" (learned)
    soft_argmax_window: int = 2  # the soft-argmax averages over +-this many cells of the peak
    temperature: float = 0.05  # of the soft-argmax, in units of cosine similarity
    gocor_iterations: int = 3  # optimiser steps of every GOCor module (the paper's setting)
    # GOCor's parameters: "initial" (the paper's) or "trained" (this project's, for the
    # extractor: gocor_lite.weights.load_trained_gocor; the decoders were trained on "initial")
    gocor_parameters: str = "initial"

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("a pipeline needs at least one level")
        if not self.levels[0].is_global:
            raise ValueError("level 0 must be global (search_radius=None)")
        if any(level.is_global for level in self.levels[1:]):
            raise ValueError("only level 0 may be global; give the others a search_radius")
        if len(self.working_size) != 2 or min(self.working_size) < 1:
            raise ValueError(f"working_size must be (H, W) >= 1, got {self.working_size}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if self.soft_argmax_window < 0 or self.temperature <= 0:
            raise ValueError("soft_argmax_window must be >= 0 and temperature > 0")
        if self.gocor_parameters not in GOCOR_PARAMETERS:
            raise ValueError(
                f"gocor_parameters must be one of {GOCOR_PARAMETERS}, got {self.gocor_parameters!r}"
            )
        if self.gocor_iterations < 0:
            raise ValueError(f"gocor_iterations must be >= 0, got {self.gocor_iterations}")

    @property
    def variant(self) -> str:
        """Where GOCor is used, as one of :data:`VARIANTS` (local = any local level)."""
        use_global = self.levels[0].gocor
        use_local = any(level.gocor for level in self.levels[1:])
        return {
            (False, False): "correlation",
            (True, False): "global-gocor",
            (False, True): "local-gocor",
            (True, True): "gocor",
        }[(use_global, use_local)]

    def with_variant(self, variant: str) -> FlowConfig:
        """A copy with GOCor switched on where ``variant`` says (one of :data:`VARIANTS`)."""
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        use_global = variant in ("global-gocor", "gocor")
        use_local = variant in ("local-gocor", "gocor")
        levels = tuple(
            dataclasses.replace(level, gocor=use_global if level.is_global else use_local)
            for level in self.levels
        )
        return dataclasses.replace(self, levels=levels)
