# SPDX-License-Identifier: MIT
"""GLU-Net and GLU-Net-GOCor (gocor_lite.glunet) against an independent re-derivation.

Everything expected here is written from ``shared/reference/glunet-architecture.md`` alone:
the released key table (§3, §4.2, §7.3, §7.4, §11) for a synthetic checkpoint with random
weights, and a plain functional float64 re-implementation of the whole network (§2 to §6) with
its own exact 'area' resize, bilinear resize, warp and naive local correlation, which uses the
project's GOCor modules only for the GOCor volumes. Conventions are pinned by hand-built
networks whose flow is known exactly (a translation and a rotation, target and source of
different sizes), the loader's error paths by broken files.
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gocor_lite.core.correlation import global_correlation, local_correlation
from gocor_lite.files.statedict import CheckpointError
from gocor_lite.glunet import GLUNet, GLUNetConfig, load_official_glunet
from gocor_lite.glunet.operations import warp as network_warp
from gocor_lite.glunet.preparation import prepare_image
from gocor_lite.gocor.interop import from_official
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor

# ---------------------------------------------------------------------------------------------
# The released layout, from the reference's tables.

# §4.2: decoder4 (CMDTop) convolutions, (in, out).
CMD_TOP = ((258, 128), (128, 128), (128, 96), (96, 64), (64, 32))
# §7.3: in channels of conv_0..conv_4 and of predict_flow, for inputs of 83 and 85 channels.
DENSE_IN = {83: (83, 211, 339, 435, 499, 531), 85: (85, 213, 341, 437, 501, 533)}
DENSE_OUT = (128, 128, 96, 64, 32)
# §7.4: the context networks' (in, out) for dc_conv1..6 (and l_dc_conv1..6).
CONTEXT = {
    531: ((531, 128), (128, 128), (128, 128), (128, 96), (96, 64), (64, 32)),
    533: ((533, 128), (128, 128), (128, 128), (128, 96), (96, 64), (64, 32)),
}
DILATIONS = (1, 2, 4, 8, 16, 1)
# §3: the VGG-16 pyramid's convolutions, (key, out, in).
VGG = (
    ("level_0.0", 64, 3),
    ("level_1.0", 64, 64),
    ("level_2.0", 128, 64),
    ("level_2.2", 128, 128),
    ("level_3.0", 256, 128),
    ("level_3.2", 256, 256),
    ("level_3.4", 256, 256),
    ("level_4.0", 512, 256),
    ("level_4.2", 512, 512),
    ("level_4.4", 512, 512),
)
# §11 rows 242..256: the GOCor keys of GLUNet_GOCor.
_G = "corr.corr_module."
GOCOR_ROWS = (
    (_G + "filter_initializer.target_fg", (512,)),
    (_G + "filter_initializer.target_bg", (512,)),
    (_G + "filter_optimizer.log_step_length", (1,)),
    (_G + "filter_optimizer.filter_reg", (1,)),
    (_G + "filter_optimizer.reg_layer.weight1", (16, 1, 3, 3)),
    (_G + "filter_optimizer.reg_layer.weight2", (16, 16, 3, 3)),
    (_G + "filter_optimizer.label_map_predictor.weight", (1, 10, 1, 1)),
    (_G + "filter_optimizer.spatial_weight_predictor.weight", (1, 10, 1, 1)),
    (_G + "filter_optimizer.target_mask_predictor.0.weight", (1, 10, 1, 1)),
    ("local_corr.filter_initializer.scaling", (1,)),
    ("local_corr.filter_optimizer.log_step_length", (1,)),
    ("local_corr.filter_optimizer.filter_reg", (1,)),
    ("local_corr.filter_optimizer.label_map_predictor.weight", (1, 10, 1, 1)),
    ("local_corr.filter_optimizer.spatial_weight_predictor.weight", (1, 10, 1, 1)),
    ("local_corr.filter_optimizer.target_mask_predictor.0.weight", (1, 10, 1, 1)),
)

Row = tuple[str, tuple[int, ...], str]  # key, shape, kind


def _conv_bn(name: str, cin: int, cout: int) -> list[Row]:
    return [
        (f"{name}.0.weight", (cout, cin, 3, 3), "conv"),
        (f"{name}.0.bias", (cout,), "bias"),
        (f"{name}.1.weight", (cout,), "bn_weight"),
        (f"{name}.1.bias", (cout,), "bn_bias"),
        (f"{name}.1.running_mean", (cout,), "mean"),
        (f"{name}.1.running_var", (cout,), "var"),
        (f"{name}.1.num_batches_tracked", (), "count"),
    ]


def _plain(name: str, cin: int, cout: int, kind: str = "conv") -> list[Row]:
    return [(f"{name}.weight", (cout, cin, 3, 3), kind), (f"{name}.bias", (cout,), "bias")]


def _deconv(name: str, cin: int, cout: int) -> list[Row]:
    return [(f"{name}.weight", (cin, cout, 4, 4), "deconv"), (f"{name}.bias", (cout,), "bias")]


def _dense(name: str, cin: int) -> list[Row]:
    ins = DENSE_IN[cin]
    rows = []
    for index, (width_in, width_out) in enumerate(zip(ins, DENSE_OUT, strict=False)):
        rows += _conv_bn(f"{name}.conv_{index}", width_in, width_out)
    return rows + _plain(f"{name}.predict_flow", ins[-1], 2, "final")


def _context(prefix: str, cin: int) -> list[Row]:
    rows = []
    for index, (width_in, width_out) in enumerate(CONTEXT[cin], start=1):
        rows += _conv_bn(f"{prefix}{index}", width_in, width_out)
    return rows + _plain(f"{prefix}7", 32, 2, "final")


def released_layout(gocor: bool) -> list[Row]:
    """The rows of §11, in order."""
    rows: list[Row] = []
    for index, (cin, cout) in enumerate(CMD_TOP):
        rows += _conv_bn(f"decoder4.conv{index}", cin, cout)
    rows += _plain("decoder4.final", 32, 2, "final")
    rows += _deconv("deconv4", 2, 2)
    rows += _dense("decoder3", 83)
    rows += _context("dc_conv", 531)
    rows += _dense("decoder2", 83)
    rows += _deconv("upfeat2", 531, 2)
    rows += _deconv("deconv2", 2, 2)
    rows += _dense("decoder1", 85)
    rows += _context("l_dc_conv", 533)
    if gocor:
        rows += [(key, shape, "gocor") for key, shape in GOCOR_ROWS]
    for name, cout, cin in VGG:
        rows += [
            (f"pyramid.{name}.weight", (cout, cin, 3, 3), "conv"),
            (f"pyramid.{name}.bias", (cout,), "bias"),
        ]
    return rows


def _gocor_value(key: str, shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Values near the paper's initial ones (gocor-semantics.md), perturbed."""

    def noise(scale: float) -> Tensor:
        return scale * torch.randn(shape, generator=generator, dtype=torch.float64)

    bins = torch.arange(10, dtype=torch.float64) * 0.5
    if key.endswith("target_fg") or key.endswith("scaling"):
        return 1 + noise(0.1)
    if key.endswith("target_bg"):
        return noise(0.1)
    if key.endswith("log_step_length"):
        return noise(0.2)
    if key.endswith("filter_reg"):
        return 0.02 + noise(0.005).abs()
    if "reg_layer" in key:
        return noise(0.05)
    if "label_map" in key:
        label = torch.exp(-(bins**2) / 2)
        return (label - label.min()).view(shape) + noise(0.05)
    if "spatial_weight" in key:
        return 1 + noise(0.1)
    if "target_mask" in key:
        return (4 * torch.tanh(2 - bins)).view(shape) + noise(0.2)
    raise AssertionError(key)


def random_checkpoint(gocor: bool, seed: int = 0) -> dict[str, Tensor]:
    """A state dict with exactly the released keys and shapes, random weights and perturbed
    BatchNorm statistics (float32, as released)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, kind in released_layout(gocor):
        randn = torch.randn(shape, generator=generator, dtype=torch.float64)
        if kind in ("conv", "final"):
            value = randn * math.sqrt(2.0 / (shape[1] * 9))
            if kind == "final":
                value = value * 0.1  # keep flows within the images
        elif kind == "deconv":
            value = randn * math.sqrt(1.0 / (shape[0] * 4))
        elif kind == "bias":
            value = 0.05 * randn
        elif kind == "bn_weight":
            value = 1 + 0.1 * randn
        elif kind in ("bn_bias", "mean"):
            value = 0.1 * randn
        elif kind == "var":
            value = 0.5 + torch.rand(shape, generator=generator, dtype=torch.float64)
        elif kind == "count":
            value = torch.tensor(1234, dtype=torch.int64)
        else:
            value = _gocor_value(key, shape, generator)
        state[key] = value if kind == "count" else value.to(torch.float32)
    if "decoder4.final.weight" in state:
        state["decoder4.final.weight"] = state["decoder4.final.weight"] * 0.5
    return state


def test_the_released_layout_has_the_references_counts():
    for gocor, entries, parameters in ((False, 262, 13_590_488), (True, 277, 13_594_025)):
        rows = released_layout(gocor)
        assert len(rows) == entries
        assert len({key for key, _, _ in rows}) == entries
        learned = [shape for _, shape, kind in rows if kind not in ("mean", "var", "count")]
        assert sum(math.prod(shape) for shape in learned) == parameters


@pytest.mark.parametrize("gocor", [False, True], ids=["GLUNet", "GLUNet_GOCor"])
def test_the_network_has_the_released_names_shapes_and_order(gocor):
    config = GLUNetConfig.glunet_gocor() if gocor else GLUNetConfig.glunet()
    network = GLUNet(config)
    ours = [
        (key, tuple(value.shape))
        for key, value in network.state_dict().items()
        if not key.startswith(("corr.", "local_corr."))
    ]
    released = [(key, shape) for key, shape, kind in released_layout(gocor) if kind != "gocor"]
    assert ours == released
    parameters = sum(value.numel() for value in network.parameters())
    assert parameters == (13_594_025 if gocor else 13_590_488)


# ---------------------------------------------------------------------------------------------
# The reference implementation (float64), written from the architecture page.

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
LEAK = 0.1


def _windows(size_in: int, size_out: int) -> list[tuple[int, int]]:
    """'area': output cell i averages input cells floor(i n/m) .. ceil((i+1) n/m) - 1."""
    return [
        ((i * size_in) // size_out, -((-(i + 1) * size_in) // size_out)) for i in range(size_out)
    ]


def ref_prepare(images: Tensor, size: tuple[int, int]) -> Tensor:
    """§2.1 with exact integer window sums: floor(mean) of uint8 pixels, /255, normalised."""
    values = images.to(torch.int64)
    rows, cols = _windows(values.shape[2], size[0]), _windows(values.shape[3], size[1])
    summed_rows = torch.stack([values[:, :, a:b].sum(2) for a, b in rows], dim=2)
    summed = torch.stack([summed_rows[:, :, :, a:b].sum(3) for a, b in cols], dim=3)
    counts = torch.tensor([b - a for a, b in rows])[:, None] * torch.tensor(
        [b - a for a, b in cols]
    )
    floored = torch.div(summed, counts, rounding_mode="floor").to(torch.float64)
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
    return (floored / 255.0 - mean) / std


def ref_area(x: Tensor, size: tuple[int, int]) -> Tensor:
    """'area' resize of a float map, cell by cell."""
    rows, cols = _windows(x.shape[2], size[0]), _windows(x.shape[3], size[1])
    out = x.new_zeros(x.shape[0], x.shape[1], *size)
    for i, (a, b) in enumerate(rows):
        for j, (c, d) in enumerate(cols):
            out[:, :, i, j] = x[:, :, a:b, c:d].mean(dim=(2, 3))
    return out


def _linear_weights(size_in: int, size_out: int) -> Tensor:
    """(size_out, size_in) matrix of bilinear resampling, align_corners=False, edges clamped."""
    matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
    for i in range(size_out):
        position = max((i + 0.5) * size_in / size_out - 0.5, 0.0)
        low = min(math.floor(position), size_in - 1)
        high = min(low + 1, size_in - 1)
        fraction = position - low
        matrix[i, low] += 1 - fraction
        matrix[i, high] += fraction
    return matrix


def ref_bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    rows = _linear_weights(x.shape[2], size[0]).to(x)
    cols = _linear_weights(x.shape[3], size[1]).to(x)
    return torch.einsum("ih,bchw,jw->bcij", rows, x, cols)


def ref_warp(x: Tensor, flow: Tensor) -> Tensor:
    """Bilinear sampling of x at (col + u, row + v), zero outside; for a single row or
    column, the authors' normalisation 2X / max(w - 1, 1) - 1 reads position 0 (§7.1)."""
    batch, channels, height, width = x.shape
    cols = torch.arange(width, dtype=torch.float64).view(1, 1, width)
    rows = torch.arange(height, dtype=torch.float64).view(1, height, 1)
    px = cols + flow[:, 0] if width > 1 else torch.zeros_like(flow[:, 0])
    py = rows + flow[:, 1] if height > 1 else torch.zeros_like(flow[:, 1])
    x0, y0 = torch.floor(px), torch.floor(py)
    out = x.new_zeros(batch, channels, height, width)
    for dx in (0, 1):
        for dy in (0, 1):
            cx, cy = x0 + dx, y0 + dy
            weight = (1 - (px - cx).abs()) * (1 - (py - cy).abs())
            valid = (cx >= 0) & (cx <= width - 1) & (cy >= 0) & (cy <= height - 1)
            index = (cy.clamp(0, height - 1) * width + cx.clamp(0, width - 1)).long()
            gathered = torch.gather(
                x.flatten(2), 2, index.flatten(1)[:, None].expand(-1, channels, -1)
            ).view(batch, channels, height, width)
            out = out + gathered * (weight * valid)[:, None]
    return out


def ref_local(target: Tensor, source: Tensor, radius: int = 4) -> Tensor:
    """§7.2: channel (dy+R)(2R+1) + (dx+R) = mean_c T[y, x] S[y+dy, x+dx], zero outside."""
    height, width = target.shape[2:]
    padded = F.pad(source, (radius, radius, radius, radius))
    channels = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = padded[
                :, :, radius + dy : radius + dy + height, radius + dx : radius + dx + width
            ]
            channels.append((target * shifted).mean(dim=1))
    return torch.stack(channels, dim=1)


def ref_global(target: Tensor, source: Tensor) -> Tensor:
    """§4.1: C[b, 16 ys + xs, yt, xt] = <source[ys, xs], target[yt, xt]>."""
    batch, _, height, width = target.shape
    volume = torch.einsum("bcyx,bcuv->buvyx", target, source)
    return volume.reshape(batch, -1, height, width)


def l2n(x: Tensor) -> Tensor:
    return x / torch.sqrt((x**2).sum(dim=1, keepdim=True) + 1e-6)


def lrelu(x: Tensor) -> Tensor:
    return torch.where(x >= 0, x, LEAK * x)


class Reference:
    """The network of the architecture page, as functions of a state dict (released names)."""

    def __init__(self, state, *, global_gocor=None, local_gocor=None, cyclic, postprocess):
        self.p = {key: value.to(torch.float64) for key, value in state.items()}
        self.global_gocor, self.local_gocor = global_gocor, local_gocor
        self.cyclic, self.postprocess = cyclic, postprocess

    def conv(self, x, name, dilation=1):
        return F.conv2d(
            x, self.p[name + ".weight"], self.p[name + ".bias"], padding=dilation, dilation=dilation
        )

    def conv_bn(self, x, name, dilation=1):
        y = self.conv(x, name + ".0", dilation)
        p = self.p
        shape = (1, -1, 1, 1)
        mean, var = p[name + ".1.running_mean"].view(shape), p[name + ".1.running_var"].view(shape)
        weight, bias = p[name + ".1.weight"].view(shape), p[name + ".1.bias"].view(shape)
        return (y - mean) / torch.sqrt(var + 1e-5) * weight + bias

    def deconv(self, x, name):
        return F.conv_transpose2d(
            x, self.p[name + ".weight"], self.p[name + ".bias"], stride=2, padding=1
        )

    def pyramid(self, x):
        outputs = {}
        for level in range(5):
            indices = sorted(
                int(key.split(".")[2])
                for key in self.p
                if key.startswith(f"pyramid.level_{level}.") and key.endswith(".weight")
            )
            if not indices:
                continue
            for index in indices:
                x = torch.relu(self.conv(x, f"pyramid.level_{level}.{index}"))
            if level >= 1:
                x = F.max_pool2d(x, 2, 2)
            outputs[level] = x
        return outputs

    def count(self, prefix):
        return len([key for key in self.p if key.startswith(prefix) and key.endswith(".0.weight")])

    def mapping(self, x):
        for index in range(self.count("decoder4.conv")):
            x = torch.relu(self.conv_bn(x, f"decoder4.conv{index}"))
        return self.conv(x, "decoder4.final")

    def dense(self, x, name):
        for index in range(self.count(f"{name}.conv_")):
            x = torch.cat([lrelu(self.conv_bn(x, f"{name}.conv_{index}")), x], dim=1)
        return x, self.conv(x, f"{name}.predict_flow")

    def context(self, x, prefix, dilations=DILATIONS):
        depth = self.count(prefix)
        for index in range(1, depth + 1):
            x = lrelu(self.conv_bn(x, f"{prefix}{index}", dilations[index - 1]))
        return self.conv(x, f"{prefix}{depth + 1}")

    def local(self, target, source):
        if self.local_gocor is None:
            return ref_local(target, source)
        volume = self.local_gocor(target, source)  # (B, h, w, 9, 9)
        batch, height, width = volume.shape[:3]
        return volume.permute(0, 3, 4, 1, 2).reshape(batch, -1, height, width)

    def __call__(self, target: Tensor, source: Tensor, size_l: int = 256) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        batch, _, height_t, width_t = target.shape
        height_s, width_s = source.shape[2:]
        hp = 256 if height_t < 256 else 8 * (height_t // 8)
        wp = 256 if width_t < 256 else 8 * (width_t // 8)
        out["target_pre"] = tp = ref_prepare(target, (hp, wp))
        out["source_pre"] = sp = ref_prepare(source, (hp, wp))
        out["target_256"] = t256 = ref_prepare(target, (size_l, size_l))
        out["source_256"] = s256 = ref_prepare(source, (size_l, size_l))
        full_t, full_s = self.pyramid(tp), self.pyramid(sp)
        low_t, low_s = self.pyramid(t256), self.pyramid(s256)
        c11, c12, c21, c22 = full_t[2], full_t[3], full_s[2], full_s[3]
        c13, c14, c23, c24 = low_t[3], low_t[4], low_s[3], low_s[4]
        grid = c14.shape[2]

        # §4.1
        ft, fs = l2n(c14), l2n(c24)
        if self.global_gocor is None:
            corr = ref_global(ft, fs)
        else:
            volume = self.global_gocor(ft, fs)  # (B, yt, xt, ys, xs)
            corr = volume.permute(0, 3, 4, 1, 2).reshape(batch, grid * grid, grid, grid)
        out["corr4_raw"] = corr
        if self.cyclic:
            best_target = corr.max(dim=1, keepdim=True).values
            best_source = corr.flatten(2).max(dim=2).values[:, :, None, None]
            corr = corr * ((corr / (best_source + 1e-5)) * (corr / (best_target + 1e-5)))
        corr = l2n(torch.relu(corr)) if self.postprocess == "relu_l2norm" else lrelu(corr)
        out["corr4"] = corr
        # §4.2
        est = self.mapping(torch.cat([corr, torch.zeros_like(corr[:, :2])], dim=1))
        out["est_map4"] = est
        xs = torch.arange(grid, dtype=torch.float64)
        flow4 = torch.stack(
            [
                (est[:, 0] + 1) * (grid - 1) / 2 - xs.view(1, 1, grid),
                (est[:, 1] + 1) * (grid - 1) / 2 - xs.view(1, grid, 1),
            ],
            dim=1,
        ) * (size_l / grid)
        out["flow4"] = flow4
        out["up_flow4"] = up_flow4 = self.deconv(flow4, "deconv4")
        # §4.3
        warp3 = ref_warp(c23, up_flow4 * (2 * grid / size_l))
        out["corr3"] = corr3 = self.local(c13, warp3)
        x3, out["dec3_res_flow"] = self.dense(torch.cat([lrelu(corr3), up_flow4], 1), "decoder3")
        out["res_flow3_refine"] = self.context(x3, "dc_conv")
        flow3 = out["dec3_res_flow"] + out["res_flow3_refine"] + up_flow4
        out["flow3_l"] = flow3
        # §5
        flow3 = torch.stack([flow3[:, 0] * (wp / size_l), flow3[:, 1] * (hp / size_l)], dim=1)
        count = max(0, round(math.log(wp / 8 / 32 / 3) / math.log(2)))
        for n in range(count):
            ratio = 1 / (8 * 2 ** (count - n))
            size = (int(hp * ratio), int(wp * ratio))
            up = ref_bilinear(flow3, size)
            warped = ref_warp(ref_area(c22, size), up * ratio)
            corr = self.local(ref_area(c12, size), warped)
            _, res = self.dense(torch.cat([lrelu(corr), up], 1), "decoder2")
            out[f"extra{n}_corr"], out[f"extra{n}_up_flow"], out[f"extra{n}_res_flow"] = (
                corr,
                up,
                res,
            )
            flow3 = res + up
        out["flow3"] = flow3
        out["up_flow3"] = up_flow3 = ref_bilinear(flow3, (hp // 8, wp // 8))
        # §6.1
        out["corr2"] = corr2 = self.local(c12, ref_warp(c22, up_flow3 / 8))
        x2, out["dec2_res_flow"] = self.dense(torch.cat([lrelu(corr2), up_flow3], 1), "decoder2")
        out["flow2"] = flow2 = out["dec2_res_flow"] + up_flow3
        out["up_flow2"] = up_flow2 = self.deconv(flow2, "deconv2")
        out["up_feat2"] = up_feat2 = self.deconv(x2, "upfeat2")
        # §6.2
        out["corr1"] = corr1 = self.local(c11, ref_warp(c21, up_flow2 / 4))
        x1, out["dec1_res_flow"] = self.dense(
            torch.cat([lrelu(corr1), up_flow2, up_feat2], 1), "decoder1"
        )
        out["res_flow1_refine"] = self.context(x1, "l_dc_conv")
        out["flow1"] = flow1 = out["dec1_res_flow"] + out["res_flow1_refine"] + up_flow2
        # §6.3, the authors' scaling (target ratios) ...
        up = ref_bilinear(flow1, (height_t, width_t))
        out["flow"] = torch.stack([up[:, 0] * (width_t / wp), up[:, 1] * (height_t / hp)], dim=1)
        # ... and source pixels: target pixel x_t is at working (x_t + 0.5) W'/W_t - 0.5, its
        # match at working + f, which is source pixel (working + f + 0.5) W_s/W' - 0.5.
        xt = torch.arange(width_t, dtype=torch.float64).view(1, 1, width_t)
        yt = torch.arange(height_t, dtype=torch.float64).view(1, height_t, 1)
        match_x = ((xt + 0.5) * wp / width_t - 0.5 + up[:, 0] + 0.5) * width_s / wp - 0.5
        match_y = ((yt + 0.5) * hp / height_t - 0.5 + up[:, 1] + 0.5) * height_s / hp - 0.5
        out["estimated_flow"] = torch.stack([match_x - xt, match_y - yt], dim=1)
        return out


def relative_error(ours: Tensor, expected: Tensor) -> float:
    """max |a - b| / max |b| (the reference's measure)."""
    scale = expected.abs().max().item()
    return (ours.to(expected) - expected).abs().max().item() / max(scale, 1e-300)


def compare_all(trace, expected: dict[str, Tensor], tolerance: float) -> None:
    named = trace.named()
    missing = sorted(set(expected) - set(named))
    assert not missing, missing
    errors = {name: relative_error(named[name], value) for name, value in expected.items()}
    bad = {name: error for name, error in errors.items() if not error <= tolerance}
    assert not bad, bad


def images(batch: int, size: tuple[int, int], seed: int) -> Tensor:
    """Smooth random uint8 images (noise blurred, so that the features vary gently)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(batch, 3, size[0] // 4 + 2, size[1] // 4 + 2, generator=generator)
    smooth = F.interpolate(noise, size=size, mode="bicubic", align_corners=False)
    return (smooth.clamp(0, 1) * 255).round().to(torch.uint8)


# ---------------------------------------------------------------------------------------------
# Networks with random weights.


def perturb(network: GLUNet, seed: int) -> GLUNet:
    """Random BatchNorm statistics and affine parameters, smaller final layers, GOCor
    parameters moved off their initial values; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in network.named_modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(size, generator=generator))
                module.weight.copy_(1 + 0.1 * torch.randn(size, generator=generator))
                module.bias.copy_(0.1 * torch.randn(size, generator=generator))
            if name.endswith(("final", "predict_flow", "dc_conv7")) and isinstance(
                module, nn.Conv2d
            ):
                module.weight.mul_(0.3)
        for gocor in (network.corr, network.local_corr):
            if gocor is not None:
                for parameter in gocor.parameters():
                    parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return network.eval()


def reference_of(network: GLUNet) -> Reference:
    state = {
        key: value
        for key, value in network.state_dict().items()
        if not key.startswith(("corr.", "local_corr."))
    }
    config = network.config
    return Reference(
        state,
        global_gocor=network.corr,
        local_gocor=network.local_corr,
        cyclic=config.cyclic_consistency,
        postprocess=config.global_postprocess,
    )


def tiny_config(gocor: bool) -> GLUNetConfig:
    """The small configuration narrowed further and with fewer GOCor steps: the same code
    paths at a cost that float64 checks can afford."""
    return GLUNetConfig.small(
        gocor,
        channels=(4, 8, 8, 16),
        width=0.0625,
        global_iterations=2,
        local_iterations=2,
        normalization="batch",  # the released networks' layers, which the references read
        soft_argmax=False,  # the released networks' mapping decoder
    )


@pytest.fixture(scope="module")
def tiny_networks() -> dict[bool, GLUNet]:
    """Float64 tiny networks with GOCor and without, sharing every non-GOCor weight."""
    torch.manual_seed(0)
    with_gocor = perturb(GLUNet(tiny_config(True)), seed=1).double()
    without = GLUNet(tiny_config(False)).double().eval()
    state = {
        key: value
        for key, value in with_gocor.state_dict().items()
        if not key.startswith(("corr.", "local_corr."))
    }
    without.load_state_dict(state, strict=True)
    return {True: with_gocor, False: without}


# Pairs: batch 2, odd sizes, shorter than 256, target and source of different sizes; a wide
# short pair (W' = 1096 >= 1088: one extra level); a same-size pair.
PAIRS = {
    "batch2-odd-different": ((2, (250, 263)), (2, (241, 300))),
    "wide-extra-level": ((1, (60, 1100)), (1, (75, 1030))),
    "same-size": ((1, (264, 291)), (1, (264, 291))),
}
CASES = [
    pytest.param("batch2-odd-different", True, id="batch2-odd-different-gocor"),
    pytest.param("wide-extra-level", False, id="wide-extra-level-correlation"),
    pytest.param("same-size", False, id="same-size-correlation"),
    pytest.param("wide-extra-level", True, id="wide-extra-level-gocor", marks=pytest.mark.slow),
    pytest.param("same-size", True, id="same-size-gocor", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("pair", "gocor"), CASES)
def test_every_intermediate_equals_the_reference_in_float64(tiny_networks, pair, gocor):
    (batch, target_size), (_, source_size) = PAIRS[pair]
    network = tiny_networks[gocor]
    target, source = images(batch, target_size, 1), images(batch, source_size, 2)
    trace = network.trace(target, source)
    expected = reference_of(network)(target, source)
    compare_all(trace, expected, 1e-9)
    assert len(trace.extra) == (1 if pair == "wide-extra-level" else 0)
    assert torch.equal(network.estimate_flow(target, source), trace.estimated_flow)  # one path
    if target_size == source_size:
        assert torch.equal(trace.flow, trace.estimated_flow)  # the authors' flow exactly
    else:
        assert relative_error(trace.flow, trace.estimated_flow) > 1e-3  # pitfall 2


# ---------------------------------------------------------------------------------------------
# The released checkpoints (synthetic, with the released names and shapes).


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("checkpoints")
    out: dict[str, object] = {}
    for name, gocor in (("GLUNet", False), ("GLUNet_GOCor", True)):
        state = random_checkpoint(gocor, seed=3 if gocor else 4)
        path = folder / f"{name}_static.pth"
        # GLUNet as a bare state dict, GLUNet_GOCor wrapped as {'state_dict': ...}.
        torch.save({"state_dict": state, "epoch": 7} if gocor else state, path)
        out[name], out[name + "_path"] = state, path
    return out


@pytest.mark.parametrize("name", ["GLUNet", "GLUNet_GOCor"])
def test_the_released_checkpoints_load(checkpoints, name):
    state = checkpoints[name]
    network = load_official_glunet(checkpoints[name + "_path"])
    assert network.config.name == name and not network.training
    loaded = network.state_dict()
    for key, value in state.items():  # type: ignore[union-attr]
        if not key.startswith(("corr.", "local_corr.")):
            assert torch.equal(loaded[key], value), key
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert not module.training and module.track_running_stats
    if name == "GLUNet":
        assert network.corr is None and network.local_corr is None
        return
    assert isinstance(network.corr, GlobalGOCor) and isinstance(network.local_corr, LocalGOCor)
    assert network.corr.config.num_iter == 3 and network.local_corr.config.num_iter == 3
    for prefix, module, kind in (
        ("corr.corr_module.", network.corr, "global"),
        ("local_corr.", network.local_corr, "local"),
    ):
        keys = {key: value for key, value in state.items() if key.startswith(prefix)}  # type: ignore[union-attr]
        assert len(keys) == (9 if kind == "global" else 6)
        expected = from_official(keys, kind=kind)
        for (ours_name, ours), (_, theirs) in zip(
            module.state_dict().items(), expected.state_dict().items(), strict=True
        ):
            assert torch.equal(ours, theirs), ours_name
    custom = load_official_glunet(state, global_iterations=1, local_iterations=5)
    assert custom.corr is not None and custom.corr.config.num_iter == 1
    assert custom.local_corr is not None and custom.local_corr.config.num_iter == 5


def test_the_released_network_runs_at_odd_sizes(checkpoints):
    """Batch 2, sides not multiples of 8, shorter than 256, target and source of different
    sizes; GLU-Net-GOCor in float32."""
    network = load_official_glunet(checkpoints["GLUNet_GOCor"])  # type: ignore[arg-type]
    target, source = images(2, (250, 263), 5), images(2, (241, 300), 6)
    flow = network.estimate_flow(target, source)
    assert flow.shape == (2, 2, 250, 263) and flow.dtype == torch.float32
    assert torch.isfinite(flow).all() and not torch.equal(flow[0], flow[1])


@pytest.mark.slow
def test_the_released_network_runs_a_wide_image(checkpoints):
    """A short image wide enough for one extra refinement level (W' = 1088), GLU-Net."""
    network = load_official_glunet(checkpoints["GLUNet"])  # type: ignore[arg-type]
    wide = images(1, (37, 1093), 7)
    trace = network.trace(wide, wide)
    assert trace.working_size == (256, 1088) and len(trace.extra) == 1
    assert trace.estimated_flow.shape == (1, 2, 37, 1093)
    assert [view.key for view in trace.levels] == ["level4", "level3", "extra0", "level2", "level1"]
    assert trace.levels[2].volume.shape == (1, 16, 68, 9, 9)
    assert torch.isfinite(trace.estimated_flow).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["GLUNet", "GLUNet_GOCor"])
@pytest.mark.parametrize("pair", ["batch2-odd-different", "wide-extra-level"])
def test_the_released_networks_equal_the_reference_in_float64(checkpoints, name, pair):
    (batch, target_size), (_, source_size) = PAIRS[pair]
    state = checkpoints[name]
    network = load_official_glunet(state).double()  # type: ignore[arg-type]
    target, source = images(batch, target_size, 8), images(batch, source_size, 9)
    trace = network.trace(target, source, gocor_traces=False)
    compare_all(trace, reference_of(network)(target, source), 1e-9)


@pytest.mark.slow
def test_the_released_gocor_network_in_float32_is_within_1e4_of_float64(checkpoints):
    """What the outside comparison checks: float32 flows within 1e-4 of the float64 ones."""
    network = load_official_glunet(checkpoints["GLUNet_GOCor"])  # type: ignore[arg-type]
    target, source = images(2, (250, 263), 10), images(2, (241, 300), 11)
    single = network.trace(target, source, gocor_traces=False).named()
    double = network.double().trace(target, source, gocor_traces=False).named()
    for name in ("flow4", "flow3", "flow2", "flow1", "flow", "estimated_flow"):
        assert relative_error(single[name], double[name]) < 1e-4, name


# ---------------------------------------------------------------------------------------------
# The loader's error paths.


def _load_error(state_or_path: object) -> str:
    with pytest.raises(CheckpointError) as caught:
        load_official_glunet(state_or_path)  # type: ignore[arg-type]
    return str(caught.value)


def test_the_loader_names_what_is_wrong(checkpoints, tmp_path):
    state = dict(checkpoints["GLUNet"])  # type: ignore[call-overload]
    gocor = dict(checkpoints["GLUNet_GOCor"])  # type: ignore[call-overload]

    # A file of another network (torchvision's VGG-16 names).
    other = tmp_path / "vgg16.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, other)
    message = _load_error(other)
    assert "not a GLU-Net or GLU-Net-GOCor checkpoint" in message and "features.0.weight" in message

    # A missing key, an unexpected key.
    missing = {k: v for k, v in state.items() if k != "decoder2.conv_3.1.running_var"}
    message = _load_error(missing)
    assert "missing" in message and "'decoder2.conv_3.1.running_var'" in message
    message = _load_error({**state, "decoder5.final.weight": torch.zeros(2)})
    assert "unexpected" in message and "'decoder5.final.weight'" in message

    # A wrong shape (the transposed convolution stored the other way round), a wrong type.
    message = _load_error({**state, "upfeat2.weight": torch.zeros(2, 531, 4, 4)})
    assert "'upfeat2.weight'" in message and "(2, 531, 4, 4)" in message
    assert "(531, 2, 4, 4)" in message
    message = _load_error({**state, "deconv4.bias": torch.zeros(2, dtype=torch.int64)})
    assert "'deconv4.bias'" in message and "floating" in message

    # GOCor keys: one missing, one unknown, one misshapen.
    message = _load_error(
        {k: v for k, v in gocor.items() if k != "local_corr.filter_optimizer.filter_reg"}
    )
    assert "'local_corr.filter_optimizer.filter_reg'" in message and "missing" in message
    message = _load_error({**gocor, "corr.corr_module.filter_optimizer.extra": torch.zeros(1)})
    assert "'corr.corr_module.filter_optimizer.extra'" in message
    message = _load_error(
        {**gocor, "corr.corr_module.filter_initializer.target_fg": torch.zeros(256)}
    )
    assert "'corr.corr_module.filter_initializer.target_" in message and "(256,)" in message

    # Not a weights file at all, and one that would run code when unpickled.
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    assert "not a PyTorch weights file" in _load_error(text)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": state, "args": argparse.Namespace(lr=0.1)}, unsafe)
    assert "not a PyTorch weights file that can be read safely" in _load_error(unsafe)
    with pytest.raises(FileNotFoundError, match="GOCor authors"):
        load_official_glunet(tmp_path / "absent.pth")


# ---------------------------------------------------------------------------------------------
# Conventions, pinned by networks whose flow is known exactly.

# A 16x16 grid of blocks on each image: the red value of a source block is its index
# 16 * row + column, green 200 marks a block with a match (0: none). A target block's red is the
# index of the source block it shows. A stand-in pyramid reads these codes at stride 16 of the
# 256x256 copies as one-hot features; every other level gets constant features. With a mapping
# decoder set to the soft-argmax of the one-hot volume (exact for a one-hot peak), residual
# decoders that output zero and deconvolutions that are bilinear upsamplers, the network's
# flow is exactly the affine map of the blocks wherever no image border is near.


class CodePyramid(nn.Module):
    def forward(self, images: Tensor, levels: tuple[int, ...]) -> list[Tensor]:
        outputs = []
        for level in levels:
            stride = 2**level
            height, width = images.shape[2] // stride, images.shape[3] // stride
            if level < 4:
                outputs.append(images.new_ones(images.shape[0], 4, height, width))
                continue
            centre = images[:, :, stride // 2 :: stride, stride // 2 :: stride]
            values = torch.round(
                (
                    centre * torch.tensor(STD).to(images).view(1, 3, 1, 1)
                    + torch.tensor(MEAN).to(images).view(1, 3, 1, 1)
                )
                * 255
            )
            code, valid = values[:, 0].long(), values[:, 1] == 200
            onehot = F.one_hot(code, 256).to(images) * valid[..., None]  # (B, h, w, 256)
            outputs.append(onehot.permute(0, 3, 1, 2))
        return outputs


def soft_argmax_network(postprocess: str) -> GLUNet:
    """The network described above. The one-hot volume's peak is not exactly 1 (the epsilons
    of L2n and of the mutual matching): the mapping's weights divide it out."""
    peak = 1 / (1 + 1e-6)  # <L2n(e_k), L2n(e_k)>
    if postprocess == "relu_l2norm":
        peak = peak * (peak / (peak + 1e-5)) ** 2  # mutual matching, M_s = M_t = peak
        peak = peak / math.sqrt(peak**2 + 1e-6)  # L2n(ReLU)
    config = GLUNetConfig(
        pyramid="small",
        pyramid_channels=(4, 4, 4, 256),
        mapping_channels=(2, 2, 2, 2, 2),
        decoder_channels=(2,),
        context_channels=(2,),
        context_dilations=(1,),
        global_postprocess=postprocess,  # type: ignore[arg-type]
        cyclic_consistency=postprocess == "relu_l2norm",
        name="soft-argmax",
    )
    network = GLUNet(config).double()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        for module in network.modules():
            if isinstance(module, nn.BatchNorm2d):  # identity
                module.weight.fill_(1.0)
                module.running_mean.zero_()
                module.running_var.fill_(1.0 - module.eps)
        cells = torch.arange(256)
        normalised = torch.stack([cells % 16, cells // 16]).double() * 2 / 15 - 1  # (2, 256)
        first = network.decoder4.conv0[0]
        first.weight[:2, :256, 1, 1] = (normalised + 2) / peak  # positive through the ReLUs
        for index in range(1, 5):
            getattr(network.decoder4, f"conv{index}")[0].weight[:2, :2, 1, 1] = torch.eye(2)
        network.decoder4.final.weight[:, :, 1, 1] = torch.eye(2)
        network.decoder4.final.bias.fill_(-2.0)
        bilinear = torch.tensor([0.25, 0.75, 0.75, 0.25], dtype=torch.float64)
        for deconv in (network.deconv4, network.deconv2):
            deconv.weight[0, 0] = deconv.weight[1, 1] = torch.outer(bilinear, bilinear)
    network.pyramid = CodePyramid()
    return network.eval()


def code_images(size: tuple[int, int], codes: Tensor, valid: Tensor) -> Tensor:
    """uint8 (1, 3, H, W): 16x16 blocks with red = codes (16, 16), green = 200 where valid."""
    height, width = size
    red = codes.repeat_interleave(height // 16, 0).repeat_interleave(width // 16, 1)
    green = (valid.to(torch.int64) * 200).repeat_interleave(height // 16, 0)
    green = green.repeat_interleave(width // 16, 1)
    return torch.stack([red, green, torch.full_like(red, 80)])[None].to(torch.uint8)


MAPPINGS = {
    # target cell (x, y) shows source cell H(x, y)
    "translation": lambda x, y: (x + 2, y - 1),
    "rotation": lambda x, y: (15 - y, x),  # a quarter turn: x and y trade places
}


@pytest.mark.parametrize("postprocess", ["leakyrelu", "relu_l2norm"])
@pytest.mark.parametrize("mapping", list(MAPPINGS))
@pytest.mark.parametrize(
    "source_size", [(320, 640), (384, 512)], ids=["different-sizes", "same-size"]
)
def test_the_flow_points_from_target_pixels_to_their_source_pixels(
    mapping, source_size, postprocess
):
    target_size = (384, 512)  # working size = the image; the 256 copies are anisotropic
    ys, xs = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    mx, my = MAPPINGS[mapping](xs, ys)
    valid = (mx >= 0) & (mx <= 15) & (my >= 0) & (my <= 15)
    target = code_images(target_size, (16 * my + mx).clamp(0, 255) * valid, valid)
    source = code_images(source_size, 16 * ys + xs, torch.ones(16, 16, dtype=torch.bool))
    network = soft_argmax_network(postprocess)
    trace = network.trace(target, source)
    flow = trace.estimated_flow[0]

    # Expected: target pixel -> its cell coordinate on the 16 grid -> the map -> source pixel.
    height_t, width_t = target_size
    height_s, width_s = source_size
    py, px = torch.meshgrid(
        torch.arange(height_t, dtype=torch.float64),
        torch.arange(width_t, dtype=torch.float64),
        indexing="ij",
    )
    cx, cy = (px + 0.5) * 16 / width_t - 0.5, (py + 0.5) * 16 / height_t - 0.5
    sx, sy = MAPPINGS[mapping](cx, cy)
    expected = torch.stack(
        [(sx + 0.5) * width_s / 16 - 0.5 - px, (sy + 0.5) * height_s / 16 - 0.5 - py]
    )
    # Where the network is exact: three cells away from the grid's border and from targets
    # without a match (borders of the deconvolutions' and resamplings' supports).
    good = F.max_pool2d((~valid)[None, None].double(), 7, 1, 3)[0, 0] == 0
    good[:3], good[-3:], good[:, :3], good[:, -3:] = False, False, False, False
    inside = good[cy.round().long().clamp(0, 15), cx.round().long().clamp(0, 15)]
    assert inside.sum() > 1000
    assert (flow - expected)[:, inside].abs().max() < 1e-9

    # The direction, read off the images: the source pixel at p + flow(p) shows target p's block.
    centres_y = torch.arange(16) * (height_t // 16) + height_t // 32
    centres_x = torch.arange(16) * (width_t // 16) + width_t // 32
    for flow_kind, field in (("ours", flow), ("authors", trace.flow[0])):
        mismatches = 0
        for i in range(16):
            for j in range(16):
                if not good[i, j]:
                    continue
                y, x = int(centres_y[i]), int(centres_x[j])
                sx_, sy_ = x + field[0, y, x].item(), y + field[1, y, x].item()
                seen = source[0, :2, round(sy_), round(sx_)].tolist()
                mismatches += seen != target[0, :2, y, x].tolist()
        if flow_kind == "ours" or source_size == target_size:
            assert mismatches == 0, flow_kind
        else:
            assert mismatches > 0  # the authors' target-ratio scaling misses (pitfall 2)
    if source_size == target_size:
        assert torch.equal(trace.flow, trace.estimated_flow)


def test_preparation_area_truncation_and_shift():
    def decode(prepared: Tensor) -> Tensor:
        mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
        std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)
        return torch.round((prepared * std + mean) * 255)

    # Upsampling 3 -> 4 with 'area': windows {0}, {0, 1}, {1, 2}, {2}: 10, 15.5, 30.5, 40,
    # truncated to 10, 15, 30, 40 (not bilinear, not rounded).
    row = torch.tensor([10, 21, 40], dtype=torch.uint8).view(1, 1, 1, 3).expand(1, 3, 1, 3)
    assert decode(prepare_image(row, (1, 4), torch.float64))[0, 0, 0].tolist() == [10, 15, 30, 40]
    # Downsampling 2x2 -> 1: mean 1.75 -> 1 (rounding would give 2).
    block = torch.tensor([[1, 2], [2, 2]], dtype=torch.uint8).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    assert decode(prepare_image(block, (1, 1), torch.float64)).flatten().tolist() == [1.0] * 3
    # A shift by (4, 2) pixels of a 512x512 image is a shift by (2, 1) of its 256 copy.
    image = images(1, (520, 520), 12)
    target, source = image[:, :, :512, :512], image[:, :, 2:514, 4:516]
    low_t = prepare_image(target, (256, 256), torch.float64)
    low_s = prepare_image(source, (256, 256), torch.float64)
    assert torch.equal(low_s[:, :, :-1, :-2], low_t[:, :, 1:, 2:])


def test_the_warp_reads_the_source_at_p_plus_flow():
    generator = torch.Generator().manual_seed(13)
    features = torch.randn(2, 3, 6, 7, generator=generator, dtype=torch.float64)
    flow = torch.zeros(2, 2, 6, 7, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 2.0, -1.0  # every cell looks 2 columns right, 1 row up
    warped = network_warp(features, flow)
    # (Positions are normalised and back, as in the authors' code: exact to rounding.)
    assert torch.allclose(warped[:, :, 1:, :5], features[:, :, :5, 2:], rtol=0, atol=1e-14)
    assert warped[:, :, 0].abs().max() < 1e-14 and warped[:, :, :, 5:].abs().max() < 1e-14
    flow = torch.randn(2, 2, 6, 7, generator=generator, dtype=torch.float64) * 2
    assert relative_error(network_warp(features, flow), ref_warp(features, flow)) < 1e-14
    # By hand at one cell: (x, y) = (3, 2) with flow (0.25, 0.5) reads the four cells around
    # (3.25, 2.5) with weights 0.375, 0.125, 0.375, 0.125.
    flow = torch.zeros(1, 2, 6, 7, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = 0.25, 0.5
    f = features[:1, 0]
    by_hand = 0.375 * f[0, 2, 3] + 0.125 * f[0, 2, 4] + 0.375 * f[0, 3, 3] + 0.125 * f[0, 3, 4]
    assert torch.allclose(network_warp(features[:1], flow)[0, 0, 2, 3], by_hand, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# The network's volumes are the project's correlations, configured alike.


def test_the_volumes_are_the_projects_correlations(tiny_networks):
    target, source = images(1, (250, 270), 14), images(1, (250, 270), 15)
    for gocor, network in tiny_networks.items():
        trace = network.trace(target, source)
        with torch.no_grad():
            c13, c14 = network.pyramid(trace.target_256, (3, 4))
            c23, c24 = network.pyramid(trace.source_256, (3, 4))
        norm_t = c14 / torch.sqrt((c14**2).sum(1, keepdim=True) + 1e-6)
        norm_s = c24 / torch.sqrt((c24**2).sum(1, keepdim=True) + 1e-6)
        warped = network_warp(c23, trace.up_flow4 / 8)
        if gocor:
            global_module = GlobalGOCor(network.corr.config).double()  # type: ignore[union-attr]
            global_module.load_state_dict(network.corr.state_dict())  # type: ignore[union-attr]
            local_module = LocalGOCor(network.local_corr.config).double()  # type: ignore[union-attr]
            local_module.load_state_dict(network.local_corr.state_dict())  # type: ignore[union-attr]
            with torch.no_grad():
                expected_global = global_module(norm_t, norm_s)
                expected_local = local_module(c13, warped)
            assert trace.levels[0].gocor is not None
            assert torch.equal(trace.levels[0].gocor.volumes[-1], trace.levels[0].volume)
        else:
            expected_global = global_correlation(norm_t, norm_s)
            expected_local = local_correlation(c13, warped, radius=4)
            assert trace.levels[0].gocor is None
        assert torch.equal(trace.levels[0].volume, expected_global)
        assert torch.equal(trace.levels[1].volume, expected_local)
        # The flat layouts the decoders read: source positions row-major in channels, dy-major.
        assert torch.equal(trace.corr4_raw[0, 16 * 5 + 9, 3, 11], expected_global[0, 3, 11, 5, 9])
        assert torch.equal(trace.corr3[0, 9 * 2 + 7, 20, 4], expected_local[0, 20, 4, 2, 7])


def test_gocor_switched_off_is_the_correlation_network(tiny_networks):
    with_gocor, without = tiny_networks[True], tiny_networks[False]
    assert GLUNetConfig.small(False) == GLUNetConfig.small(True).without_gocor()
    assert without.corr is None and without.local_corr is None
    shared = {k: v for k, v in with_gocor.state_dict().items() if not k.startswith("corr")}
    shared = {k: v for k, v in shared.items() if not k.startswith("local_corr")}
    assert shared.keys() == without.state_dict().keys()
    # Every intermediate of it is the reference network with plain correlations (checked in
    # float64 above); its volumes are the plain correlations (checked below); GOCor does
    # change the flow.
    target, source = images(1, (256, 256), 16), images(1, (256, 256), 17)
    plain = without.estimate_flow(target, source)
    assert relative_error(with_gocor.estimate_flow(target, source), plain) > 1e-3


# ---------------------------------------------------------------------------------------------
# Shapes, dtypes, devices, inputs.


def test_shapes_dtypes_devices_and_inputs(tiny_networks):
    network = GLUNet(tiny_config(True)).eval()
    network.load_state_dict(tiny_networks[True].state_dict())  # float32 copy
    target = images(1, (300, 1500), 18)  # large and wide: one extra level
    flow = network.estimate_flow(target, images(1, (333, 411), 19))
    assert flow.shape == (1, 2, 300, 1500) and flow.dtype == torch.float32
    array = target[0].permute(1, 2, 0).numpy()
    small = network.estimate_flow(array[:31, :45], array[:50, :20])
    assert small.shape == (1, 2, 31, 45) and small.dtype == torch.float32
    double = tiny_networks[False].estimate_flow(array[:31, :45], array[:50, :20])
    assert double.dtype == torch.float64 and double.shape == (1, 2, 31, 45)

    meta = GLUNet(tiny_config(True)).eval().to("meta")
    target_meta = torch.empty(2, 3, 300, 1200, dtype=torch.uint8, device="meta")
    out = meta.estimate_flow(
        target_meta, torch.empty(2, 3, 200, 201, dtype=torch.uint8, device="meta")
    )
    assert out.device.type == "meta" and out.shape == (2, 2, 300, 1200)

    with pytest.raises(ValueError, match="uint8"):
        network.estimate_flow(target.float(), target)
    with pytest.raises(ValueError, match="same batch size"):
        network.estimate_flow(target, torch.cat([target, target]))
    with pytest.raises(ValueError, match="on meta, the network on cpu"):
        network.estimate_flow(target_meta, target_meta)
    limited = GLUNet(dataclasses.replace(tiny_config(False), max_image_pixels=100_000))
    with pytest.raises(ValueError, match="over this network's limit of 100,000"):
        limited.estimate_flow(target, target)
    with pytest.raises(ValueError, match="too elongated"):
        meta.estimate_flow(
            torch.empty(1, 3, 20, 40_000, dtype=torch.uint8, device="meta"), target_meta[:1]
        )


@pytest.mark.gpu
def test_cuda_follows_the_inputs():
    network = GLUNet(tiny_config(True)).eval().cuda()
    target = images(1, (250, 300), 20)
    flow = network.estimate_flow(target.cuda(), target.cuda())
    assert flow.device.type == "cuda"
    reference = GLUNet(tiny_config(True)).eval()
    reference.load_state_dict(network.state_dict())
    assert relative_error(flow.cpu(), reference.estimate_flow(target, target)) < 1e-4


def test_forward_trains_end_to_end_with_gocor_inside():
    torch.manual_seed(21)
    config = GLUNetConfig.small(
        True, channels=(4, 8, 8, 16), width=0.0625, query_loss=True, local_iterations=1
    )
    network = GLUNet(config).train()
    prepared = network.prepare(images(1, (256, 256), 22), images(1, (256, 256), 23))
    output = network(prepared.target, prepared.source, prepared.target_l, prepared.source_l)
    assert [flow.shape for flow in output.flows] == [
        (1, 2, 16, 16),
        (1, 2, 32, 32),
        (1, 2, 32, 32),
        (1, 2, 64, 64),
    ]
    loss = sum(flow.abs().mean() for flow in output.flows)
    loss.backward()
    for name in (
        "pyramid.level_1.0.weight",
        "decoder4.conv0.0.weight",
        "decoder3.conv_0.0.weight",
        "dc_conv1.0.weight",
        "decoder1.predict_flow.weight",
        "corr.log_step_length",
        "corr.query_loss.source_weight",
        "local_corr.reg",
    ):
        grad = dict(network.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


# ---------------------------------------------------------------------------------------------
# The command.


def test_the_command_runs_the_authors_network(checkpoints, tmp_path):
    from PIL import Image

    from gocor_lite.cli.flow import main

    pair = images(1, (60, 90), 24)[0].permute(1, 2, 0).numpy()
    Image.fromarray(pair).save(tmp_path / "t.png")
    Image.fromarray(pair[5:55, 10:80]).save(tmp_path / "s.png")
    out, saved = tmp_path / "flow.png", tmp_path / "flow.npy"
    weights = str(checkpoints["GLUNet_path"])
    files = [str(tmp_path / "t.png"), str(tmp_path / "s.png")]
    assert main([*files, "--weights", weights, "--out", str(out), "--save-flow", str(saved)]) == 0
    assert out.stat().st_size > 1000
    flow = np.load(saved)
    assert flow.shape == (2, 60, 90) and np.isfinite(flow).all()
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    assert main([*files, "--weights", str(other), "--out", str(out)]) == 1
    with pytest.raises(SystemExit):
        main([*files, "--weights", weights, "--estimator", "argmax"])


def test_the_time_command(capsys):
    from gocor_lite.cli.flow import main

    command = ["time", "--network", "small-correlation", "--size", "64", "48", "--repeat", "1"]
    assert main(command) == 0
    assert "small-correlation (random weights), 64x48, float32" in capsys.readouterr().out
