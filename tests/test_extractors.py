# SPDX-License-Identifier: MIT
"""The CNN extractors (learned, vgg16, official-glunet-gocor): weights files written here, a
plain re-implementation of VGG-16 from torchvision's layer list as oracle, and every error path.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gocor_lite.core.features import (
    LearnedExtractor,
    default_extractor_name,
    extractor_names,
    make_extractor,
)
from gocor_lite.files.statedict import CheckpointError
from gocor_lite.files.weights import LEARNED_FEATURES
from gocor_lite.gocor.interop import to_official
from gocor_lite.gocor.modules import GlobalGOCor, GlobalGOCorConfig, LocalGOCor, LocalGOCorConfig

# torchvision's vgg16().features configuration: channels of each conv, "M" for a max pooling.
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def torchvision_sequence() -> list[tuple[str, int | None]]:
    """torchvision's flat ``features`` list: ("conv", out channels), ("relu", None) and
    ("pool", None) entries."""
    sequence: list[tuple[str, int | None]] = []
    for item in VGG16_CFG:
        if item == "M":
            sequence.append(("pool", None))
        else:
            sequence += [("conv", int(item)), ("relu", None)]
    return sequence


def random_vgg_state(
    generator: torch.Generator, symmetric: bool = False
) -> dict[str, torch.Tensor]:
    """A torchvision-layout VGG-16 state dict with random (He-scaled) weights, in float16 to keep
    the file small; ``symmetric`` makes every kernel left-right symmetric."""
    state, in_channels = {}, 3
    for index, (kind, channels) in enumerate(torchvision_sequence()):
        if kind != "conv":
            continue
        assert channels is not None
        weight = torch.randn(channels, in_channels, 3, 3, generator=generator)
        weight *= math.sqrt(2.0 / (9 * in_channels))
        if symmetric:
            weight = (weight + weight.flip(-1)) / 2
        state[f"features.{index}.weight"] = weight.half()
        state[f"features.{index}.bias"] = (0.01 * torch.randn(channels, generator=generator)).half()
        in_channels = channels
    # The classifier is ignored; a small stand-in of the right names is enough.
    state["classifier.0.weight"] = torch.zeros(4, 8)
    state["classifier.6.bias"] = torch.zeros(4)
    return state


def reference_vgg(state: dict[str, torch.Tensor], images: torch.Tensor, layer: str) -> torch.Tensor:
    """Run torchvision's sequence literally, stopping after the named layer (conv<b>_<k> after
    its ReLU, or pool<b>)."""
    x = (images - IMAGENET_MEAN.to(images)) / IMAGENET_STD.to(images)
    block, conv_in_block = 1, 0
    for index, (kind, _) in enumerate(torchvision_sequence()):
        if kind == "conv":
            weight = state[f"features.{index}.weight"].to(images.dtype)
            bias = state[f"features.{index}.bias"].to(images.dtype)
            x = F.conv2d(x, weight, bias, padding=1)
            conv_in_block += 1
        elif kind == "relu":
            x = torch.relu(x)
            if layer == f"conv{block}_{conv_in_block}":
                return x
        else:
            x = F.max_pool2d(x, 2)
            if layer == f"pool{block}":
                return x
            block, conv_in_block = block + 1, 0
    raise AssertionError(f"no layer {layer}")


def glunet_pyramid_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Re-key a torchvision VGG-16 state dict as GLU-Net's pyramid: the features sequence is cut
    after the first ReLU and after every max pooling into ``level_<n>``, five levels kept."""
    out: dict[str, torch.Tensor] = {}
    level, position, first_relu = 0, 0, False
    for index, (kind, _) in enumerate(torchvision_sequence()):
        if kind == "conv":
            for name in ("weight", "bias"):
                out[f"pyramid.level_{level}.{position}.{name}"] = state[f"features.{index}.{name}"]
        position += 1
        if (kind == "relu" and not first_relu) or kind == "pool":
            first_relu = True
            level, position = level + 1, 0
        if level == 5:
            break
    return out


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    return random_vgg_state(torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def vgg_file(vgg_state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vgg") / "vgg16-fake.pth"
    torch.save(vgg_state, path)
    return path


def official_checkpoint(pyramid: dict[str, torch.Tensor], wrap: bool = True) -> dict:
    """A GLU-Net-GOCor-like checkpoint: pyramid, GOCor modules, and a decoder key."""
    state = dict(pyramid)
    state.update(to_official(GlobalGOCor(GlobalGOCorConfig.glunet_gocor()), "corr.corr_module."))
    state.update(to_official(LocalGOCor(LocalGOCorConfig()), "local_corr."))
    state["decoder4.conv_0.0.weight"] = torch.zeros(2, 2, 3, 3)
    return {"state_dict": state, "epoch": 100} if wrap else state


@pytest.fixture(scope="module")
def official_file(
    vgg_state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("official") / "GLUNet_GOCor_fake.pth"
    torch.save(official_checkpoint(glunet_pyramid_state(vgg_state)), path)
    return path


def smooth_images(batch: int, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
    images = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(1))
    return F.avg_pool2d(images, 3, 1, 1).to(dtype)


# --- registry -------------------------------------------------------------------------------------


def test_registry_lists_every_extractor() -> None:
    assert set(extractor_names()) >= {"xfeat", "daisy", "learned", "vgg16", "official-glunet-gocor"}
    assert default_extractor_name() == "xfeat"  # its weights ship in assets/weights


# --- learned ------------------------------------------------------------------------------------


def test_learned_missing_weights_names_the_file_and_the_command(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "learned_features.pt"
    with pytest.raises(FileNotFoundError) as error:
        make_extractor("learned", weights=missing)
    assert str(missing) in str(error.value)
    assert "python -m gocor_lite.cli.train" in str(error.value)
    assert LEARNED_FEATURES.parts[-4:] == ("gocor_lite", "assets", "weights", "learned_features.pt")
    assert LEARNED_FEATURES.is_file()


def test_learned_loads_a_written_file(tmp_path: Path) -> None:
    untrained = LearnedExtractor()
    assert untrained.stride == 8 and untrained.channels == 64
    assert sum(p.numel() for p in untrained.parameters()) < 400_000
    generator = torch.Generator().manual_seed(2)
    state = {
        k: torch.randn(v.shape, generator=generator) for k, v in untrained.state_dict().items()
    }
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": state, "step": 10}, path)  # a training checkpoint's layout
    extractor = make_extractor("learned", weights=path)
    for key, value in extractor.state_dict().items():
        torch.testing.assert_close(value, state[key])
    images = smooth_images(1, 37, 45, torch.float64)
    features = extractor.to(torch.float64)(images)
    assert features.shape == (1, 64, 4, 5) and features.dtype == torch.float64
    torch.testing.assert_close(features, reference_learned(state, images))
    # save_weights -> load_weights round trip.
    extractor.save_weights(tmp_path / "again.pt")
    again = make_extractor("learned", weights=tmp_path / "again.pt")
    torch.testing.assert_close(again(images.float()), features.float(), atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="move one to the other"):
        again(images)  # float64 images, float32 extractor: never converted behind the back
    assert {p.dtype for p in again.parameters()} == {torch.float32}


def reference_learned(state: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """The documented network, literally: the image cropped to whole cells and mapped to
    ``(x - 0.5) / 0.25``; three stages of a 4x4 stride-2 convolution (padding 1) and a 3x3
    one, each followed by GroupNorm(8) and ReLU; a final 1x1 convolution."""
    height, width = images.shape[2] // 8 * 8, images.shape[3] // 8 * 8
    x = (images[:, :, :height, :width] - 0.5) / 0.25
    index = 0

    def take(name: str) -> torch.Tensor:
        return state[f"layers.{index}.{name}"].to(images.dtype)

    for _ in range(3):
        for stride, padding in ((2, 1), (1, 1)):
            x = F.conv2d(x, take("weight"), take("bias"), stride=stride, padding=padding)
            index += 1
            x = F.relu(F.group_norm(x, 8, take("weight"), take("bias")))
            index += 2  # GroupNorm, then the ReLU (no parameters)
    return F.conv2d(x, take("weight"), take("bias"))


def symmetrise(module: torch.nn.Module) -> None:
    """Make every convolution kernel left-right symmetric."""
    with torch.no_grad():
        for conv in module.modules():
            if isinstance(conv, torch.nn.Conv2d):
                conv.weight.copy_((conv.weight + conv.weight.flip(-1)) / 2)


def test_learned_cells_are_centred_on_the_grid() -> None:
    """With symmetric kernels, flipping the image flips the features exactly only if cell i is
    centred on pixel (i + 0.5) * 8 - 0.5 (a 3x3 stride-2 convolution would be half a pixel off)."""
    extractor = LearnedExtractor().to(torch.float64)
    symmetrise(extractor)
    images = smooth_images(1, 16, 32, torch.float64)
    flipped = extractor(images.flip(-1))
    torch.testing.assert_close(flipped, extractor(images).flip(-1))


class NotATensor:
    """Anything that weights-only loading refuses to unpickle."""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text", "not a PyTorch weights file: it cannot be read as one"),
        ("pickle", "not a PyTorch weights file that can be read safely: besides tensors"),
        ("list", "holds a list"),
        ("missing", "missing key"),
        ("unexpected", "unexpected key"),
        ("shape", "has shape"),
        ("integer", "floating-point tensor"),
    ],
)
def test_learned_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.pt"
    state = dict(LearnedExtractor().state_dict())
    if content == "text":
        path.write_text("not a checkpoint")
    elif content == "pickle":
        torch.save({"layers.0.weight": NotATensor()}, path)
    elif content == "list":
        torch.save([torch.zeros(1)], path)
    else:
        if content == "missing":
            del state["layers.0.weight"]
        elif content == "unexpected":
            state["layers.99.weight"] = torch.zeros(1)
        elif content == "shape":
            state["layers.0.weight"] = torch.zeros(32, 3, 3, 3)
        else:
            state["layers.0.bias"] = torch.zeros(32, dtype=torch.long)
        torch.save(state, path)
    with pytest.raises(CheckpointError, match=message) as error:
        LearnedExtractor(path)
    assert str(path) in str(error.value)
    # PyTorch's advice to retry with weights_only=False (arbitrary code) is never passed on.
    assert "weights_only" not in str(error.value) and "False" not in str(error.value)
    if content == "pickle":
        assert "NotATensor" in str(error.value) and "state_dict()" in str(error.value)
    if content in ("missing", "shape", "integer"):
        assert "layers.0." in str(error.value)


# --- vgg16 --------------------------------------------------------------------------------------

LAYERS = [
    ("conv1_2", 1, 64),
    ("pool2", 4, 128),
    ("conv3_3", 4, 256),
    ("pool3", 8, 256),
    ("conv4_3", 8, 512),
    ("pool4", 16, 512),
    ("conv5_3", 16, 512),
    ("pool5", 32, 512),
]


@pytest.mark.parametrize(("layer", "stride", "channels"), LAYERS)
def test_vgg16_matches_torchvision_sequence(
    vgg_file: Path, vgg_state: dict[str, torch.Tensor], layer: str, stride: int, channels: int
) -> None:
    extractor = make_extractor("vgg16", weights=vgg_file, layer=layer).to(torch.float64)
    assert (extractor.stride, extractor.channels) == (stride, channels)
    images = smooth_images(1, 32, 64, torch.float64)
    features = extractor(images)
    assert features.shape == (1, channels, 32 // stride, 64 // stride)
    torch.testing.assert_close(features, reference_vgg(vgg_state, images, layer))


def test_vgg16_default_layer_and_odd_sizes(vgg_file: Path, vgg_state) -> None:
    extractor = make_extractor("vgg16", weights=vgg_file)
    assert (extractor.layer, extractor.stride, extractor.channels) == ("pool3", 8, 256)
    images = smooth_images(1, 21, 29, torch.float32)
    features = extractor(images)
    assert features.shape == (1, 256, 2, 3) and features.dtype == torch.float32
    expected = reference_vgg(vgg_state, images[:, :, :16, :24], "pool3")
    torch.testing.assert_close(features, expected, atol=1e-4, rtol=1e-4)


def test_vgg16_cells_are_centred_on_the_grid(tmp_path: Path) -> None:
    state = random_vgg_state(torch.Generator().manual_seed(3), symmetric=True)
    torch.save(state, tmp_path / "symmetric.pth")
    extractor = make_extractor("vgg16", weights=tmp_path / "symmetric.pth", layer="pool3")
    extractor = extractor.to(torch.float64)
    images = smooth_images(1, 16, 32, torch.float64)
    torch.testing.assert_close(extractor(images.flip(-1)), extractor(images).flip(-1))


def test_vgg16_errors(tmp_path: Path, vgg_state: dict[str, torch.Tensor]) -> None:
    with pytest.raises(ValueError, match="needs weights="):
        make_extractor("vgg16")
    with pytest.raises(FileNotFoundError, match=r"vgg16-397923af\.pth"):
        make_extractor("vgg16", weights=tmp_path / "vgg16-397923af.pth")
    with pytest.raises(ValueError, match="unknown VGG-16 layer 'conv6_1'"):
        make_extractor("vgg16", weights=tmp_path / "x.pth", layer="conv6_1")
    path = tmp_path / "bad.pth"
    batch_norm = dict(vgg_state, **{"features.1.running_mean": torch.zeros(64)})
    torch.save(batch_norm, path)
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\) 'features.1.running_mean'"):
        make_extractor("vgg16", weights=path)
    missing = {k: v for k, v in vgg_state.items() if k != "features.28.bias"}
    torch.save(missing, path)
    with pytest.raises(CheckpointError, match=r"missing key\(s\) 'features.28.bias'"):
        make_extractor("vgg16", weights=path)
    wrong = dict(vgg_state, **{"features.0.weight": torch.zeros(64, 1, 3, 3)})
    torch.save(wrong, path)
    with pytest.raises(CheckpointError, match=r"'features.0.weight' has shape \(64, 1, 3, 3\)"):
        make_extractor("vgg16", weights=path)


# --- official-glunet-gocor ---------------------------------------------------------------------


def test_official_pyramid_equals_vgg16(official_file: Path, vgg_state) -> None:
    extractor = make_extractor("official-glunet-gocor", weights=official_file).double()
    assert (extractor.stride, extractor.channels) == (16, 512)
    images = smooth_images(1, 32, 48, torch.float64)
    torch.testing.assert_close(extractor(images), reference_vgg(vgg_state, images, "pool4"))
    level1 = make_extractor("official-glunet-gocor", weights=official_file, layer="pool2").double()
    torch.testing.assert_close(level1(images), reference_vgg(vgg_state, images, "pool2"))


def test_official_reads_the_gocor_modules(official_file: Path) -> None:
    extractor = make_extractor("official-glunet-gocor", weights=official_file)
    gocor = extractor.gocor(num_iter=2)
    assert isinstance(gocor.global_gocor, GlobalGOCor)
    assert isinstance(gocor.local_gocor, LocalGOCor)
    assert gocor.global_gocor.config.num_iter == gocor.local_gocor.config.num_iter == 2
    stored = torch.load(official_file, weights_only=True)["state_dict"]
    back = {
        **to_official(gocor.global_gocor, "corr.corr_module."),
        **to_official(gocor.local_gocor, "local_corr."),
    }
    gocor_keys = {k for k in stored if k.startswith(("corr.corr_module.", "local_corr."))}
    assert back.keys() == gocor_keys
    for key, value in back.items():
        torch.testing.assert_close(value, stored[key], rtol=0, atol=0)


def test_official_unwrapped_checkpoint(tmp_path: Path, vgg_state) -> None:
    path = tmp_path / "plain.pth"
    torch.save(official_checkpoint(glunet_pyramid_state(vgg_state), wrap=False), path)
    extractor = make_extractor("official-glunet-gocor", weights=path, layer="pool3").double()
    assert extractor.stride == 8
    images = smooth_images(1, 32, 48, torch.float64)
    torch.testing.assert_close(extractor(images), reference_vgg(vgg_state, images, "pool3"))


def test_official_errors(tmp_path: Path, vgg_file: Path, vgg_state) -> None:
    with pytest.raises(ValueError, match="needs weights="):
        make_extractor("official-glunet-gocor")
    with pytest.raises(ValueError, match="ends at pool4"):
        make_extractor("official-glunet-gocor", weights=vgg_file, layer="conv5_3")
    with pytest.raises(FileNotFoundError, match=r"GLUNet_GOCor_dynamic\.pth"):
        make_extractor("official-glunet-gocor", weights=tmp_path / "GLUNet_GOCor_dynamic.pth")
    with pytest.raises(CheckpointError, match=r"no keys starting with 'pyramid\.'"):
        make_extractor("official-glunet-gocor", weights=vgg_file)
    pyramid = glunet_pyramid_state(vgg_state)
    path = tmp_path / "bad.pth"
    extra = dict(pyramid, **{"pyramid.level_5.0.weight": torch.zeros(512, 512, 3, 3)})
    torch.save(official_checkpoint(extra), path)
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\) 'pyramid.level_5.0.weight'"):
        make_extractor("official-glunet-gocor", weights=path)
    missing = {k: v for k, v in pyramid.items() if k != "pyramid.level_3.4.weight"}
    torch.save(official_checkpoint(missing), path)
    with pytest.raises(CheckpointError, match=r"missing key\(s\) 'pyramid.level_3.4.weight'"):
        make_extractor("official-glunet-gocor", weights=path)


def test_learned_runs_on_the_device_it_is_moved_to(device: torch.device) -> None:
    extractor = LearnedExtractor()
    images = smooth_images(1, 16, 24, torch.float32)
    expected = extractor(images)
    features = extractor.to(device)(images.to(device))
    assert features.device.type == device.type
    torch.testing.assert_close(features.cpu(), expected, atol=1e-4, rtol=1e-4)
