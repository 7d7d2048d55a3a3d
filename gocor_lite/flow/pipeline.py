# SPDX-License-Identifier: MIT
"""GLU-Net in miniature: coarse-to-fine dense flow, with GOCor as a drop-in correlation.

Level 0 correlates every target cell with every source cell (global) on images resized to a
fixed working size, so its volume stays small whatever the input size. Each later level reads
finer features, warps the source features by the flow of the level above (upsampled to its
cells), correlates each target cell with a window of ``2R+1 x 2R+1`` warped source cells
(local), and refines the flow. Every level's correlation is the plain one or GOCor, chosen
independently (:class:`~gocor_lite.flow.config.LevelConfig`), and every level's match is found
by a training-free estimator or a small learned decoder.

Convention:
    Images ``(B, 3, H, W)`` (target) and ``(B, 3, H', W')`` (source) in ``[0, 1]``; flow
    ``(B, 2, H, W)`` in target pixels, x then y: target pixel ``p`` matches source pixel
    ``p + flow(p)``. Level cells and original pixels are related by each image's
    :class:`~gocor_lite.warp.Frame`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from gocor_lite.correlation import global_correlation, local_correlation
from gocor_lite.features import FeatureExtractor, make_extractor, normalize_features
from gocor_lite.flow.config import FlowConfig, LevelConfig
from gocor_lite.flow.decoder import LevelDecoder
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor
from gocor_lite.images import resize_images, to_tensor, to_uint8
from gocor_lite.matching import argmax_position, soft_argmax_position
from gocor_lite.warp import Frame, dense_flow, flow_at, sample, warp
from gocor_lite.weights import decoder_state, gocor_module


@dataclass(frozen=True)
class LevelInputs:
    """One level's features and frames for a batch of pairs (what the extractor produced).

    Shapes: target ``(B, C, h, w)``, source ``(B, C, h', w')``.
    """

    target: Tensor
    source: Tensor
    target_frame: Frame
    source_frame: Frame


@dataclass(frozen=True)
class LevelFlow:
    """What one level produced, as data.

    Shapes: ``flow (B, 2, H, W)`` the dense flow after this level (original target pixels);
    ``cell_flow (B, 2, h, w)`` the same at the level's target cell centres (pixels);
    ``volume`` the level's volume, ``(B, h, w, h', w')`` or ``(B, h, w, 2R+1, 2R+1)``.
    """

    config: LevelConfig
    target_frame: Frame
    source_frame: Frame
    flow: Tensor
    cell_flow: Tensor
    volume: Tensor


@dataclass(frozen=True)
class FlowResult:
    """The flow of a batch of pairs and every level's intermediate result.

    Shapes: ``flow (B, 2, H, W)`` (= ``levels[-1].flow``); ``source (B, 3, H', W')``, the
    source images, kept so that :meth:`warped_source` can draw them on the target grid.
    """

    flow: Tensor
    levels: list[LevelFlow]
    source: Tensor

    def warped_source(self, level: int = -1) -> Tensor:
        """The source images seen through a level's flow: ``(B, 3, H, W)``, zero where the
        flow points outside the source."""
        return warp(self.source, self.levels[level].flow)

    def to_numpy(self, level: int = -1) -> tuple[np.ndarray, np.ndarray]:
        """The first pair's flow ``float32 (2, H, W)`` and warped source ``uint8 (H, W, 3)``."""
        flow = self.levels[level].flow[0].detach().float().cpu().numpy()
        return flow, to_uint8(self.warped_source(level)[:1])


def _level_size(
    level: LevelConfig, config: FlowConfig, image_size: tuple[int, int]
) -> tuple[int, int]:
    """The size ``(H, W)`` an image of ``image_size`` is resized to for ``level``."""
    height, width = config.working_size if level.working else image_size
    return max(1, round(height * level.image_scale)), max(1, round(width * level.image_scale))


class CoarseToFineFlow(nn.Module):
    """The pipeline: ``model(target_images, source_images) -> FlowResult``.

    ``config``: a :class:`~gocor_lite.flow.config.FlowConfig` (default: feature correlation at
    every level, argmax). ``extractor``: the features (default: ``config.extractor``, built by
    :func:`~gocor_lite.features.make_extractor`). The GOCor modules keep the paper's initial
    parameters unless loaded otherwise; the decoders start as the identity on the
    training-free estimate (see :class:`~gocor_lite.flow.decoder.LevelDecoder`).
    """

    def __init__(self, config: FlowConfig | None = None, extractor: FeatureExtractor | None = None):
        super().__init__()
        self.config = config = config or FlowConfig()
        self.extractor = extractor if extractor is not None else make_extractor(config.extractor)
        self.gocor = nn.ModuleList()
        self.decoders = nn.ModuleList()
        stride = self.extractor.stride
        for level in config.levels:
            if level.is_global:
                height, width = _level_size(level, config, (0, 0))
                positions = (height // stride) * (width // stride)
                if positions < 2:
                    raise ValueError(f"the working size {config.working_size} gives no grid")
                self.gocor.append(self._gocor_module(None))
            else:
                assert level.search_radius is not None
                positions = (2 * level.search_radius + 1) ** 2
                self.gocor.append(self._gocor_module(level.search_radius))
            self.decoders.append(LevelDecoder(positions))

    def _gocor_module(self, search_radius: int | None) -> GlobalGOCor | LocalGOCor:
        """A level's GOCor: global (``search_radius=None``) or local, with the paper's initial
        parameters or this project's trained ones for the extractor (``config.gocor_parameters``,
        by :func:`gocor_lite.weights.gocor_module`; the learned functions depend on distance
        only, so they serve any radius)."""
        module, _ = gocor_module(
            "global" if search_radius is None else "local",
            self.extractor.name,
            "trained" if self.config.gocor_parameters == "trained" else "initial",
            num_iter=self.config.gocor_iterations,
            search_radius=4 if search_radius is None else search_radius,
        )
        return module

    @property
    def decoder_key(self) -> str:
        """The name of this pipeline's decoders in a weights file: extractor and GOCor variant."""
        return f"{self.config.extractor}/{self.config.variant}"

    def load_decoders(self, path: str | Path | None = None) -> None:
        """Load the decoders trained for this pipeline's extractor and GOCor variant (default:
        the shipped :data:`gocor_lite.weights.FLOW_DECODERS`)."""
        state = decoder_state(self.decoder_key, path)
        try:
            self.decoders.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(
                f"the decoders {self.decoder_key!r} do not fit this pipeline (were they trained "
                f"with another working size or search radius?): {str(error).splitlines()[0]}"
            ) from error

    # -- features -------------------------------------------------------------------------------
    def extract(self, target: Tensor, source: Tensor) -> list[LevelInputs]:
        """Every level's features of a batch of pairs (the expensive, parameter-free part when
        the extractor is fixed; training caches it)."""
        stride = self.extractor.stride
        target_size = (target.shape[2], target.shape[3])
        source_size = (source.shape[2], source.shape[3])
        out = []
        for level in self.config.levels:
            target_level = _level_size(level, self.config, target_size)
            source_level = _level_size(level, self.config, source_size)
            for size in (target_level, source_level):
                if min(size) < stride:
                    raise ValueError(
                        f"images of {target_size} and {source_size} pixels are too small for "
                        f"level {level}: resized to {size}, below one {stride}-pixel cell"
                    )
            out.append(
                LevelInputs(
                    target=self.extractor(resize_images(target, target_level)),
                    source=self.extractor(resize_images(source, source_level)),
                    target_frame=Frame.of(target_size, target_level, stride),
                    source_frame=Frame.of(source_size, source_level, stride),
                )
            )
        return out

    # -- one level --------------------------------------------------------------------------------
    def _correlate(self, index: int, target: Tensor, source: Tensor) -> Tensor:
        """The level's volume, in units of cosine similarity for normalised features."""
        level = self.config.levels[index]
        if level.gocor:
            return self.gocor[index](target, source)
        if level.is_global:
            return global_correlation(target, source)
        assert level.search_radius is not None
        return local_correlation(target, source, level.search_radius, reduction="sum")

    def _position(self, volume: Tensor) -> Tensor:
        if self.config.estimator == "soft-argmax":
            return soft_argmax_position(
                volume, self.config.soft_argmax_window, self.config.temperature
            )
        return argmax_position(volume)

    def level(
        self,
        index: int,
        inputs: LevelInputs,
        flow: Tensor | None,
        image_size: tuple[int, int],
        use_decoder: bool | None = None,
    ) -> LevelFlow:
        """Run level ``index`` on its features, given the dense flow of the level above
        (``None`` for the global level 0)."""
        level = self.config.levels[index]
        use_decoder = self.config.estimator == "decoder" if use_decoder is None else use_decoder
        target_frame, source_frame = inputs.target_frame, inputs.source_frame
        centres = target_frame.centres(like=inputs.target)  # (1, 2, h, w), target pixels
        if flow is None:
            target, source = normalize_features(
                inputs.target, inputs.source, self.config.normalization
            )
            prior = torch.zeros_like(centres).expand(target.shape[0], -1, -1, -1)
        else:
            prior = flow_at(flow, centres)  # (B, 2, h, w), pixels
            source_cells = source_frame.to_cells(centres + prior)  # where each centre looks
            warped = sample(inputs.source, source_cells, padding="zeros")  # (B, C, h, w)
            target, source = normalize_features(inputs.target, warped, self.config.normalization)
        volume = self._correlate(index, target, source)
        position = self._position(volume.detach())  # (B, 2, h, w), grid of the volume
        if use_decoder:
            rows, cols = volume.shape[-2:]
            scale = prior.new_tensor([cols, rows]).view(1, 2, 1, 1)  # flow in window widths
            normalised = prior / (scale * prior.new_tensor(target_frame.stride).view(1, 2, 1, 1))
            position = position + self.decoders[index](volume, position, normalised)
        if flow is None:
            matches = source_frame.to_pixels(position)  # (B, 2, h, w), source pixels
        else:
            assert level.search_radius is not None
            # The window's cell (R+dx, R+dy) holds the source seen by the target cell at offset
            # (dx, dy): the match is the upsampled flow's match of that neighbour.
            offset = (position - level.search_radius) * centres.new_tensor(
                target_frame.stride
            ).view(1, 2, 1, 1)
            neighbours = centres + offset  # (B, 2, h, w), target pixels
            matches = neighbours + flow_at(flow, neighbours)
        cell_flow = matches - centres
        return LevelFlow(
            config=level,
            target_frame=target_frame,
            source_frame=source_frame,
            flow=dense_flow(cell_flow, target_frame, image_size),
            cell_flow=cell_flow,
            volume=volume,
        )

    # -- all levels -------------------------------------------------------------------------------
    def run(
        self,
        inputs: list[LevelInputs],
        image_size: tuple[int, int],
        use_decoder: bool | None = None,
        detach_between_levels: bool = False,
    ) -> list[LevelFlow]:
        """All levels on precomputed features; ``image_size`` is the target's ``(H, W)``."""
        flow: Tensor | None = None
        levels = []
        for index, level_inputs in enumerate(inputs):
            prior = flow.detach() if flow is not None and detach_between_levels else flow
            result = self.level(index, level_inputs, prior, image_size, use_decoder)
            levels.append(result)
            flow = result.flow
        return levels

    def forward(self, target: Tensor, source: Tensor) -> FlowResult:
        """Shapes: target ``(B, 3, H, W)``, source ``(B, 3, H', W')`` -> :class:`FlowResult`."""
        if target.dim() != 4 or source.dim() != 4 or target.shape[0] != source.shape[0]:
            raise ValueError(
                f"expected image batches (B, 3, H, W) and (B, 3, H', W'), got "
                f"{tuple(target.shape)} and {tuple(source.shape)}"
            )
        levels = self.run(self.extract(target, source), (target.shape[2], target.shape[3]))
        return FlowResult(flow=levels[-1].flow, levels=levels, source=source)


def estimate_flow(
    target: np.ndarray,
    source: np.ndarray,
    config: FlowConfig | None = None,
    *,
    model: CoarseToFineFlow | None = None,
) -> FlowResult:
    """The flow from ``target`` to ``source``, two ``uint8 (H, W, 3)`` images of any sizes.

    ``config`` picks the pipeline (default: :class:`~gocor_lite.flow.config.FlowConfig`);
    ``model`` reuses a built (or trained) one. Runs without gradients.

    >>> from skimage import data
    >>> image = data.astronaut()[::2, ::2]  # uint8 (256, 256, 3)
    >>> target, source = image[40:200, 60:220], image[30:190, 40:200]  # a shift by (20, 10)
    >>> result = estimate_flow(target, source)
    >>> result.flow.shape
    torch.Size([1, 2, 160, 160])
    >>> result.flow[0, :, 80, 80].round().tolist()  # target pixel p is source pixel p + flow(p)
    [20.0, 10.0]
    """
    model = model if model is not None else CoarseToFineFlow(config)
    with torch.no_grad():
        return model(to_tensor(target), to_tensor(source))
