# SPDX-License-Identifier: MIT
"""The GLU-Net network (Truong, Danelljan, Timofte, CVPR 2020), with GOCor (Truong et al.,
NeurIPS 2020) in place of its correlations where configured: one class for the authors'
``GLUNet`` and ``GLUNet_GOCor`` and for this project's small CPU network
(:class:`~gocor_lite.glunet.config.GLUNetConfig`). It follows
``shared/reference/glunet-architecture.md`` step by step; the section numbers below are that
page's.

Convention:
    ``target`` is the image on whose grid the flow is defined (GOCor's *reference*, the first
    argument of every correlation); ``source`` is the image searched (GOCor's *query*), the one
    warped. The flow is ``(B, 2, H_t, W_t)``, x then y: target pixel ``p`` matches source
    pixel ``p + flow(p)``. :meth:`GLUNet.estimate_flow` takes the target first, the opposite of
    the authors' ``estimate_flow(source, target)``; :meth:`GLUNet.forward` keeps their order
    ``(target, source, target_256, source_256)``.

Three entry points share one computation (:meth:`GLUNet._run`):

* :meth:`GLUNet.estimate_flow` ``(target, source)``: uint8 images of any sizes -> the flow in
  original pixels (inference, no autograd);
* :meth:`GLUNet.trace` ``(target, source)``: the same, keeping every intermediate of §10 and,
  per level, the volume, its GOCor iterations and the flow on the original images;
* :meth:`GLUNet.forward` ``(target_pre, source_pre, target_256, source_256)``: prepared inputs
  (:meth:`GLUNet.prepare`) -> the four flows of the multi-scale training loss, differentiable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gocor_lite.core.correlation import (
    flat_to_global,
    global_correlation,
    global_to_flat,
    local_correlation,
)
from gocor_lite.core.warp import Frame
from gocor_lite.glunet.blocks import (
    NEGATIVE_SLOPE,
    FlowDecoder,
    MappingDecoder,
    context_layers,
    run_layers,
)
from gocor_lite.glunet.config import GLUNetConfig
from gocor_lite.glunet.geometry import (
    Size,
    cell_flow_to_pixels,
    dense_flow_to_pixels,
    extra_level_count,
    extra_level_ratio,
    extra_level_sizes,
    level_frame,
    working_size,
)
from gocor_lite.glunet.operations import (
    area,
    bilinear,
    l2_normalize,
    mapping_to_flow,
    mutual_matching,
    scale_flow,
    soft_argmax_mapping,
    warp,
)
from gocor_lite.glunet.preparation import PreparedPair, as_uint8_images, prepare_pair
from gocor_lite.glunet.pyramid import FeaturePyramid
from gocor_lite.gocor.modules import GlobalGOCor, GOCorTrace, LocalGOCor

LevelKind = Literal["global", "local"]


@dataclass(frozen=True)
class GLUNetOutput:
    """What :meth:`GLUNet.forward` returns: the flows of GLU-Net's multi-scale loss.

    Shapes and units (``g`` = 16, ``L`` = 256, ``(H', W')`` the working size):
        flow4 ``(B, 2, g, g)`` in ``L``-image pixels; flow3_l ``(B, 2, 2g, 2g)`` in ``L``-image
        pixels (level 3 before the unit switch of §5); flow3 as the authors' forward returns it
        (pitfall 16: ``flow3_l`` scaled to working pixels, or the last extra level's flow);
        flow2 ``(B, 2, H'/8, W'/8)`` and flow1 ``(B, 2, H'/4, W'/4)`` in working pixels;
        corr4 ``(B, g*g, g, g)``, the post-processed global volume; corr4_raw the same before
        the post-processing (correlation or GOCor scores, the input of a volume loss).
    """

    flow4: Tensor
    flow3: Tensor
    flow2: Tensor
    flow1: Tensor
    flow3_l: Tensor
    corr4: Tensor
    corr4_raw: Tensor

    @property
    def flows(self) -> list[Tensor]:
        """``[flow4, flow3, flow2, flow1]``, coarse to fine, as the authors' forward returns
        them (two in ``output_256['flow_estimates']``, two in ``output['flow_estimates']``)."""
        return [self.flow4, self.flow3, self.flow2, self.flow1]


@dataclass(frozen=True)
class ExtraLevel:
    """One extra refinement level ``n`` of §5 (wide images).

    Shapes: corr ``(B, (2R+1)^2, h, w)`` before the LeakyReLU; up_flow, res_flow, flow
    ``(B, 2, h, w)`` in working pixels (``flow = res_flow + up_flow``).
    """

    corr: Tensor
    up_flow: Tensor
    res_flow: Tensor
    flow: Tensor


@dataclass(frozen=True)
class LevelView:
    """One level of the network as the app and the notebooks show it.

    Shapes: volume, the level's correlation (or GOCor) volume in the readable layout of
    :mod:`gocor_lite.core.correlation` (global ``(B, h, w, h, w)`` indexed ``[b, target_y,
    target_x, source_y, source_x]``, local ``(B, h, w, 2R+1, 2R+1)`` indexed ``[b, y, x,
    R+dy, R+dx]``), before post-processing; decoder_volume, the same after it (what the decoder
    reads: mutual matching and L2n(ReLU), or LeakyReLU); cell_flow ``(B, 2, h, w)``, the flow
    after this level at its target cells, and flow ``(B, 2, H_t, W_t)``, the same resampled to
    every target pixel, both in original pixels (target pixel ``p`` matches source pixel
    ``p + flow(p)``). The frames place the ``h x w`` cells on the original images (strides in
    original pixels). For local levels the window of target cell ``(y, x)`` is centred on
    where the flow *before* the level put it (the source features were warped by it):
    warped_from ``(B, 2, h, w)``, x then y in original source pixels, says where the warped
    source feature at each target cell was read, so that entry ``[R+dy, R+dx]`` of target cell
    ``(y, x)`` scores the source at ``warped_from[:, :, y+dy, x+dx]`` (where ``(y+dy, x+dx)``
    is off the grid the warped map is zero-padded: no source position). ``None`` for the
    global level, which scores the whole source grid.
    """

    key: str  # "level4", "level3", "extra0", ..., "level2", "level1" (coarse to fine)
    title: str  # e.g. "level 4: global GOCor, 16x16 cells of the 256x256 copies"
    kind: LevelKind
    volume: Tensor
    decoder_volume: Tensor
    gocor: GOCorTrace | None  # GOCor's iterations, where this level's volume is GOCor's
    virtual_size: Size  # the size both images are resized to for this level
    target_frame: Frame
    source_frame: Frame
    cell_flow: Tensor
    flow: Tensor
    warped_from: Tensor | None = None  # local levels: see above


@dataclass(frozen=True)
class GLUNetTrace:
    """Every intermediate of one run of the network, under the names of the reference's §10
    (look them up as attributes or as ``trace["name"]``, ``trace["extra0_corr"]`` included),
    and per level a :class:`LevelView`.

    Shapes: as §10; ``flow`` is the authors' ``estimate_flow`` result (flow1 upsampled and
    scaled by the *target*'s ratios, pitfall 2), ``estimated_flow`` what
    :meth:`GLUNet.estimate_flow` returns (source pixels; equal to ``flow`` when target and
    source have the same size).
    """

    config_name: str
    target_size: Size
    source_size: Size
    working_size: Size
    target_pre: Tensor
    source_pre: Tensor
    target_256: Tensor
    source_256: Tensor
    corr4_raw: Tensor
    corr4: Tensor
    est_map4: Tensor
    flow4: Tensor
    up_flow4: Tensor
    corr3: Tensor
    dec3_res_flow: Tensor
    res_flow3_refine: Tensor
    flow3_l: Tensor
    flow3: Tensor
    extra: tuple[ExtraLevel, ...]
    up_flow3: Tensor
    corr2: Tensor
    dec2_res_flow: Tensor
    flow2: Tensor
    up_flow2: Tensor
    up_feat2: Tensor
    corr1: Tensor
    dec1_res_flow: Tensor
    res_flow1_refine: Tensor
    flow1: Tensor
    flow: Tensor
    estimated_flow: Tensor
    levels: tuple[LevelView, ...]

    def named(self) -> dict[str, Tensor]:
        """Every §10 intermediate by name (``extra{n}_corr``, ``extra{n}_up_flow``,
        ``extra{n}_res_flow`` for each extra level)."""
        out = {
            item.name: getattr(self, item.name)
            for item in fields(self)
            if isinstance(getattr(self, item.name), Tensor)
        }
        for n, level in enumerate(self.extra):
            out[f"extra{n}_corr"] = level.corr
            out[f"extra{n}_up_flow"] = level.up_flow
            out[f"extra{n}_res_flow"] = level.res_flow
        return out

    def __getitem__(self, name: str) -> Tensor:
        named = self.named()
        if name not in named:
            raise KeyError(f"no intermediate {name!r}; available: {sorted(named)}")
        return named[name]

    def level(self, key: str) -> LevelView:
        """The :class:`LevelView` called ``key`` (``"level4"``, ``"extra0"``, ...)."""
        for view in self.levels:
            if view.key == key:
                return view
        raise KeyError(f"no level {key!r}; available: {[view.key for view in self.levels]}")


class _Record:
    """What a traced run keeps (a forward keeps nothing)."""

    def __init__(self, gocor_traces: bool):
        self.gocor_traces = gocor_traces
        self.values: dict[str, Any] = {}
        self.volumes: dict[str, tuple[Tensor, Tensor, GOCorTrace | None, Size]] = {}
        self.extra: list[ExtraLevel] = []


class GLUNet(nn.Module):
    """GLU-Net (and GLU-Net-GOCor), configured by a :class:`GLUNetConfig`.

    ``GLUNet()`` is the authors' ``GLUNet`` with random weights;
    :func:`~gocor_lite.glunet.official.load_official_glunet` loads their released checkpoints.
    Module names are the authors' (``pyramid``, ``decoder4``, ``deconv4``, ``decoder3``,
    ``dc_conv1..7``, ``decoder2``, ``upfeat2``, ``deconv2``, ``decoder1``, ``l_dc_conv1..7``),
    registered in their order, so the state dict lists the released keys in the released
    order. The GOCor modules, where configured, are ``corr`` (global) and ``local_corr`` (one
    module for every local level); their parameters carry this project's names
    (:mod:`gocor_lite.gocor.interop` translates the released ones).
    """

    corr: GlobalGOCor | None
    local_corr: LocalGOCor | None

    def __init__(self, config: GLUNetConfig | None = None):
        super().__init__()
        self.config = config = config if config is not None else GLUNetConfig.glunet()
        grid = config.global_grid
        channels = config.decoder_channels
        norm = config.normalization
        self.decoder4 = MappingDecoder(grid * grid + 2, config.mapping_channels, norm)
        self.deconv4 = nn.ConvTranspose2d(2, 2, kernel_size=4, stride=2, padding=1)
        local_in = config.displacements + 2
        self.decoder3 = FlowDecoder(local_in, channels, norm)
        self._add_context("dc_conv", self.decoder3.out_channels)
        self.decoder2 = FlowDecoder(local_in, channels, norm)
        self.upfeat2 = nn.ConvTranspose2d(
            self.decoder2.out_channels, config.upfeat_channels, kernel_size=4, stride=2, padding=1
        )
        self.deconv2 = nn.ConvTranspose2d(2, 2, kernel_size=4, stride=2, padding=1)
        self.decoder1 = FlowDecoder(local_in + config.upfeat_channels, channels, norm)
        self._add_context("l_dc_conv", self.decoder1.out_channels)
        self.corr = GlobalGOCor(config.global_gocor) if config.global_gocor is not None else None
        self.local_corr = LocalGOCor(config.local_gocor) if config.local_gocor is not None else None
        self.pyramid = FeaturePyramid(config)
        # The soft-argmax's learned temperature (config.global_soft_argmax), as a logarithm;
        # it starts at 0.01 (the best of 0.005 to 0.1 for the soft-argmax of a trained pyramid).
        self.mapping_log_temperature: nn.Parameter | None = (
            nn.Parameter(torch.full((1,), math.log(0.01))) if config.global_soft_argmax else None
        )

    def _add_context(self, prefix: str, in_channels: int) -> None:
        config = self.config
        layers = context_layers(
            in_channels, config.context_channels, config.context_dilations, config.normalization
        )
        for index, layer in enumerate(layers, start=1):
            self.add_module(f"{prefix}{index}", layer)
        self._context_depth = len(layers)

    def _context(self, prefix: str, x: Tensor) -> Tensor:
        return run_layers(self, prefix, self._context_depth, x)

    # -- the entry points --------------------------------------------------------------------------
    def prepare(self, target: object, source: object) -> PreparedPair:
        """The four inputs of :meth:`forward` from two batches of uint8 images (§2.1), in the
        network's dtype, on the images' device. See :mod:`gocor_lite.glunet.preparation`."""
        target_images, source_images = self._check_images(target, source)
        return prepare_pair(
            target_images,
            source_images,
            l_net_size=self.config.l_net_size,
            dtype=self._dtype(),
            max_working_side=self.config.max_working_side,
        )

    def forward(
        self, target_pre: Tensor, source_pre: Tensor, target_256: Tensor, source_256: Tensor
    ) -> GLUNetOutput:
        """The network on prepared inputs (§6.2's order: target first), differentiable.

        Shapes: target_pre, source_pre ``(B, 3, H', W')`` with ``H'``, ``W'`` multiples of 8
        (:meth:`prepare` makes them so, and at least 256; smaller ones are accepted for
        training); target_256, source_256 ``(B, 3, L, L)`` -> :class:`GLUNetOutput`. In
        training mode BatchNorm uses batch statistics, as usual.
        """
        self._check_prepared(target_pre, source_pre, target_256, source_256)
        return self._run(target_pre, source_pre, target_256, source_256, None)

    @torch.no_grad()
    def estimate_flow(self, target: object, source: object) -> Tensor:
        """The flow from ``target`` to ``source`` in original pixels (§6.3, with the source's own
        scale; see below).

        Shapes: uint8 ``(B, 3, H_t, W_t)`` and ``(B, 3, H_s, W_s)`` tensors, or numpy images
        ``(H, W, 3)``, any sizes -> ``(B, 2, H_t, W_t)`` in the network's dtype (float32 unless
        converted), on the images' device (numpy images: the network's).

        Convention: target pixel ``p`` matches source pixel ``p + flow(p)``. When target and
        source have the same size this is exactly the authors' ``estimate_flow(source,
        target)``. When they differ, the authors scale the flow by the target's ratios only
        (pitfall 2), which does not point into the source's pixels; here the source side is
        rescaled by the source's own ratio (:mod:`gocor_lite.glunet.geometry`), and the
        authors' quantity is ``trace(...).flow``.
        """
        prepared = self.prepare(target, source)
        output = self._run_prepared(prepared, None)
        return self._final_flows(output.flow1, prepared)[1]

    @torch.no_grad()
    def trace(self, target: object, source: object, *, gocor_traces: bool = True) -> GLUNetTrace:
        """:meth:`estimate_flow` keeping every intermediate: a :class:`GLUNetTrace`.

        ``gocor_traces=False`` skips GOCor's per-iteration traces (they hold ``2 (K+1)``
        volumes per GOCor level); the volumes themselves are always kept.
        """
        prepared = self.prepare(target, source)
        record = _Record(gocor_traces)
        output = self._run_prepared(prepared, record)
        authors, ours = self._final_flows(output.flow1, prepared)
        return self._assemble(prepared, output, record, authors, ours)

    # -- checks ------------------------------------------------------------------------------------
    def _dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _check_images(self, target: object, source: object) -> tuple[Tensor, Tensor]:
        device = self._device()
        images = []
        for name, image in (("target", target), ("source", source)):
            tensor = as_uint8_images(image, name)
            if not isinstance(image, Tensor):
                tensor = tensor.to(device)
            images.append(tensor)
        target_images, source_images = images
        if target_images.shape[0] != source_images.shape[0]:
            raise ValueError(
                f"target and source must have the same batch size, got {tuple(target_images.shape)}"
                f" and {tuple(source_images.shape)}"
            )
        for name, tensor in (("target", target_images), ("source", source_images)):
            if tensor.device != device:
                raise ValueError(
                    f"the {name} images are on {tensor.device}, the network on {device}: move "
                    "one of them (network.to(device) or images.to(device))"
                )
            pixels = tensor.shape[2] * tensor.shape[3]
            limit = self.config.max_image_pixels
            if limit is not None and pixels > limit:
                raise ValueError(
                    f"the {name} is {tensor.shape[3]}x{tensor.shape[2]} = {pixels:,} pixels, "
                    f"over this network's limit of {limit:,} (config.max_image_pixels; the "
                    "full-resolution pass holds several 64-channel maps of that size): resize "
                    "it first"
                )
        self._check_extra_levels(
            working_size(
                (target_images.shape[2], target_images.shape[3]),
                maximum=self.config.max_working_side,
            )
        )
        return target_images, source_images

    def _check_extra_levels(self, working: Size) -> None:
        if not self.config.iterative_refinement:
            return
        count = extra_level_count(working, self.config.refinement_width)
        sizes = extra_level_sizes(working, count)
        if sizes and min(sizes[0]) < 1:
            most = int(math.log2(working[0] / 8))  # extra levels this height allows
            widest = int(self.config.refinement_width * 2 ** (most + 0.5))
            raise ValueError(
                f"a working size of {working[1]}x{working[0]} needs {count} extra refinement "
                f"levels, whose coarsest grid would be {sizes[0][1]}x{sizes[0][0]} cells: the "
                f"image is too elongated for GLU-Net; at this height keep the width below "
                f"about {widest:,} pixels (crop it, or pad its height)"
            )

    def _check_prepared(self, *inputs: Tensor) -> None:
        names = ("target_pre", "source_pre", "target_256", "source_256")
        size = self.config.l_net_size
        for name, value in zip(names, inputs, strict=True):
            if not isinstance(value, Tensor) or value.dim() != 4 or value.shape[1] != 3:
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(f"{name} must be a (B, 3, H, W) tensor, got {shape}")
        working = tuple(inputs[0].shape[2:])
        if tuple(inputs[1].shape[2:]) != working:
            raise ValueError(
                f"target_pre and source_pre must have the same size, got {working} and "
                f"{tuple(inputs[1].shape[2:])}"
            )
        if working[0] % 8 or working[1] % 8 or min(working) < 8:
            raise ValueError(
                f"target_pre must have sides that are multiples of 8, got {working} "
                "(network.prepare makes them so, and at least 256)"
            )
        for name, value in zip(names[2:], inputs[2:], strict=True):
            if tuple(value.shape[2:]) != (size, size):
                raise ValueError(f"{name} must be {size}x{size}, got {tuple(value.shape[2:])}")
        self._check_extra_levels((working[0], working[1]))

    # -- the computation ---------------------------------------------------------------------------
    def _run_prepared(self, prepared: PreparedPair, record: _Record | None) -> GLUNetOutput:
        return self._run(
            prepared.target, prepared.source, prepared.target_l, prepared.source_l, record
        )

    def _global_volume(self, target: Tensor, source: Tensor, record: _Record | None) -> Tensor:
        """§4.1 step 2: the readable ``(B, g, g, g, g)`` volume (correlation or GOCor)."""
        trace = None
        if self.corr is None:
            volume = global_correlation(target, source)
        elif record is not None and record.gocor_traces:
            trace = self.corr.trace(target, source)
            volume = trace.volumes[-1]
        else:
            volume = self.corr(target, source)
        if record is not None:
            record.values["_gocor4"] = trace
        return volume

    def _local_volume(
        self, key: str, target: Tensor, source: Tensor, record: _Record | None
    ) -> tuple[Tensor, Tensor]:
        """A local level's volume: readable ``(B, h, w, 2R+1, 2R+1)`` and flat ``(B, (2R+1)^2,
        h, w)`` (dy-major channels), before the LeakyReLU."""
        trace = None
        if self.local_corr is None:
            volume = local_correlation(target, source, self.config.search_radius)
        elif record is not None and record.gocor_traces:
            trace = self.local_corr.trace(target, source)
            volume = trace.volumes[-1]
        else:
            volume = self.local_corr(target, source)
        # local_to_flat's values without its copy: (B, h, w, S*S) is already the channels-last
        # layout of (B, S*S, h, w), the decoders' (blocks.fast_layout).
        flat = volume.flatten(3).permute(0, 3, 1, 2)
        if record is not None:
            record.values[f"_gocor_{key}"] = trace
            record.values[f"_volume_{key}"] = volume
        return volume, flat

    def _run(
        self,
        target_pre: Tensor,
        source_pre: Tensor,
        target_256: Tensor,
        source_256: Tensor,
        record: _Record | None,
    ) -> GLUNetOutput:
        """The network (§3 to §6.2); ``record`` keeps the intermediates (``None``: nothing)."""
        config = self.config
        keep = record.values if record is not None else {}
        batch = target_pre.shape[0]
        height, width = target_pre.shape[2], target_pre.shape[3]  # H', W'
        size_l, grid = config.l_net_size, config.global_grid

        # §3: the pyramid, once per image copy (once per image when the working copies are
        # the L copies themselves, as in training at L x L: the same numbers, half the work).
        if target_pre is target_256 and source_pre is source_256:
            c11, c12, c14 = self.pyramid(target_pre, (2, 3, 4))
            c21, c22, c24 = self.pyramid(source_pre, (2, 3, 4))
            c13, c23 = c12, c22
        else:
            c11, c12 = self.pyramid(target_pre, (2, 3))
            c21, c22 = self.pyramid(source_pre, (2, 3))
            c13, c14 = self.pyramid(target_256, (3, 4))
            c23, c24 = self.pyramid(source_256, (3, 4))

        # §4.1: the global volume, source positions row-major in channels.
        volume4 = self._global_volume(l2_normalize(c14), l2_normalize(c24), record)
        corr4_raw = global_to_flat(volume4)  # (B, g*g, g, g)
        corr4 = mutual_matching(corr4_raw) if config.cyclic_consistency else corr4_raw
        if config.global_postprocess == "relu_l2norm":
            corr4 = l2_normalize(F.relu(corr4))
        else:
            corr4 = F.leaky_relu(corr4, NEGATIVE_SLOPE)

        # §4.2: mapping decoder, mapping -> flow in L-image pixels, learned upsampling.
        est_map4 = self.decoder4(torch.cat([corr4, corr4.new_zeros(batch, 2, grid, grid)], 1))
        if self.mapping_log_temperature is not None:  # the decoder corrects a soft-argmax
            temperature = self.mapping_log_temperature.exp()
            est_map4 = est_map4 + soft_argmax_mapping(corr4_raw, temperature)
        flow4 = scale_flow(mapping_to_flow(est_map4), size_l / grid, size_l / grid)
        up_flow4 = self.deconv4(flow4)  # (B, 2, 2g, 2g), still L-image pixels

        # §4.3: level 3 on the L copies.
        level3 = 2 * grid
        warp3 = warp(c23, up_flow4 * (level3 / size_l))
        _, corr3 = self._local_volume("level3", c13, warp3, record)
        x3, dec3_res_flow = self.decoder3(
            torch.cat([F.leaky_relu(corr3, NEGATIVE_SLOPE), up_flow4], 1)
        )
        res_flow3_refine = self._context("dc_conv", x3)
        flow3_l = dec3_res_flow + res_flow3_refine + up_flow4

        # §5: to working pixels, extra levels for wide images, then to 1/8.
        fine = (int(height / 8), int(width / 8))
        if config.iterative_refinement:
            flow3 = scale_flow(flow3_l, width / size_l, height / size_l)
            count = extra_level_count((height, width), config.refinement_width)
            for n, size in enumerate(extra_level_sizes((height, width), count)):
                ratio = extra_level_ratio(count, n)
                up = bilinear(flow3, size)
                warped = warp(area(c22, size), up * ratio)
                _, corr = self._local_volume(f"extra{n}", area(c12, size), warped, record)
                _, res = self.decoder2(torch.cat([F.leaky_relu(corr, NEGATIVE_SLOPE), up], 1))
                flow3 = res + up
                if record is not None:
                    record.extra.append(ExtraLevel(corr=corr, up_flow=up, res_flow=res, flow=flow3))
            up_flow3 = bilinear(flow3, fine)
        else:
            flow3 = flow3_l
            up_flow3 = scale_flow(bilinear(flow3_l, fine), width / size_l, height / size_l)

        # §6.1: level 2 at 1/8.
        warp2 = warp(c22, up_flow3 / 8)
        _, corr2 = self._local_volume("level2", c12, warp2, record)
        x2, dec2_res_flow = self.decoder2(
            torch.cat([F.leaky_relu(corr2, NEGATIVE_SLOPE), up_flow3], 1)
        )
        flow2 = dec2_res_flow + up_flow3
        up_flow2 = self.deconv2(flow2)
        up_feat2 = self.upfeat2(x2)

        # §6.2: level 1 at 1/4.
        warp1 = warp(c21, up_flow2 / 4)
        _, corr1 = self._local_volume("level1", c11, warp1, record)
        x1, dec1_res_flow = self.decoder1(
            torch.cat([F.leaky_relu(corr1, NEGATIVE_SLOPE), up_flow2, up_feat2], 1)
        )
        res_flow1_refine = self._context("l_dc_conv", x1)
        flow1 = dec1_res_flow + res_flow1_refine + up_flow2

        keep.update(
            target_pre=target_pre,
            source_pre=source_pre,
            target_256=target_256,
            source_256=source_256,
            corr4_raw=corr4_raw,
            corr4=corr4,
            est_map4=est_map4,
            flow4=flow4,
            up_flow4=up_flow4,
            corr3=corr3,
            dec3_res_flow=dec3_res_flow,
            res_flow3_refine=res_flow3_refine,
            flow3_l=flow3_l,
            flow3=flow3,
            up_flow3=up_flow3,
            corr2=corr2,
            dec2_res_flow=dec2_res_flow,
            flow2=flow2,
            up_flow2=up_flow2,
            up_feat2=up_feat2,
            corr1=corr1,
            dec1_res_flow=dec1_res_flow,
            res_flow1_refine=res_flow1_refine,
            flow1=flow1,
        )
        return GLUNetOutput(
            flow4=flow4,
            flow3=flow3,
            flow2=flow2,
            flow1=flow1,
            flow3_l=flow3_l,
            corr4=corr4,
            corr4_raw=corr4_raw,
        )

    def _final_flows(self, flow1: Tensor, prepared: PreparedPair) -> tuple[Tensor, Tensor]:
        """§6.3: ``flow1`` upsampled to the target's pixels, as the authors scale it (target
        ratios) and in source pixels (:func:`~gocor_lite.glunet.geometry.to_source_pixels`)."""
        target_size, working = prepared.target_size, prepared.working_size
        upsampled = bilinear(flow1, target_size)
        authors = scale_flow(upsampled, target_size[1] / working[1], target_size[0] / working[0])
        ours = dense_flow_to_pixels(upsampled, working, target_size, prepared.source_size)
        return authors, ours

    # -- the trace ---------------------------------------------------------------------------------
    def _assemble(
        self,
        prepared: PreparedPair,
        output: GLUNetOutput,
        record: _Record,
        authors: Tensor,
        ours: Tensor,
    ) -> GLUNetTrace:
        values = record.values
        config = self.config
        grid = config.global_grid
        size_l = config.l_net_size
        working = prepared.working_size
        square = (size_l, size_l)
        target_size, source_size = prepared.target_size, prepared.source_size
        global_kind = "GOCor" if self.corr is not None else "correlation"
        local_kind = "GOCor" if self.local_corr is not None else "correlation"

        def view(
            key: str,
            title: str,
            kind: LevelKind,
            volume: Tensor,
            decoder_volume: Tensor,
            gocor: GOCorTrace | None,
            virtual: Size,
            flow: Tensor,
            warp_flow: Tensor | None = None,
        ) -> LevelView:
            cells = (flow.shape[2], flow.shape[3])
            target_frame = level_frame(target_size, cells)
            warped_from = None
            if warp_flow is not None:  # in virtual pixels at this level's cells, as `flow`
                warped_from = target_frame.centres(warp_flow) + cell_flow_to_pixels(
                    warp_flow, virtual, target_size, source_size
                )
            return LevelView(
                key=key,
                title=title,
                kind=kind,
                volume=volume,
                decoder_volume=decoder_volume,
                gocor=gocor,
                virtual_size=virtual,
                target_frame=target_frame,
                source_frame=level_frame(source_size, cells),
                cell_flow=cell_flow_to_pixels(flow, virtual, target_size, source_size),
                flow=dense_flow_to_pixels(
                    bilinear(flow, target_size), virtual, target_size, source_size
                ),
                warped_from=warped_from,
            )

        def local_view(
            key: str, title: str, virtual: Size, flow: Tensor, warp_flow: Tensor
        ) -> LevelView:
            """``warp_flow``: the flow the source features were warped by before this level's
            correlation, in virtual pixels at its cells (§4.3, §5, §6)."""
            readable = values[f"_volume_{key}"]
            return view(
                key,
                title,
                "local",
                readable,
                F.leaky_relu(readable, NEGATIVE_SLOPE),
                values[f"_gocor_{key}"],
                virtual,
                flow,
                warp_flow,
            )

        radius = config.search_radius
        levels = [
            view(
                "level4",
                f"level 4: global {global_kind}, {grid}x{grid} cells of the {size_l}x{size_l} "
                "copies",
                "global",
                flat_to_global(values["corr4_raw"], (grid, grid)),
                flat_to_global(values["corr4"], (grid, grid)),
                values["_gocor4"],
                square,
                values["flow4"],
            ),
            local_view(
                "level3",
                f"level 3: local {local_kind} R={radius}, {2 * grid}x{2 * grid} cells of the "
                f"{size_l}x{size_l} copies",
                square,
                values["flow3_l"],
                values["up_flow4"],
            ),
        ]
        for n, extra in enumerate(record.extra):
            cells_h, cells_w = extra.corr.shape[2:]
            levels.append(
                local_view(
                    f"extra{n}",
                    f"extra level {n}: local {local_kind} R={radius}, {cells_w}x{cells_h} cells",
                    working,
                    extra.flow,
                    extra.up_flow,
                )
            )
        warp_flows = {"level2": values["up_flow3"], "level1": values["up_flow2"]}
        for key, stride in (("level2", 8), ("level1", 4)):
            number = key[-1]
            flow = values[f"flow{number}"]
            levels.append(
                local_view(
                    key,
                    f"level {number}: local {local_kind} R={radius}, {flow.shape[3]}x"
                    f"{flow.shape[2]} cells (1/{stride} of {working[1]}x{working[0]})",
                    working,
                    flow,
                    warp_flows[key],
                )
            )
        public = {
            name: value
            for name, value in values.items()
            if not name.startswith("_") and isinstance(value, Tensor)
        }
        return GLUNetTrace(
            config_name=config.name,
            target_size=target_size,
            source_size=source_size,
            working_size=working,
            extra=tuple(record.extra),
            flow=authors,
            estimated_flow=ours,
            levels=tuple(levels),
            **public,
        )

    def extra_repr(self) -> str:
        return f"config={self.config.name!r}"
