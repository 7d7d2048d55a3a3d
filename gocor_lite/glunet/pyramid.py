# SPDX-License-Identifier: MIT
"""GLU-Net's feature pyramids: VGG-16 cut into five blocks (the papers'), or a small CNN with the
same outputs (this project's CPU-sized network).

Both are an ``nn.Module`` whose children ``level_<l>`` run in order; level ``l >= 1`` ends with
a 2x2 max pooling (stride 2, floor), so its output has stride ``2^l``. The network reads level 2
(stride 4) and level 3 (stride 8) of the full-resolution copies and level 3 and level 4
(stride 16) of the 256x256 copies (reference §3).

VGG-16 (keys ``pyramid.level_<l>.<i>``, as in the released checkpoints; convolutions 3x3,
padding 1, each followed by ReLU; no conv5):

=========  ==============================================  ========  ======
level      layers                                          channels  stride
=========  ==============================================  ========  ======
level_0    conv1_1, ReLU                                   64        1
level_1    conv1_2, ReLU, pool                             64        2
level_2    conv2_1, ReLU, conv2_2, ReLU, pool              128       4
level_3    conv3_1..3_3 (ReLU after each), pool            256       8
level_4    conv4_1..4_3 (ReLU after each), pool            512       16
=========  ==============================================  ========  ======

The small pyramid has no level 0; its level 1 is one convolution and ReLU then the pooling, and
levels 2..4 are two convolutions (ReLU after each) then the pooling, with the configured
channels. A max pooling keeps the cell centres of :mod:`gocor_lite.core.grid` (cell ``i`` of stride
``s`` centred on pixel ``(i + 0.5) s - 0.5``).

The XFeat pyramid (this project's network on pretrained features) reads XFeat's frozen
backbone (:mod:`gocor_lite.core.xfeat`; its weights are loaded by
:func:`gocor_lite.files.weights.build_glunet`) once per image and gives

=========  ==========================================================  ========  ======
level      from XFeat's maps                                           channels  stride
=========  ==========================================================  ========  ======
level_2    a trained adapter on [block2 map, descriptor upsampled 2x]   64        4
level_3    the fused descriptor, L2-normalised and scaled by sqrt(64)   64        8
level_4    the fused descriptor, 2x2 average-pooled                     64        16
=========  ==========================================================  ========  ======

so that a local correlation (a mean over channels) of level 3 is the cosine of XFeat's
descriptors, and the global level (L2-normalised by the network) correlates XFeat's pooled
descriptor. Level 1 is not produced (the network never reads it). The adapter (a 3x3
convolution to 64 channels, ReLU, a 1x1 convolution) is the pyramid's only parameters: the
stride-4 map of XFeat alone is not a descriptor (it matches few cells right), and the
descriptor upsampled has no detail finer than 8 pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gocor_lite.core.xfeat import XFeatBackbone
from gocor_lite.glunet.blocks import fast_layout
from gocor_lite.glunet.config import GLUNetConfig
from gocor_lite.glunet.preparation import IMAGENET_MEAN, IMAGENET_STD

_VGG16_BLOCKS = ((64,), (64,), (128, 128), (256, 256, 256), (512, 512, 512))


def _block(in_channels: int, widths: tuple[int, ...], pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = width
    if pool:
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def _run_block(block: nn.Module, x: Tensor) -> Tensor:
    """``block(x)`` with each ReLU in place on the convolution's fresh output (one pass and one
    allocation fewer; a convolution's gradient does not read its output, so autograd is
    unaffected)."""
    for layer in block.children():
        x = torch.relu_(x) if isinstance(layer, nn.ReLU) else layer(x)
    return x


class FeaturePyramid(nn.Module):
    """``pyramid(images, levels=(2, 3)) -> [level-2 output, level-3 output]``.

    Shapes: ``(B, 3, H, W)`` -> level ``l``: ``(B, channels[l-1], H // 2^l, W // 2^l)``.
    The images are the network's prepared inputs (ImageNet-normalised, reference §2.1).
    Only the levels up to the deepest one asked for run.
    """

    def __init__(self, config: GLUNetConfig):
        super().__init__()
        self.kind = config.pyramid
        self.channels = config.pyramid_channels
        if config.pyramid == "xfeat":
            self.backbone = XFeatBackbone()
            fine, descriptor = 24, 64
            self.adapter = nn.Sequential(
                nn.Conv2d(fine + descriptor, config.pyramid_channels[1], 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(config.pyramid_channels[1], config.pyramid_channels[1], 1),
            )
            return
        if config.pyramid == "vgg16":
            in_channels = 3
            for index, widths in enumerate(_VGG16_BLOCKS):
                self.add_module(f"level_{index}", _block(in_channels, widths, pool=index > 0))
                in_channels = widths[-1]
        else:
            in_channels = 3
            for index, width in enumerate(config.pyramid_channels, start=1):
                widths = (width,) if index == 1 else (width, width)
                self.add_module(f"level_{index}", _block(in_channels, widths, pool=True))
                in_channels = width

    def forward(self, images: Tensor, levels: tuple[int, ...] = (2, 3)) -> list[Tensor]:
        if self.kind == "xfeat":
            return self._xfeat(images, levels)
        deepest = max(levels)
        outputs: dict[int, Tensor] = {}
        # Channels last on the CPU (blocks.fast_layout): oneDNN's convolutions and max pooling
        # took 3.2 s instead of 4.6 s for VGG-16's levels of a 640 x 480 pair and its 256 x 256
        # copies (one thread, median of 5, wall time on a loaded machine), the same numbers to
        # float rounding.
        x = fast_layout(images)
        for name, block in self.named_children():
            index = int(name.rpartition("_")[2])
            if index > deepest:
                break
            x = _run_block(block, x)
            outputs[index] = x
        return [outputs[level] for level in levels]

    def _xfeat(self, images: Tensor, levels: tuple[int, ...]) -> list[Tensor]:
        if not set(levels) <= {2, 3, 4}:
            raise ValueError(f"the XFeat pyramid has levels 2, 3 and 4, asked for {levels}")
        mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        maps = self.backbone(images * std + mean)  # back to [0, 1] from the network's inputs
        descriptor = maps.descriptor  # (B, 64, H/8, W/8)
        outputs: dict[int, Tensor] = {}
        if 2 in levels:
            up = F.interpolate(descriptor, size=maps.fine.shape[2:], mode="bilinear")
            outputs[2] = self.adapter(torch.cat([maps.fine, up], 1))  # (B, 64, H/4, W/4)
        if 3 in levels:
            norm = descriptor.norm(dim=1, keepdim=True).clamp_min(1e-8)
            outputs[3] = descriptor / norm * math.sqrt(descriptor.shape[1])
        if 4 in levels:
            outputs[4] = F.avg_pool2d(descriptor, 2)  # (B, 64, H/16, W/16)
        return [outputs[level] for level in levels]
