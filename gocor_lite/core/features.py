# SPDX-License-Identifier: MIT
"""Feature extractors behind one interface: images ``(B, 3, H, W)`` in ``[0, 1]`` ->
features ``(B, C, h, w)``, each with its ``stride`` (image pixels per feature cell).

Cell ``i`` of an extractor with stride ``s`` describes the image around pixel
``(i + 0.5) * s - 0.5`` (see :mod:`gocor_lite.core.grid`); ``h = H // s`` and ``w = W // s``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gocor_lite._checks import check_feature_map, check_feature_pair
from gocor_lite.core.xfeat import XFeatBackbone
from gocor_lite.files.statedict import CheckpointError, read_state_dict, take_tensors
from gocor_lite.files.weights import LEARNED_FEATURES, load_xfeat_backbone
from gocor_lite.gocor.interop import OfficialGOCor, load_official_checkpoint


class FeatureExtractor(nn.Module):
    """Base class: subclasses set ``name``, ``stride``, ``channels`` and implement ``extract``."""

    name: str = "base"
    stride: int = 1
    channels: int = 0

    def forward(self, images: Tensor) -> Tensor:
        """Shapes: ``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, C, H // stride, W // stride)``."""
        images = check_feature_map("images", images)
        if images.shape[1] != 3:
            raise ValueError(f"images must have 3 channels (B, 3, H, W), got {tuple(images.shape)}")
        if images.shape[2] < self.stride or images.shape[3] < self.stride:
            raise ValueError(
                f"images of size {tuple(images.shape[2:])} are smaller than one feature cell "
                f"({self.stride} pixels) of the {self.name!r} extractor"
            )
        return self.extract(images)

    def extract(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def grid_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Feature-map size ``(h, w)`` for an image of size ``(H, W)``."""
        return image_size[0] // self.stride, image_size[1] // self.stride


@dataclass(frozen=True)
class DaisyOptions:
    """Parameters of scikit-image's DAISY (defaults give 104 channels)."""

    radius: int = 15  # outer ring radius, in pixels
    rings: int = 2
    histograms: int = 6  # per ring
    orientations: int = 8


class DaisyExtractor(FeatureExtractor):
    """Dense DAISY descriptors (Tola et al., 2010) from scikit-image: a training-free baseline.

    Descriptors are sampled every ``stride`` pixels on the grey image, centred on pixel
    ``i * stride + stride // 2``: the cell centre of :mod:`gocor_lite.core.grid` rounded up by half
    a pixel for even strides. The image border is reflected so every cell has a descriptor.
    Computed with numpy on the CPU; the result follows the input's device and dtype.
    """

    name = "daisy"

    def __init__(self, stride: int = 8, options: DaisyOptions | None = None):
        super().__init__()
        self.stride = stride
        self.options = options or DaisyOptions()
        per_ring = self.options.rings * self.options.histograms + 1
        self.channels = per_ring * self.options.orientations

    def extract(self, images: Tensor) -> Tensor:
        from skimage.feature import daisy

        radius, stride = self.options.radius, self.stride
        height, width = self.grid_size((images.shape[2], images.shape[3]))
        grey = (
            (
                images.detach().to("cpu", torch.float64)
                * torch.tensor([0.2125, 0.7154, 0.0721], dtype=torch.float64).view(1, 3, 1, 1)
            )
            .sum(1)
            .numpy()
        )  # (B, H, W)
        out = []
        for image in grey:
            # daisy samples at radius + k * step; pad so that sample k lands on the cell centre.
            before = radius - stride // 2
            padded = np.pad(image, ((before, radius), (before, radius)), mode="reflect")
            descriptors = daisy(
                padded,
                step=stride,
                radius=radius,
                rings=self.options.rings,
                histograms=self.options.histograms,
                orientations=self.options.orientations,
            )  # (rows, cols, C)
            out.append(torch.from_numpy(np.ascontiguousarray(descriptors[:height, :width])))
        features = torch.stack(out).permute(0, 3, 1, 2)  # (B, C, h, w)
        return features.to(device=images.device, dtype=images.dtype)


# --- Weights files -------------------------------------------------------------------------------


class _TorchExtractor(FeatureExtractor):
    """An extractor with parameters: the images must be on its device, in its dtype (move it
    with ``extractor.to(...)``; a module never changes its own parameters in ``forward``)."""

    def _check_placement(self, images: Tensor) -> None:
        # Its first parameter, or its first buffer for a frozen network held in buffers.
        parameter = next(itertools.chain(self.parameters(), self.buffers()), None)
        if parameter is not None and (
            parameter.device != images.device or parameter.dtype != images.dtype
        ):
            raise ValueError(
                f"the {self.name!r} extractor is on {parameter.device} in {parameter.dtype}, the "
                f"images on {images.device} in {images.dtype}: move one to the other "
                "(extractor.to(images) or images.to(...))"
            )


# --- The project's own small CNN -----------------------------------------------------------------


class LearnedExtractor(_TorchExtractor):
    """A small CNN trained by this project, self-supervised on synthetic warps (GLU-Net recipe).

    Three stages, each halving the resolution with a 4x4 convolution of stride 2 and padding 1
    (output ``i`` sees input ``2i - 1 .. 2i + 2``, centred on ``2i + 0.5``: exactly the cell
    centre of :mod:`gocor_lite.core.grid`, which a 3x3 convolution of stride 2 would miss by half a
    pixel), then a 3x3 convolution; GroupNorm and ReLU after each; a final 1x1 convolution gives
    64 signed channels. Stride 8, about 270 thousand parameters.

    ``weights``: a file holding the network's state dict (``layers.*``), as written by
    ``python -m gocor_lite.cli.train``; ``None`` leaves the network randomly initialised (to train
    it). The shipped weights: :func:`gocor_lite.files.weights.make_extractor` ``("learned")``.

    Shapes: ``(B, 3, H, W)`` -> ``(B, 64, H // 8, W // 8)``.
    """

    name = "learned"
    stride = 8
    channels = 64
    widths = (32, 64, 96)  # channels of the three stages

    def __init__(self, weights: str | Path | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        previous = 3
        for width in self.widths:
            layers += [
                nn.Conv2d(previous, width, kernel_size=4, stride=2, padding=1),
                nn.GroupNorm(8, width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, kernel_size=3, padding=1),
                nn.GroupNorm(8, width),
                nn.ReLU(inplace=True),
            ]
            previous = width
        layers.append(nn.Conv2d(previous, self.channels, kernel_size=1))
        self.layers = nn.Sequential(*layers)
        self.weights_path = None if weights is None else Path(weights)
        if weights is not None:
            self.load_weights(weights)

    def load_weights(self, path: str | Path) -> None:
        """Load a state dict of ``layers.*`` written by :meth:`save_weights` (or the trainer)."""
        state = read_state_dict(
            path,
            "weights file of the 'learned' feature extractor",
            "`python -m gocor_lite.cli.train` produces it (or pass weights=<path>)",
        )
        expected = {key: tuple(value.shape) for key, value in self.state_dict().items()}
        tensors = take_tensors(state, expected, path, "'learned' extractor weights file")
        self.load_state_dict(tensors, strict=True)
        self.weights_path = Path(path)

    def save_weights(self, path: str | Path) -> None:
        """Write the network's state dict (float32, CPU) where :meth:`load_weights` reads it."""
        state = {
            key: value.detach().to("cpu", torch.float32) for key, value in self.state_dict().items()
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)

    def extract(self, images: Tensor) -> Tensor:
        self._check_placement(images)
        height, width = self.grid_size((images.shape[2], images.shape[3]))
        images = images[:, :, : height * self.stride, : width * self.stride]
        return self.layers((images - 0.5) / 0.25)  # (B, 64, h, w)


# --- XFeat: pretrained on real scenes (third-party weights) --------------------------------------


class XFeatExtractor(_TorchExtractor):
    """XFeat's dense descriptor (Potje et al., CVPR 2024): a small CNN its authors trained on
    real 3-D scenes (MegaDepth) and synthetic warps of COCO images, with their weights
    (Apache-2.0, shipped as ``assets/weights/xfeat.pt``, sha256-checked when loaded). Grey
    input, instance-normalised; the 1/8, 1/16 and 1/32 maps fused into 64 channels at 1/8
    (:mod:`gocor_lite.core.xfeat`, which states the padding rule and the cells' centres).

    ``weights``: another copy of the authors' ``xfeat.pt`` (the same sha256); default the
    shipped one. The backbone is frozen (buffers): ``extractor.to(...)`` moves it, nothing
    trains it.

    Shapes: ``(B, 3, H, W)`` in ``[0, 1]`` -> ``(B, 64, H // 8, W // 8)``, not normalised.
    """

    name = "xfeat"
    stride = 8
    channels = 64

    def __init__(self, weights: str | Path | None = None, *, backbone: XFeatBackbone | None = None):
        super().__init__()
        self.backbone = backbone if backbone is not None else load_xfeat_backbone(weights)

    def extract(self, images: Tensor) -> Tensor:
        self._check_placement(images)
        return self.backbone(images).descriptor  # (B, 64, h, w)


# --- VGG-16: the papers' backbone ----------------------------------------------------------------

# VGG-16's convolutions, block by block: (name, output channels).
_VGG16_BLOCKS = (
    (("conv1_1", 64), ("conv1_2", 64)),
    (("conv2_1", 128), ("conv2_2", 128)),
    (("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256)),
    (("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512)),
    (("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512)),
)


def _vgg16_layers() -> list[tuple[str, int, int]]:
    """Every VGG-16 layer in order: ``(name, channels, stride)``; convolutions include their
    ReLU, ``pool<b>`` is the 2x2 max pooling that ends block ``b``."""
    layers, stride = [], 1
    for block, convs in enumerate(_VGG16_BLOCKS, start=1):
        layers += [(name, channels, stride) for name, channels in convs]
        stride *= 2
        layers.append((f"pool{block}", convs[-1][1], stride))
    return layers


def _torchvision_keys() -> dict[str, str]:
    """torchvision's ``features.<i>`` index of each convolution: ``{"conv1_1": "features.0"}``.

    torchvision's ``vgg16().features`` is the flat sequence conv, ReLU, conv, ReLU, max-pool, ...
    """
    index, keys = 0, {}
    for convs in _VGG16_BLOCKS:
        for name, _ in convs:
            keys[name] = f"features.{index}"
            index += 2  # the convolution and its ReLU
        index += 1  # the max pooling
    return keys


#: GLU-Net's feature pyramid (``pyramid.level_<l>.<j>``), as in the authors' GLU-Net and
#: GLU-Net-GOCor checkpoints: torchvision's VGG-16 ``features`` split after the first ReLU and
#: after each max pooling, five levels, so convolutions up to conv4_3 only.
GLUNET_PYRAMID_KEYS = {
    "conv1_1": "pyramid.level_0.0",
    "conv1_2": "pyramid.level_1.0",
    "conv2_1": "pyramid.level_2.0",
    "conv2_2": "pyramid.level_2.2",
    "conv3_1": "pyramid.level_3.0",
    "conv3_2": "pyramid.level_3.2",
    "conv3_3": "pyramid.level_3.4",
    "conv4_1": "pyramid.level_4.0",
    "conv4_2": "pyramid.level_4.2",
    "conv4_3": "pyramid.level_4.4",
}

#: The VGG-16 layer that feeds each of GLU-Net's four flow levels (1 = finest). Levels 1 and 2
#: take the image at its own size; levels 3 and 4 take it resized to 256 x 256, so that level 4
#: (the global correlation) always has 16 x 16 cells.
GLUNET_LEVEL_LAYERS = {1: "pool2", 2: "pool3", 3: "pool3", 4: "pool4"}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Extractor(_TorchExtractor):
    """VGG-16 convolutional features (Simonyan and Zisserman, 2015), the papers' backbone.

    ``weights`` (required; nothing is downloaded): torchvision's ImageNet VGG-16 file, e.g.
    ``vgg16-397923af.pth``, with keys ``features.0.weight`` .. ``features.28.bias``
    (``classifier.*`` is ignored). Images are normalised with the ImageNet mean and standard
    deviation, as the weights expect.

    ``layer``: the output returned, any of ``conv<b>_<k>`` (after its ReLU; stride
    ``2^(b-1)``) or ``pool<b>`` (stride ``2^b``). GLU-Net's pyramid levels end *after* each max
    pooling (see :data:`GLUNET_LEVEL_LAYERS`): ``pool2`` (stride 4, 128 channels, its level 1),
    ``pool3`` (stride 8, 256 channels, levels 2 and 3) and ``pool4`` (stride 16, 512 channels,
    level 4, the global correlation, computed on 256 x 256 images: 16 x 16 cells). The default
    ``pool3`` has the stride of the other extractors. ``conv3_3``, ``conv4_3`` and ``conv5_3``
    are the pre-pooling alternatives at strides 4, 8 and 16; ``pool5`` is stride 32.
    A 2x2 max pooling keeps the cell centres of :mod:`gocor_lite.core.grid` exact.

    Shapes: ``(B, 3, H, W)`` -> ``(B, C, H // stride, W // stride)``.
    """

    name = "vgg16"
    file_kind = "torchvision ImageNet VGG-16 weights file"
    mean: Tensor  # (1, 3, 1, 1) ImageNet mean, a buffer
    std: Tensor  # (1, 3, 1, 1) ImageNet standard deviation, a buffer

    def __init__(self, weights: str | Path | None = None, *, layer: str = "pool3"):
        super().__init__()
        if weights is None:
            raise ValueError(
                f"the {self.name!r} extractor needs weights=<path to a {self.file_kind}>; "
                "nothing is downloaded"
            )
        layers = _vgg16_layers()
        names = [name for name, _, _ in layers]
        if layer not in names:
            raise ValueError(f"unknown VGG-16 layer {layer!r}; available: {names}")
        self.layer = layer
        _, self.channels, self.stride = layers[names.index(layer)]
        self._sequence = names[: names.index(layer) + 1]
        self.convs = nn.ModuleDict()
        in_channels = 3
        for name, channels, _ in layers[: names.index(layer) + 1]:
            if name.startswith("conv"):
                self.convs[name] = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1)
                in_channels = channels
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), False)
        self.weights_path = Path(weights)
        self._load(self.weights_path)

    def _file_keys(self) -> dict[str, str]:
        """Our convolution name -> its key prefix in the weights file."""
        return _torchvision_keys()

    def _select(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """The entries of the file's state dict that belong to the file's VGG-16."""
        return {key: value for key, value in state.items() if not key.startswith("classifier.")}

    def _load(self, path: Path) -> None:
        state = self._select(
            read_state_dict(path, self.file_kind, "pass the path of such a file as weights=")
        )
        expected: dict[str, tuple[int, ...]] = {}
        in_channels = 3
        for name, channels, _ in _vgg16_layers():
            if name in self._file_keys():
                prefix = self._file_keys()[name]
                expected[prefix + ".weight"] = (channels, in_channels, 3, 3)
                expected[prefix + ".bias"] = (channels,)
                in_channels = channels
        tensors = take_tensors(state, expected, path, self.file_kind)
        ours = {}
        for name in self.convs:
            prefix = self._file_keys()[name]
            ours[f"convs.{name}.weight"] = tensors[prefix + ".weight"]
            ours[f"convs.{name}.bias"] = tensors[prefix + ".bias"]
        self.load_state_dict(ours, strict=True)

    def extract(self, images: Tensor) -> Tensor:
        self._check_placement(images)
        height, width = self.grid_size((images.shape[2], images.shape[3]))
        x = images[:, :, : height * self.stride, : width * self.stride]
        x = (x - self.mean) / self.std
        for name in self._sequence:
            if name.startswith("pool"):
                x = F.max_pool2d(x, kernel_size=2, stride=2)
            else:
                x = F.relu(self.convs[name](x))
        return x  # (B, C, h, w)


class OfficialGLUNetGOCorExtractor(VGG16Extractor):
    """The VGG-16 feature pyramid of an authors' GLU-Net-GOCor checkpoint (Truong et al., 2020).

    ``weights`` (required): the checkpoint file, whose top level is the network's state dict or
    a dict holding it under ``"state_dict"``. Only its ``pyramid.*`` keys are read here, in the
    layout of :data:`GLUNET_PYRAMID_KEYS` (VGG-16 up to conv4_3); :meth:`gocor` reads the GOCor
    modules of the same file with :func:`gocor_lite.gocor.interop.load_official_checkpoint`.

    ``layer``: as for :class:`VGG16Extractor`, up to ``pool4``; the default ``pool4`` (stride
    16, 512 channels) is the level whose global GOCor module the checkpoint holds (``C = 512``).

    Shapes: ``(B, 3, H, W)`` -> ``(B, C, H // stride, W // stride)``.
    """

    name = "official-glunet-gocor"
    file_kind = "GLU-Net-GOCor checkpoint (VGG-16 pyramid under 'pyramid.')"

    def __init__(self, weights: str | Path | None = None, *, layer: str = "pool4"):
        names = [name for name, _, _ in _vgg16_layers()]
        available = names[: names.index("pool4") + 1]
        if layer not in available:
            raise ValueError(
                f"layer {layer!r} is not in GLU-Net's pyramid, which ends at pool4; "
                f"available: {available}"
            )
        super().__init__(weights, layer=layer)

    def _file_keys(self) -> dict[str, str]:
        return GLUNET_PYRAMID_KEYS

    def _select(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        pyramid = {key: value for key, value in state.items() if key.startswith("pyramid.")}
        if not pyramid:
            raise CheckpointError(
                f"{self.weights_path} has no keys starting with 'pyramid.': it is not a "
                "GLU-Net-GOCor checkpoint"
            )
        return pyramid

    def gocor(self, num_iter: int = 3, search_radius: int = 4) -> OfficialGOCor:
        """The checkpoint's global and local GOCor modules (:mod:`gocor_lite.gocor.interop`)."""
        return load_official_checkpoint(
            self.weights_path, num_iter=num_iter, search_radius=search_radius
        )


# --- By name ------------------------------------------------------------------------------------


def _shipped_learned(weights: str | Path | None = None) -> LearnedExtractor:
    """The ``learned`` extractor with the shipped weights (or those of ``weights``)."""
    return LearnedExtractor(LEARNED_FEATURES if weights is None else weights).eval()


_REGISTRY: dict[str, Callable[..., FeatureExtractor]] = {
    "xfeat": lambda **options: XFeatExtractor(**options).eval(),
    "daisy": DaisyExtractor,
    "learned": _shipped_learned,
    "vgg16": VGG16Extractor,
    "official-glunet-gocor": OfficialGLUNetGOCorExtractor,
}


def register_extractor(name: str, factory: Callable[..., FeatureExtractor]) -> None:
    """Make ``make_extractor(name, ...)`` build extractors with ``factory(...)``."""
    _REGISTRY[name] = factory


def extractor_names() -> list[str]:
    """Names accepted by :func:`make_extractor`."""
    return list(_REGISTRY)


def make_extractor(name: str, **options: Any) -> FeatureExtractor:
    """Build the extractor called ``name`` (see :func:`extractor_names`)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown feature extractor {name!r}; available: {extractor_names()}")
    return _REGISTRY[name](**options)


def default_extractor_name() -> str:
    """The extractor the app, the notebooks and the commands use unless told otherwise:
    ``xfeat``, XFeat's pretrained descriptor (weights shipped in ``gocor_lite/assets/weights/``,
    third-party), the one the evaluation finds best on the real pairs (README, "Pretrained
    features": global correlation's cells right on each real pair, against ``learned`` and
    ``daisy``, ``docs/evaluation.md``)."""
    return "xfeat"


# --- Before correlating ------------------------------------------------------------------------

Normalization = Literal["none", "l2", "centered-l2"]


NORMALIZATIONS: tuple[str, ...] = ("none", "l2", "centered-l2")


def normalize_features(
    target: Tensor, source: Tensor, mode: str = "l2", eps: float = 1e-8
) -> tuple[Tensor, Tensor]:
    """Normalise a pair of feature maps before correlating them.

    * ``"none"``: unchanged;
    * ``"l2"``: each cell's vector scaled to unit length (a zero vector stays zero);
    * ``"centered-l2"``: first subtract the mean vector over the cells of *both* maps, then
      ``"l2"``. Features with all-positive entries (DAISY, ReLU outputs) correlate strongly
      everywhere; centring removes that common part, which GOCor needs to be useful.
    """
    target, source = check_feature_pair(target, source)
    if mode not in NORMALIZATIONS:
        raise ValueError(f"mode must be one of {NORMALIZATIONS}, got {mode!r}")
    if mode == "none":
        return target, source
    if mode == "centered-l2":
        cells = torch.cat([target.flatten(2), source.flatten(2)], dim=2)  # (B, C, hw + h'w')
        mean = cells.mean(dim=2)[:, :, None, None]
        target, source = target - mean, source - mean
    return (
        target / target.norm(dim=1, keepdim=True).clamp(min=eps),
        source / source.norm(dim=1, keepdim=True).clamp(min=eps),
    )


def pair_features(
    extractor: FeatureExtractor,
    target: Tensor,
    source: Tensor,
    normalization: str = "centered-l2",
    *,
    grad: bool = False,
    one_pass: bool = False,
) -> tuple[Tensor, Tensor]:
    """The features of a pair of images, normalised as a pair (:func:`normalize_features`):
    what the app, the notebooks, the commands, training and evaluation all correlate.

    One pass of the extractor per image (the two may differ in size), or with ``one_pass`` a
    single pass over both stacked into one batch (same size needed): what training and the
    evaluation's volume tables do, so that they reproduce the shipped weights and
    ``docs/evaluation.md`` to the bit (a convolution over a batch of ``2B`` may round
    differently from two batches of ``B``). Without gradients unless ``grad`` (training an
    extractor, where gradients are enabled).

    Shapes: ``(B, 3, H, W), (B, 3, H', W') -> (B, C, h, w), (B, C, h', w')``.
    """
    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        if not one_pass:
            return normalize_features(extractor(target), extractor(source), normalization)
        if target.shape != source.shape:
            raise ValueError(
                "one_pass needs images of one size, got target "
                f"{tuple(target.shape)} and source {tuple(source.shape)}"
            )
        target_features, source_features = extractor(torch.cat([target, source])).chunk(2)
        return normalize_features(target_features, source_features, normalization)
