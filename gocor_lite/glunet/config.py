# SPDX-License-Identifier: MIT
"""Settings of the GLU-Net network (Truong, Danelljan, Timofte, CVPR 2020), one frozen dataclass.

One architecture, several configurations: :meth:`GLUNetConfig.glunet` and
:meth:`GLUNetConfig.glunet_gocor` are the two networks the GOCor authors released (VGG-16
pyramid, full-width decoders; ``shared/reference/glunet-architecture.md`` §1), and
:meth:`GLUNetConfig.small` is the same network at a size a CPU trains (a small pyramid, narrower
decoders), with GOCor inside or with plain correlations. Change a copy with
:func:`dataclasses.replace`.

What never changes with the configuration: the 256x256 L-Net (a global level of
``L/16 x L/16`` cells on the ``L x L`` copies of both images, then a local level of
``L/8 x L/8`` cells), the H-Net at 1/8 and 1/4 of the working size, the search radius of every
local level, the dense decoders with their context (dilated) refinement after level 3 and
level 1, and the flow units of each level (§7.5 of the reference).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from gocor_lite.gocor.modules import GlobalGOCorConfig, LocalGOCorConfig

PyramidKind = Literal["vgg16", "small", "xfeat"]
Normalization = Literal["batch", "group"]
NORMALIZATIONS: tuple[str, ...] = ("batch", "group")
PYRAMIDS: tuple[str, ...] = ("vgg16", "small", "xfeat")
#: The XFeat pyramid's channels at strides 2 (unused), 4, 8 and 16 (gocor_lite.glunet.pyramid).
XFEAT_CHANNELS = (64, 64, 64, 64)
#: The XFeat network's working resolution: longer side at most twice its 256-px training
#: pairs (README, "adaptive resolution": finer levels than that add detail the decoders never
#: learnt to read and lose what the 256 x 256 global level found).
XFEAT_MAX_WORKING_SIDE = 512
GlobalPostprocess = Literal["relu_l2norm", "leakyrelu"]
POSTPROCESSES: tuple[str, ...] = ("relu_l2norm", "leakyrelu")

#: The released networks' widths (reference §3, §4.2, §7.3, §7.4).
VGG16_CHANNELS = (64, 128, 256, 512)
FULL_MAPPING = (128, 128, 96, 64, 32)
FULL_DECODER = (128, 128, 96, 64, 32)
FULL_CONTEXT = (128, 128, 128, 96, 64, 32)
CONTEXT_DILATIONS = (1, 2, 4, 8, 16, 1)


def _positive_ints(name: str, values: object, length: int | None = None) -> tuple[int, ...]:
    if not isinstance(values, tuple) or not values:
        raise ValueError(f"{name} must be a non-empty tuple of integers, got {values!r}")
    if length is not None and len(values) != length:
        raise ValueError(f"{name} must have {length} entries, got {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must hold integers >= 1, got {values!r}")
    return values


@dataclass(frozen=True)
class GLUNetConfig:
    """One GLU-Net network. The defaults are the authors' ``GLUNet`` (feature correlation).

    Convention: the pyramid's levels 1..4 end at strides 2, 4, 8 and 16; the network reads
    level 2 (stride 4) and level 3 (stride 8) of the full-resolution copies and level 3
    (stride 8) and level 4 (stride 16) of the ``l_net_size`` copies.
    """

    # -- features ----------------------------------------------------------------------------------
    # "vgg16" (the papers'), "small" (a CPU-sized CNN trained from scratch) or "xfeat"
    # (XFeat's pretrained, frozen backbone with a trained stride-4 adapter)
    pyramid: PyramidKind = "vgg16"
    # Output channels of pyramid levels 1..4 (strides 2, 4, 8, 16). VGG-16: fixed.
    pyramid_channels: tuple[int, int, int, int] = VGG16_CHANNELS

    # -- decoders ----------------------------------------------------------------------------------
    mapping_channels: tuple[int, ...] = FULL_MAPPING  # decoder4 (CMDTop) convolutions
    decoder_channels: tuple[int, ...] = FULL_DECODER  # decoder3/2/1 (dense) convolutions
    context_channels: tuple[int, ...] = FULL_CONTEXT  # dc_conv1..6 and l_dc_conv1..6
    context_dilations: tuple[int, ...] = CONTEXT_DILATIONS  # their dilations (= padding)
    upfeat_channels: int = 2  # upfeat2's output, fed to decoder1
    # "batch": BatchNorm (the authors'); "group": GroupNorm of 4-channel groups (this project's
    # small network: small batches, and data-parallel training on CPUs gives exactly one
    # process's result). See gocor_lite.glunet.blocks.
    normalization: Normalization = "batch"

    # -- geometry ----------------------------------------------------------------------------------
    l_net_size: int = 256  # side of the square copies read by the global level and level 3
    search_radius: int = 4  # R of every local correlation: (2R+1)^2 displacements

    # -- the global level --------------------------------------------------------------------------
    global_postprocess: GlobalPostprocess = "relu_l2norm"  # GLUNet: L2n(ReLU); GOCor: lrelu
    cyclic_consistency: bool = True  # mutual matching of the global volume (GLUNet only)

    # The mapping decoder predicts a correction to the soft-argmax of the raw global volume
    # (softmax over source cells at a learned temperature, the expected position as a
    # mapping) instead of the whole mapping. Not in the released networks (False); this
    # project's small network uses it (True): a CPU-sized training run cannot teach a few
    # convolutions to find a peak among 256 channels (measured: README, training).
    global_soft_argmax: bool = False

    # -- GOCor (None: the plain correlation) -------------------------------------------------------
    global_gocor: GlobalGOCorConfig | None = None  # the global volume (§4.1)
    local_gocor: LocalGOCorConfig | None = None  # every local volume, one shared module (§8)

    # -- from the 32x32 level to the working resolution (§5) ---------------------------------------
    iterative_refinement: bool = True  # extra local levels for wide images
    # N = max(0, round(log2(W' / refinement_width))) extra levels (the authors' 768 = 3 * 256).
    refinement_width: int = 768

    # -- inputs ------------------------------------------------------------------------------------
    # The working resolution's longer side at most this many pixels (the images are resized
    # down to it, the flow brought back to the originals' pixels; the trace says which size
    # was used). None: the authors' rule alone (the target's size, floored to multiples of 8).
    max_working_side: int | None = None

    # Largest image (pixels) estimate_flow and trace accept, each of target and source (the
    # VGG-16 pass at full resolution holds 64-channel maps of the image's size: 0.26 GB each
    # per megapixel in float32). None: any.
    max_image_pixels: int | None = 4096 * 3072

    # Set by the classmethods, for messages and the trace: "GLUNet", "GLUNet_GOCor", "small", ...
    name: str = field(default="GLUNet", compare=False)

    def __post_init__(self) -> None:
        if self.pyramid not in PYRAMIDS:
            raise ValueError(f"pyramid must be one of {PYRAMIDS}, got {self.pyramid!r}")
        _positive_ints("pyramid_channels", self.pyramid_channels, 4)
        if self.pyramid == "xfeat" and self.pyramid_channels != XFEAT_CHANNELS:
            raise ValueError(
                f"the XFeat pyramid has channels {XFEAT_CHANNELS}, got {self.pyramid_channels}"
            )
        side = self.max_working_side
        if side is not None and (isinstance(side, bool) or not isinstance(side, int) or side < 256):
            raise ValueError(f"max_working_side must be an integer >= 256 or None, got {side!r}")
        if self.pyramid == "vgg16" and self.pyramid_channels != VGG16_CHANNELS:
            raise ValueError(
                f"the VGG-16 pyramid has channels {VGG16_CHANNELS}, got {self.pyramid_channels}"
            )
        _positive_ints("mapping_channels", self.mapping_channels)
        _positive_ints("decoder_channels", self.decoder_channels)
        _positive_ints("context_channels", self.context_channels)
        _positive_ints("context_dilations", self.context_dilations, len(self.context_channels))
        _positive_ints("upfeat_channels", (self.upfeat_channels,))
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}"
            )
        size = self.l_net_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 32 or size % 16:
            raise ValueError(f"l_net_size must be a multiple of 16, at least 32, got {size!r}")
        radius = self.search_radius
        if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
            raise ValueError(f"search_radius must be an integer >= 1, got {radius!r}")
        if self.global_postprocess not in POSTPROCESSES:
            raise ValueError(
                f"global_postprocess must be one of {POSTPROCESSES}, got "
                f"{self.global_postprocess!r}"
            )
        if self.global_gocor is not None:
            if not isinstance(self.global_gocor, GlobalGOCorConfig):
                raise ValueError("global_gocor must be a GlobalGOCorConfig or None")
            channels = self.global_gocor.num_channels
            if channels is not None and channels != self.pyramid_channels[3]:
                raise ValueError(
                    f"global_gocor is configured for {channels} channels, but the global level "
                    f"reads pyramid level 4 with {self.pyramid_channels[3]}"
                )
        if self.local_gocor is not None:
            if not isinstance(self.local_gocor, LocalGOCorConfig):
                raise ValueError("local_gocor must be a LocalGOCorConfig or None")
            if self.local_gocor.search_radius != self.search_radius:
                raise ValueError(
                    f"local_gocor has search_radius {self.local_gocor.search_radius}, the "
                    f"network {self.search_radius}"
                )
            if self.local_gocor.num_channels is not None:
                raise ValueError(
                    "local_gocor is shared by levels of different channel counts: use an "
                    "initialiser without per-channel parameters (num_channels=None)"
                )
        width = self.refinement_width
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"refinement_width must be an integer >= 1, got {width!r}")
        limit = self.max_image_pixels
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise ValueError(f"max_image_pixels must be an integer or None, got {limit!r}")
        if limit is not None and limit < 1:
            raise ValueError(f"max_image_pixels must be >= 1, got {limit}")

    # -- derived -----------------------------------------------------------------------------------
    @property
    def global_grid(self) -> int:
        """Side of the global level's grid (16 for the 256 L-Net)."""
        return self.l_net_size // 16

    @property
    def displacements(self) -> int:
        """Channels of a local volume, ``(2R+1)^2``."""
        return (2 * self.search_radius + 1) ** 2

    @property
    def uses_gocor(self) -> bool:
        return self.global_gocor is not None or self.local_gocor is not None

    # -- the configurations ------------------------------------------------------------------------
    @classmethod
    def glunet(cls) -> GLUNetConfig:
        """The authors' ``GLUNet``: feature correlation, mutual matching and L2n(ReLU) at the
        global level (checkpoints ``GLUNet_static`` / ``GLUNet_dynamic``)."""
        return cls(name="GLUNet")

    @classmethod
    def glunet_gocor(cls, global_iterations: int = 3, local_iterations: int = 3) -> GLUNetConfig:
        """The authors' ``GLUNet_GOCor``: global GOCor (flexible context-aware initialiser, query
        loss) and one shared local GOCor (simple initialiser), LeakyReLU after the global volume,
        no mutual matching (checkpoints ``GLUNet_GOCor_static`` / ``_dynamic``). The paper uses
        3 and 3 optimiser steps."""
        return cls(
            global_postprocess="leakyrelu",
            cyclic_consistency=False,
            global_gocor=GlobalGOCorConfig.glunet_gocor(num_iter=global_iterations),
            local_gocor=LocalGOCorConfig(num_iter=local_iterations, search_radius=4),
            name="GLUNet_GOCor",
        )

    @classmethod
    def small(
        cls,
        gocor: bool = True,
        *,
        channels: tuple[int, int, int, int] = (16, 32, 48, 64),
        width: float = 0.25,
        global_initializer: str = "context-aware",
        query_loss: bool = False,
        global_iterations: int = 3,
        local_iterations: int = 3,
        normalization: Normalization = "group",
        soft_argmax: bool = True,
        pyramid: PyramidKind = "small",
        max_working_side: int | None = None,
    ) -> GLUNetConfig:
        """The same network at a size a 2-core CPU trains: the small pyramid (``channels`` at
        strides 2, 4, 8, 16), decoders and context networks at ``width`` times the authors'
        widths (the mapping decoder at the full width: it reads 256 channels), GroupNorm
        (``normalization``), the mapping decoder as a correction of the global volume's
        soft-argmax (``soft_argmax``, :attr:`global_soft_argmax`), the 256 L-Net with its 16x16
        global level, R = 4.

        ``pyramid="xfeat"`` puts XFeat's pretrained backbone in place of the small pyramid
        (``channels`` is then :data:`XFEAT_CHANNELS`): this project's shipped network
        (:meth:`xfeat`). ``max_working_side``: :attr:`max_working_side`.

        ``gocor=True`` pairs the network with GOCor as GLU-Net-GOCor does (global GOCor with
        ``global_initializer`` and optionally the query loss, then LeakyReLU; one shared local
        GOCor with the simple initialiser); ``gocor=False`` is the correlation network exactly
        as ``GLUNet`` pairs it (mutual matching, L2n(ReLU)). Both have the same non-GOCor
        parameters, so one's weights load into the other.
        """
        if not 0 < width <= 1:
            raise ValueError(f"width must be in (0, 1], got {width}")

        def scaled(widths: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(max(2, round(value * width)) for value in widths)

        if pyramid == "xfeat":
            channels = XFEAT_CHANNELS
        base = cls(
            pyramid=pyramid,
            pyramid_channels=channels,
            max_working_side=max_working_side,
            mapping_channels=FULL_MAPPING,
            decoder_channels=scaled(FULL_DECODER),
            context_channels=scaled(FULL_CONTEXT),
            normalization=normalization,
            global_soft_argmax=soft_argmax,
            name=f"{'xfeat' if pyramid == 'xfeat' else 'small'}-correlation",
        )
        if not gocor:
            return base
        flexible = global_initializer.startswith("flexible-")
        return dataclasses.replace(
            base,
            global_postprocess="leakyrelu",
            cyclic_consistency=False,
            global_gocor=GlobalGOCorConfig(
                num_iter=global_iterations,
                initializer=global_initializer,
                num_channels=channels[3] if flexible else None,
                query_loss=query_loss,
            ),
            local_gocor=LocalGOCorConfig(num_iter=local_iterations, search_radius=4),
            name=f"{'xfeat' if pyramid == 'xfeat' else 'small'}-gocor",
        )

    @classmethod
    def xfeat(cls, gocor: bool = True, **options: object) -> GLUNetConfig:
        """This project's network: :meth:`small` on XFeat's pretrained backbone
        (``pyramid="xfeat"``) with the working resolution capped at
        :data:`XFEAT_MAX_WORKING_SIDE` pixels; ``options`` as :meth:`small`'s."""
        options.setdefault("max_working_side", XFEAT_MAX_WORKING_SIDE)
        return cls.small(gocor, pyramid="xfeat", **options)  # type: ignore[arg-type]

    def without_gocor(self) -> GLUNetConfig:
        """The correlation network with the same architecture: both GOCor modules replaced by
        the plain correlations, and the global post-processing of ``GLUNet`` (mutual matching,
        L2n(ReLU)). Its parameters are this network's minus the GOCor modules'."""
        return dataclasses.replace(
            self,
            global_gocor=None,
            local_gocor=None,
            global_postprocess="relu_l2norm",
            cyclic_consistency=True,
            name=self.name.replace("gocor", "correlation").replace("_GOCor", ""),
        )
