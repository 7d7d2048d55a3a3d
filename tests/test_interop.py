# SPDX-License-Identifier: MIT
"""Loading the authors' released parameter names: every value round-trips, every error is named."""

from __future__ import annotations

import pytest
import torch

from gocor_lite import GlobalGOCor, LocalGOCor
from gocor_lite.files.statedict import CheckpointError
from gocor_lite.gocor.interop import from_official, load_official_checkpoint, to_official


def released_global(generator: torch.Generator, channels: int = 512) -> dict[str, torch.Tensor]:
    """The keys and shapes of GLU-Net-GOCor's global module (semantics page), random values."""
    shapes = {
        "corr.corr_module.filter_initializer.target_fg": (channels,),
        "corr.corr_module.filter_initializer.target_bg": (channels,),
        "corr.corr_module.filter_optimizer.log_step_length": (1,),
        "corr.corr_module.filter_optimizer.filter_reg": (1,),
        "corr.corr_module.filter_optimizer.reg_layer.weight1": (16, 1, 3, 3),
        "corr.corr_module.filter_optimizer.reg_layer.weight2": (16, 16, 3, 3),
        "corr.corr_module.filter_optimizer.label_map_predictor.weight": (1, 10, 1, 1),
        "corr.corr_module.filter_optimizer.spatial_weight_predictor.weight": (1, 10, 1, 1),
        "corr.corr_module.filter_optimizer.target_mask_predictor.0.weight": (1, 10, 1, 1),
    }
    return {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}


def released_local(generator: torch.Generator) -> dict[str, torch.Tensor]:
    shapes = {
        "local_corr.filter_initializer.scaling": (1,),
        "local_corr.filter_optimizer.log_step_length": (1,),
        "local_corr.filter_optimizer.filter_reg": (1,),
        "local_corr.filter_optimizer.label_map_predictor.weight": (1, 10, 1, 1),
        "local_corr.filter_optimizer.spatial_weight_predictor.weight": (1, 10, 1, 1),
        "local_corr.filter_optimizer.target_mask_predictor.0.weight": (1, 10, 1, 1),
    }
    return {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}


def test_global_glunet_gocor_round_trips(generator):
    state = released_global(generator)
    module = from_official(state, kind="global", num_iter=5)
    assert isinstance(module, GlobalGOCor)
    config = module.config
    assert config.initializer == "flexible-context-aware" and config.num_channels == 512
    assert config.query_loss and config.query_kernel_size == 3
    assert (config.query_hidden_channels, config.query_out_channels) == (16, 16)
    assert config.num_iter == 5
    # Values land where the semantics page says, by name.
    torch.testing.assert_close(
        module.distance.slope_coeffs.data,
        state["corr.corr_module.filter_optimizer.target_mask_predictor.0.weight"].flatten(),
    )
    torch.testing.assert_close(
        module.initializer.background.data, state["corr.corr_module.filter_initializer.target_bg"]
    )
    torch.testing.assert_close(
        module.query_loss.target_weight.data,
        state["corr.corr_module.filter_optimizer.reg_layer.weight2"],
    )
    back = to_official(module, prefix="corr.corr_module.")
    assert back.keys() == state.keys()
    for key in state:
        torch.testing.assert_close(back[key], state[key], rtol=0, atol=0)


@pytest.mark.parametrize("prefix", ["", "local_corr.", "model.local_corr."])
def test_local_round_trips_with_any_prefix(prefix, generator):
    state = {
        prefix + key[len("local_corr.") :]: value
        for key, value in released_local(generator).items()
    }
    module = from_official(state, kind="local")
    assert isinstance(module, LocalGOCor)
    assert module.config.search_radius == 4 and module.config.initializer == "simple"
    back = to_official(module, prefix=prefix)
    for key in state:
        torch.testing.assert_close(back[key], state[key], rtol=0, atol=0)


@pytest.mark.parametrize(
    "init_keys,expected",
    [
        ({"filter_initializer.scaling": (1,)}, ("simple", None)),
        ({"filter_initializer.scaling": (7,)}, ("flexible-simple", 7)),
        (
            {"filter_initializer.target_fg": (1,), "filter_initializer.target_bg": (1,)},
            ("context-aware", None),
        ),
    ],
)
def test_initializer_is_inferred(init_keys, expected, generator):
    state = {
        f"corr_module.{key}": torch.randn(shape, generator=generator)
        for key, shape in init_keys.items()
    }
    for key, shape in [
        ("log_step_length", (1,)),
        ("filter_reg", (1,)),
        ("label_map_predictor.weight", (1, 10, 1, 1)),
        ("spatial_weight_predictor.weight", (1, 10, 1, 1)),
        ("target_mask_predictor.0.weight", (1, 10, 1, 1)),
    ]:
        state[f"corr_module.filter_optimizer.{key}"] = torch.randn(shape, generator=generator)
    module = from_official(state, kind="global")
    assert (module.config.initializer, module.config.num_channels) == expected
    assert module.query_loss is None
    back = to_official(module, prefix="corr_module.")
    assert back.keys() == state.keys()
    for key, value in state.items():  # every value where it came from
        torch.testing.assert_close(back[key], value, rtol=0, atol=0)


def test_loaded_module_computes_with_the_loaded_values(generator):
    """The same parameters set by hand and by the loader give the same volume."""
    state = released_global(generator, channels=8)
    loaded = from_official(state, kind="global")
    by_hand = GlobalGOCor(initializer="flexible-context-aware", num_channels=8, query_loss=True)
    with torch.no_grad():
        prefix = "corr.corr_module."
        by_hand.initializer.foreground.copy_(state[prefix + "filter_initializer.target_fg"])
        by_hand.initializer.background.copy_(state[prefix + "filter_initializer.target_bg"])
        by_hand.log_step_length.copy_(state[prefix + "filter_optimizer.log_step_length"])
        by_hand.reg.copy_(state[prefix + "filter_optimizer.filter_reg"])
        by_hand.query_loss.source_weight.copy_(state[prefix + "filter_optimizer.reg_layer.weight1"])
        by_hand.query_loss.target_weight.copy_(state[prefix + "filter_optimizer.reg_layer.weight2"])
        by_hand.distance.label_coeffs.copy_(
            state[prefix + "filter_optimizer.label_map_predictor.weight"].flatten()
        )
        by_hand.distance.weight_coeffs.copy_(
            state[prefix + "filter_optimizer.spatial_weight_predictor.weight"].flatten()
        )
        by_hand.distance.slope_coeffs.copy_(
            state[prefix + "filter_optimizer.target_mask_predictor.0.weight"].flatten()
        )
    target = torch.randn(1, 8, 4, 4, generator=generator)
    source = torch.randn(1, 8, 4, 4, generator=generator)
    torch.testing.assert_close(loaded(target, source), by_hand(target, source))


def test_checkpoint_file_round_trips(tmp_path, generator):
    state = {
        **released_global(generator),
        **released_local(generator),
        "pyramid.0.weight": torch.randn(64, 3, 3, 3),
        "decoder4.conv.weight": torch.ones(2),
    }
    for wrapped, name in ((state, "plain.pth"), ({"state_dict": state, "epoch": 3}, "wrapped.pth")):
        path = tmp_path / name
        torch.save(wrapped, path)
        modules = load_official_checkpoint(path, num_iter=2)
        assert modules.global_gocor.config.num_iter == 2
        back = {
            **to_official(modules.global_gocor, "corr.corr_module."),
            **to_official(modules.local_gocor, "local_corr."),
        }
        for key, value in back.items():
            torch.testing.assert_close(value, state[key], rtol=0, atol=0)


def test_errors_name_the_key(generator):
    state = released_global(generator)
    with pytest.raises(
        CheckpointError, match=r"unexpected key.*corr\.corr_module\.filter_optimizer\.extra"
    ):
        from_official({**state, "corr.corr_module.filter_optimizer.extra": torch.ones(1)})
    missing = dict(state)
    del missing["corr.corr_module.filter_optimizer.filter_reg"]
    with pytest.raises(
        CheckpointError, match=r"missing key.*corr\.corr_module\.filter_optimizer\.filter_reg"
    ):
        from_official(missing)
    wrong = dict(state)
    wrong["corr.corr_module.filter_optimizer.filter_reg"] = torch.ones(2)
    with pytest.raises(CheckpointError, match=r"filter_reg' has shape \(2,\), expected \(1,\)"):
        from_official(wrong)
    wrong = dict(state)
    wrong["corr.corr_module.filter_optimizer.reg_layer.weight2"] = torch.ones(16, 8, 3, 3)
    with pytest.raises(CheckpointError, match=r"weight2' has shape \(16, 8, 3, 3\)"):
        from_official(wrong)
    with pytest.raises(CheckpointError, match="not a tensor"):
        from_official({**state, "corr.corr_module.filter_optimizer.filter_reg": 0.1})
    with pytest.raises(CheckpointError, match=r"unexpected key.*pyramid\.0\.weight"):
        from_official({**state, "pyramid.0.weight": torch.ones(1)})
    with pytest.raises(CheckpointError, match="several modules are mixed"):
        from_official({**state, **released_local(generator)})
    with pytest.raises(CheckpointError, match="local GOCor has no query loss"):
        from_official(state, kind="local")
    with pytest.raises(ValueError, match="kind must be"):
        from_official(state, kind="both")
    with pytest.raises(CheckpointError, match="non-empty state dict"):
        from_official({})


def test_file_errors(tmp_path, generator):
    with pytest.raises(FileNotFoundError, match="no GLU-Net-GOCor checkpoint file"):
        load_official_checkpoint(tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch weights file"):
        load_official_checkpoint(junk)
    listed = tmp_path / "list.pth"
    torch.save([torch.ones(1)], listed)
    with pytest.raises(CheckpointError, match="holds a list"):
        load_official_checkpoint(listed)
    vgg_only = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.ones(1)}, vgg_only)
    with pytest.raises(CheckpointError, match=r"no keys starting with .corr\.corr_module\.."):
        load_official_checkpoint(vgg_only)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": released_local(generator), "fn": CheckpointError("x")}, unsafe)
    with pytest.raises(CheckpointError, match="not a PyTorch weights file that can be read safely"):
        load_official_checkpoint(unsafe)
