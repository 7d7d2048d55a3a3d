# SPDX-License-Identifier: MIT
"""GLU-Net's learned blocks: the mapping decoder of the global level (CMDTop), the dense flow
decoders of the local levels, and the dilated context network (reference §4.2, §7.3, §7.4).

Every convolution is 3x3 with bias. Normalised blocks are ``nn.Sequential(conv, norm, act)``,
so that their keys are ``<name>.0.*`` (convolution) and ``<name>.1.*`` (the normalisation), as
in the released checkpoints. The normalisation is BatchNorm (``eps = 1e-5``, the authors') or,
for small batches and data-parallel training on CPUs, GroupNorm with groups of
:data:`GROUP_SIZE` channels (statistics per pair, so a batch split over processes computes
exactly what one process computes; :class:`torch.nn.SyncBatchNorm` needs CUDA).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

NEGATIVE_SLOPE = 0.1  # every LeakyReLU of GLU-Net
GROUP_SIZE = 4  # channels per group of GroupNorm (normalization="group")


def fast_layout(x: Tensor) -> Tensor:
    """``x`` in the memory layout the convolutions run fastest on: channels last on the CPU
    (oneDNN; decoder1 and its context network on a 640 x 480 pair took 1.9 s instead of 2.2 s,
    one thread, wall time on a loaded machine), as it is elsewhere. Values and shapes are
    unchanged; a decoder's outputs keep the layout, and its concatenations stay channels last
    without a copy."""
    if x.device.type == "cpu":
        return x.contiguous(memory_format=torch.channels_last)
    return x


def norm_layer(channels: int, normalization: str = "batch") -> nn.Module:
    """BatchNorm2d (``"batch"``) or GroupNorm of :data:`GROUP_SIZE`-channel groups
    (``"group"``; one group if ``channels`` is not a multiple)."""
    if normalization == "batch":
        return nn.BatchNorm2d(channels)
    if normalization == "group":
        groups = channels // GROUP_SIZE if channels % GROUP_SIZE == 0 else 1
        return nn.GroupNorm(groups, channels)
    raise ValueError(f"normalization must be 'batch' or 'group', got {normalization!r}")


def conv_bn(
    in_channels: int,
    out_channels: int,
    *,
    dilation: int = 1,
    leaky: bool = True,
    normalization: str = "batch",
) -> nn.Sequential:
    """Conv 3x3 (padding = dilation, bias), normalisation, LeakyReLU(0.1) (or ReLU)."""
    activation: nn.Module = nn.LeakyReLU(NEGATIVE_SLOPE) if leaky else nn.ReLU()
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation),
        norm_layer(out_channels, normalization),
        activation,
    )


class MappingDecoder(nn.Module):
    """CMDTop, ``decoder4``: the global volume (with two constant zero channels appended) to a
    mapping in normalised source coordinates.

    Shapes: ``(B, N + 2, g, g) -> (B, 2, g, g)``. Layers ``conv0..conv4`` are Conv, BN, **ReLU**
    (not leaky); ``final`` is a plain convolution to 2 channels.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...], normalization: str = "batch"):
        super().__init__()
        for index, width in enumerate(widths):
            layer = conv_bn(in_channels, width, leaky=False, normalization=normalization)
            self.add_module(f"conv{index}", layer)
            in_channels = width
        self.depth = len(widths)
        self.final = nn.Conv2d(in_channels, 2, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = fast_layout(x)
        for index in range(self.depth):
            x = getattr(self, f"conv{index}")(x)
        return self.final(x)


class FlowDecoder(nn.Module):
    """``decoder3``, ``decoder2``, ``decoder1`` (the authors' OpticalFlowEstimator), DenseNet
    style: after each ``conv_i`` the new features go *in front* of the stack,
    ``x <- cat(conv_i(x), x)``; ``predict_flow`` (a plain convolution) reads the whole stack.

    Shapes: ``(B, C_in, h, w) -> (x (B, C_in + sum(widths), h, w), residual (B, 2, h, w))``;
    ``x`` is ``[conv_4, conv_3, conv_2, conv_1, conv_0, input]`` along channels.
    """

    def __init__(self, in_channels: int, widths: tuple[int, ...], normalization: str = "batch"):
        super().__init__()
        for index, width in enumerate(widths):
            self.add_module(
                f"conv_{index}", conv_bn(in_channels, width, normalization=normalization)
            )
            in_channels += width
        self.depth = len(widths)
        self.out_channels = in_channels
        self.predict_flow = nn.Conv2d(in_channels, 2, 3, padding=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = fast_layout(x)
        for index in range(self.depth):
            x = torch.cat([getattr(self, f"conv_{index}")(x), x], dim=1)
        return x, self.predict_flow(x)


def context_layers(
    in_channels: int,
    widths: tuple[int, ...],
    dilations: tuple[int, ...],
    normalization: str = "batch",
) -> list[nn.Module]:
    """The dilated context network as a list of layers, to be registered by the network as
    ``dc_conv1..7`` (after decoder3) or ``l_dc_conv1..7`` (after decoder1): Conv (dilation =
    padding), BN, LeakyReLU for each width, then a plain 3x3 convolution to 2 channels.

    Shapes: ``(B, C_in, h, w) -> (B, 2, h, w)`` when run in order (:func:`run_layers`).
    """
    layers: list[nn.Module] = []
    for width, dilation in zip(widths, dilations, strict=True):
        layers.append(conv_bn(in_channels, width, dilation=dilation, normalization=normalization))
        in_channels = width
    layers.append(nn.Conv2d(in_channels, 2, 3, padding=1))
    return layers


def run_layers(module: nn.Module, prefix: str, count: int, x: Tensor) -> Tensor:
    """Run ``module.<prefix>1 .. <prefix><count>`` in order."""
    for index in range(1, count + 1):
        x = getattr(module, f"{prefix}{index}")(x)
    return x
