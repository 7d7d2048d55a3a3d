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
channels. A max pooling keeps the cell centres of :mod:`gocor_lite.grid` (cell ``i`` of stride
``s`` centred on pixel ``(i + 0.5) s - 0.5``).
"""

from __future__ import annotations

from torch import Tensor, nn

from gocor_lite.glunet.config import GLUNetConfig

_VGG16_BLOCKS = ((64,), (64,), (128, 128), (256, 256, 256), (512, 512, 512))


def _block(in_channels: int, widths: tuple[int, ...], pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = width
    if pool:
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class FeaturePyramid(nn.Module):
    """``pyramid(images, levels=(2, 3)) -> [level-2 output, level-3 output]``.

    Shapes: ``(B, 3, H, W)`` -> level ``l``: ``(B, channels[l-1], H // 2^l, W // 2^l)``.
    The images are the network's prepared inputs (ImageNet-normalised, reference §2.1).
    Only the levels up to the deepest one asked for run.
    """

    def __init__(self, config: GLUNetConfig):
        super().__init__()
        self.kind = config.pyramid
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
        self.channels = config.pyramid_channels

    def forward(self, images: Tensor, levels: tuple[int, ...] = (2, 3)) -> list[Tensor]:
        deepest = max(levels)
        outputs: dict[int, Tensor] = {}
        x = images
        for name, block in self.named_children():
            index = int(name.rpartition("_")[2])
            if index > deepest:
                break
            x = block(x)
            outputs[index] = x
        return [outputs[level] for level in levels]
