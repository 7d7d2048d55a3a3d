# SPDX-License-Identifier: MIT
"""Training: losses go down, runs resume exactly and reproduce, and the shipped weights load."""

from __future__ import annotations

import pytest
import torch

from gocor_lite.core.features import LearnedExtractor, make_extractor
from gocor_lite.data.photos import training_pairs
from gocor_lite.files.statedict import CheckpointError
from gocor_lite.files.weights import (
    SMALL_GLUNET,
    TRAINED_GOCOR,
    WEIGHTS_DIR,
    load_small_glunet,
    load_trained_gocor,
    save_trained_gocor,
    trained_gocor_extractors,
)
from gocor_lite.gocor.modules import GlobalGOCor, LocalGOCor
from gocor_lite.training import loop
from gocor_lite.training.extractor import FeatureTraining, feature_loss, train_features
from gocor_lite.training.gocor import GOCorTraining, gocor_data, gocor_losses, train_gocor

WEIGHTS = WEIGHTS_DIR
TINY_FEATURES = FeatureTraining(steps=20, batch_size=4, image_size=(64, 64), learning_rate=3e-3)
TINY_GOCOR = GOCorTraining(steps=12, pairs=8, batch_size=4, image_size=(64, 64))


def test_feature_training_lowers_the_loss_on_a_fixed_batch():
    batch = training_pairs(6, (64, 64), seed=123_456_789)
    torch.manual_seed(0)
    extractor = LearnedExtractor()
    with torch.no_grad():
        before = float(feature_loss(extractor.eval(), batch, TINY_FEATURES.temperature))
    trained, losses = train_features(TINY_FEATURES, extractor)
    with torch.no_grad():
        after = float(feature_loss(trained, batch, TINY_FEATURES.temperature))
    assert len(losses) == TINY_FEATURES.steps
    assert after < 0.9 * before


@pytest.mark.parametrize(
    "photo", ["opencv-doc/graf1.png", "opencv-doc/aloeL.jpg", "scikit-image/brick"]
)
def test_evaluation_images_never_train(photo):
    with pytest.raises(ValueError, match="must never train"):
        train_features(FeatureTraining(steps=1, photos=("mate-backgrounds/Dune.jpg", photo)))


def test_an_interrupted_run_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "CHECKPOINT_EVERY", 2)
    settings = FeatureTraining(steps=4, batch_size=2, image_size=(48, 48))
    uninterrupted, losses = train_features(settings)

    def stop_at_step_two(step: int, steps: int, loss: float) -> None:
        if step == 2:  # after the checkpoint of steps 0..1, before step 2's own save
            raise KeyboardInterrupt

    checkpoint = tmp_path / "features.pt"
    with pytest.raises(KeyboardInterrupt):
        train_features(settings, checkpoint=checkpoint, progress=stop_at_step_two)
    resumed, resumed_losses = train_features(settings, checkpoint=checkpoint, resume=True)
    assert resumed_losses == losses
    for a, b in zip(uninterrupted.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="another run"):
        train_features(
            FeatureTraining(steps=5, batch_size=2, image_size=(48, 48)),
            checkpoint=checkpoint,
            resume=True,
        )


def test_gocor_training_learns_its_parameters_and_lowers_the_loss():
    extractor = make_extractor("daisy")
    pairs = training_pairs(TINY_GOCOR.pairs, TINY_GOCOR.image_size, 0)
    data = gocor_data(extractor, pairs, TINY_GOCOR)
    every = torch.arange(TINY_GOCOR.pairs)
    temperatures = torch.full((2,), float(torch.log(torch.tensor(TINY_GOCOR.temperature))))
    with torch.no_grad():
        before = gocor_losses(
            GlobalGOCor(num_iter=3), LocalGOCor(num_iter=3), data, every, temperatures
        )
    trained = train_gocor(extractor, TINY_GOCOR)
    with torch.no_grad():
        after = gocor_losses(trained.global_module, trained.local_module, data, every, temperatures)
    assert sum(after) < sum(before)
    initial = LocalGOCor().distance
    learned = trained.local_module.distance
    for name in ("label_coeffs", "weight_coeffs", "slope_coeffs"):
        assert not torch.equal(getattr(learned, name), getattr(initial, name)), name
    assert not torch.equal(trained.global_module.log_step_length, torch.zeros(1))


def test_trained_gocor_round_trip_and_clear_errors(tmp_path):
    global_module, local_module = GlobalGOCor(), LocalGOCor()
    with torch.no_grad():
        global_module.reg.fill_(0.5)
        local_module.distance.label_coeffs.fill_(0.25)
    path = tmp_path / "gocor.pt"
    save_trained_gocor(path, {"daisy": (global_module, local_module)}, note="test")
    loaded = load_trained_gocor("global", "daisy", path=path, num_iter=5)
    assert isinstance(loaded, GlobalGOCor) and loaded.config.num_iter == 5
    assert float(loaded.reg.detach()) == 0.5
    local = load_trained_gocor("local", "daisy", path=path, search_radius=2)
    assert isinstance(local, LocalGOCor) and local.config.search_radius == 2
    assert torch.equal(local.distance.label_coeffs, torch.full((10,), 0.25))
    with pytest.raises(FileNotFoundError, match=r"python -m gocor_lite\.cli\.train"):
        load_trained_gocor("global", path=tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="'learned/global'"):
        load_trained_gocor("global", "learned", path=path)
    with pytest.raises(ValueError, match="kind must be"):
        load_trained_gocor("both", path=path)  # type: ignore[arg-type]
    broken = torch.load(path, weights_only=True)
    broken["daisy/local"]["reg"] = torch.zeros(3)
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="'reg' has shape"):
        load_trained_gocor("local", "daisy", path=tmp_path / "broken.pt")
    (tmp_path / "text.pt").write_text("not a weights file")
    with pytest.raises(CheckpointError, match="not a PyTorch weights file"):
        load_trained_gocor("local", "daisy", path=tmp_path / "text.pt")


def test_the_command_runs_every_stage_and_reproduces_its_weights(tmp_path):
    from gocor_lite.cli.train import main

    for run in ("a", "b"):
        arguments = ["--quick", "--out", str(tmp_path / run), "--checkpoints", str(tmp_path / run)]
        assert main([*arguments, "--gocor-extractors", "learned"]) == 0
    for name in ("learned_features.pt", "gocor_trained.pt", "glunet_xfeat.pt"):
        first = torch.load(tmp_path / "a" / name, weights_only=True)
        second = torch.load(tmp_path / "b" / name, weights_only=True)
        assert _tensors(first) and _tensors(first) == _tensors(second), name
    card = (tmp_path / "a" / "TRAINING.md").read_text()
    assert "| learned features | 4 |" in card
    assert "network pyramid" not in card  # XFeat's backbone is pretrained: no pyramid phase
    assert "torch " + torch.__version__ in card
    network = load_small_glunet("gocor", path=tmp_path / "a" / "glunet_xfeat.pt")
    assert network.config.uses_gocor and not network.training
    assert network.config.pyramid == "xfeat" and network.config.max_working_side == 512


def test_the_command_refuses_other_stages_under_torchrun(monkeypatch, capsys):
    from gocor_lite.cli import train

    monkeypatch.setattr(train, "workers_from_environment", lambda: train.Workers(0, 2))
    assert train.main(["--stages", "features", "network"]) == 1
    assert "--stages network" in capsys.readouterr().err


def _tensors(state: object, prefix: str = "") -> dict[str, bytes]:
    """Every tensor of a nested dict, as bytes (metadata such as times left out)."""
    if isinstance(state, torch.Tensor):
        return {prefix: state.numpy().tobytes()}
    if isinstance(state, dict):
        out: dict[str, bytes] = {}
        for key, value in state.items():
            if key != "metadata":
                out.update(_tensors(value, f"{prefix}/{key}"))
        return out
    return {}


# -- the shipped weights ---------------------------------------------------------------------------


def test_shipped_weights_load_with_their_shapes():
    extractor = make_extractor("learned")  # gocor_lite/assets/weights/learned_features.pt
    features = extractor(torch.rand(1, 3, 40, 56))
    assert features.shape == (1, 64, 5, 7) and torch.isfinite(features).all()
    assert trained_gocor_extractors() == ["daisy", "learned", "xfeat"]
    metadata = torch.load(TRAINED_GOCOR, weights_only=True)["metadata"]
    # The file records the command that wrote it: the shipped one predates the commands' move
    # into gocor_lite/cli (the old name is split so that the rewrite of module paths skips it).
    shipped_command = "python -m gocor_lite" + ".train"
    assert metadata["command"] in ("python -m gocor_lite.cli.train", shipped_command)
    for name in ("xfeat", "learned", "daisy"):
        module = load_trained_gocor("global", name)
        assert not torch.equal(module.distance.label_coeffs, GlobalGOCor().distance.label_coeffs)
    assert SMALL_GLUNET.is_file(), "run make refresh-weights"
    for variant in ("gocor", "correlation"):
        network = load_small_glunet(variant)
        assert network.config.uses_gocor == (variant == "gocor")
        assert network.config.pyramid == "xfeat" and network.pyramid.backbone.loaded
    assert (WEIGHTS / "TRAINING.md").is_file()


@pytest.mark.slow
def test_a_rerun_of_the_gocor_stage_is_close_to_the_shipped_one():
    """Reproducibility, stated truthfully: the GOCor stage rerun here (the shipped features,
    the command's settings and seed) against the shipped parameters. Bit-identical only on the
    machine, thread count and torch build that made them; elsewhere float32 sums in another
    order drift through 300 Adam steps, by at most REPRODUCIBLE (measured: README)."""
    shipped = torch.load(TRAINED_GOCOR, weights_only=True)
    torch.set_num_threads(2)
    trained = train_gocor(make_extractor("learned"), GOCorTraining())
    for kind, module in (("global", trained.global_module), ("local", trained.local_module)):
        for name, value in module.state_dict().items():
            reference = shipped[f"learned/{kind}"][name]
            difference = float((value - reference).abs().max())
            assert difference <= REPRODUCIBLE * max(1.0, float(reference.abs().max())), (
                kind,
                name,
                difference,
            )


#: Largest difference allowed between a rerun and the shipped GOCor parameters, relative to the
#: parameter's size (see test_a_rerun_of_the_gocor_stage_is_close_to_the_shipped_one). Measured
#: on the machine that made them: 2 threads (as shipped) 0; 1 thread 0.070 (the local module's
#: slope coefficients; the global module's parameters within 2.4e-4). About twice that.
REPRODUCIBLE = 0.15
