# SPDX-License-Identifier: MIT
"""Training the small GLU-Net: the truth at each level, the losses by hand, the bilinear start
of the flow upsamplings, a short run that lowers the loss, and DDP's equivalence with one
process on the same global batch."""

from __future__ import annotations

import os
import socket
import sys

import pytest
import torch
import torch.nn.functional as F

from gocor_lite.data.photos import training_pairs
from gocor_lite.data.synthetic import SMALL_WARPS, WarpedBatch
from gocor_lite.glunet.network import GLUNetOutput
from gocor_lite.training.small_glunet import (
    NetworkTraining,
    bilinear_upsampling_,
    carry_over,
    endpoint_loss,
    fresh_network,
    level_truth,
    network_loss,
    pyramid_loss,
    train_network,
    training_batch,
)

#: A network narrow enough for a test: the small architecture at a sixteenth of the width.
TINY = NetworkTraining(
    variant="correlation",
    channels=(4, 8, 8, 16),
    width=0.0625,
    batch_size=2,
    steps=12,
    gocor_iterations=1,
)


def affine_batch(a: float, b: float, size: int = 256) -> WarpedBatch:
    """One pair whose flow is ``(a x + 1.5, b y - 2)`` at pixel ``(x, y)``, all valid."""
    ys, xs = torch.meshgrid(
        torch.arange(size, dtype=torch.float64),
        torch.arange(size, dtype=torch.float64),
        indexing="ij",
    )
    flow = torch.stack([a * xs + 1.5, b * ys - 2.0])[None]
    images = torch.zeros(1, 3, size, size, dtype=torch.float64)
    return WarpedBatch(images, images, flow, torch.ones(1, 1, size, size, dtype=torch.bool))


def test_level_truth_reads_the_flow_at_the_cell_centres():
    batch = affine_batch(0.01, -0.02)
    truth, known = level_truth(batch.flow, batch.valid, (16, 16))
    # Cell (row 3, column 5) of stride 16 is centred on pixel (5.5 * 16 - 0.5, 3.5 * 16 - 0.5).
    x, y = 5.5 * 16 - 0.5, 3.5 * 16 - 0.5
    assert truth[0, 0, 3, 5].item() == pytest.approx(0.01 * x + 1.5, abs=1e-9)
    assert truth[0, 1, 3, 5].item() == pytest.approx(-0.02 * y - 2.0, abs=1e-9)
    assert bool(known.all())
    with pytest.raises(ValueError, match="does not divide"):
        level_truth(batch.flow, batch.valid, (15, 16))


def test_endpoint_loss_by_hand():
    flow = torch.zeros(2, 2, 1, 2, dtype=torch.float64)
    truth = torch.tensor([[[[3.0, 0.0]], [[4.0, 1.0]]], [[[0.0, 6.0]], [[0.0, 8.0]]]])
    known = torch.tensor([[[True, True]], [[False, True]]])
    # Pair 0: errors 5 and 1 -> 3; pair 1: only the known cell, error 10 -> 10; mean 6.5.
    assert float(endpoint_loss(flow, truth.double(), known)) == pytest.approx(6.5, abs=1e-6)


def test_network_loss_is_zero_for_the_true_flows_and_weighs_each_level():
    batch = affine_batch(0.005, 0.003)
    flows = {}
    for name, grid in (("flow4", 16), ("flow3_l", 32), ("flow2", 32), ("flow1", 64)):
        flows[name] = level_truth(batch.flow, batch.valid, (grid, grid))[0]
    extra = torch.zeros(1)
    output = GLUNetOutput(flow3=flows["flow3_l"], corr4=extra, corr4_raw=extra, **flows)
    assert float(network_loss(output, batch)) == pytest.approx(0.0, abs=1e-5)
    shifted = GLUNetOutput(
        flow4=flows["flow4"] + torch.tensor([3.0, 4.0]).view(1, 2, 1, 1).double(),
        flow3=flows["flow3_l"],
        flow3_l=flows["flow3_l"],
        flow2=flows["flow2"],
        flow1=flows["flow1"],
        corr4=extra,
        corr4_raw=extra,
    )
    # Only flow4 is off, by 5 px everywhere: the loss is its weight times 5.
    weights = (0.5, 0.0, 0.0, 0.0)
    assert float(network_loss(shifted, batch, weights)) == pytest.approx(2.5, abs=1e-5)


def test_the_flow_upsamplings_start_as_bilinear_upsampling():
    deconvolution = torch.nn.ConvTranspose2d(2, 2, kernel_size=4, stride=2, padding=1).double()
    bilinear_upsampling_(deconvolution)
    flow = torch.randn(1, 2, 6, 7, dtype=torch.float64)
    expected = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=False)
    got = deconvolution(flow)
    # Away from the border (where the transposed convolution sees zero padding) they agree.
    assert torch.allclose(got[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-12)


def test_batches_are_a_function_of_the_seed_and_step_with_small_motions_first():
    settings = NetworkTraining(batch_size=4, small_motion=0.5)
    first, again = training_batch(settings, 7), training_batch(settings, 7)
    assert torch.equal(first.target, again.target) and torch.equal(first.flow, again.flow)
    assert not torch.equal(first.flow, training_batch(settings, 8).flow)
    largest = first.flow.norm(dim=1).flatten(1).max(1).values
    assert first.target.shape == (4, 3, 256, 256)
    # SMALL_WARPS move no pixel by more than a few pixels at 256 x 256 (the pairs' first half).
    assert float(largest[:2].max()) < 8.0, largest
    assert SMALL_WARPS.shift * 256 < 3


def test_carry_over_copies_everything_but_gocor():
    correlation = fresh_network(TINY)
    gocor = fresh_network(NetworkTraining(**{**TINY.__dict__, "variant": "gocor", "seed": 5}))
    carry_over(correlation, gocor)
    for key, value in correlation.state_dict().items():
        assert torch.equal(gocor.state_dict()[key], value), key
    assert any(key.startswith("corr.") for key in gocor.state_dict())


def test_the_pyramid_phase_lowers_its_loss_on_a_fixed_batch():
    settings = NetworkTraining(
        **{**TINY.__dict__, "phase": "pyramid", "steps": 20, "learning_rate": 5e-3}
    )
    batch = training_pairs(4, (256, 256), seed=987_654)
    network = fresh_network(settings)
    with torch.no_grad():
        before = float(pyramid_loss(network.pyramid, batch, settings.temperature))
    trained, losses = train_network(settings, network)
    with torch.no_grad():
        after = float(pyramid_loss(trained.pyramid, batch, settings.temperature))
    assert len(losses) == 20 and after < 0.95 * before, (before, after)


@pytest.mark.parametrize("variant", ["correlation", "gocor"])
def test_a_short_network_run_lowers_the_loss_on_held_out_pairs(variant):
    settings = NetworkTraining(**{**TINY.__dict__, "variant": variant})
    batch = training_pairs(4, (256, 256), seed=123_457)
    network = fresh_network(settings)

    def loss() -> float:
        network.eval()
        with torch.no_grad():
            from gocor_lite.training.small_glunet import network_inputs

            target, source = network_inputs(batch.target), network_inputs(batch.source)
            return float(network_loss(network(target, source, target, source), batch))

    before = loss()
    pyramid = [p.clone() for p in network.pyramid.parameters()]
    train_network(settings, network)
    assert loss() < 0.8 * before
    # The pyramid stays frozen in the network phase.
    for kept, now in zip(pyramid, network.pyramid.parameters(), strict=True):
        assert torch.equal(kept, now)


# -- data-parallel training ------------------------------------------------------------------------


DDP = NetworkTraining(**{**TINY.__dict__, "batch_size": 4, "steps": 3, "optimizer": "sgd"})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from gocor_lite.training.distributed import Workers

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    network, losses = train_network(DDP, fresh_network(DDP), workers=Workers(rank, world))
    if rank == 0:
        torch.save({"state": network.state_dict(), "losses": losses}, out)
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="gloo over TCP on localhost")
def test_two_processes_take_the_step_one_process_takes(tmp_path):
    import torch.multiprocessing as mp

    torch.set_num_threads(1)
    single, single_losses = train_network(DDP, fresh_network(DDP))
    out = str(tmp_path / "ddp.pt")
    os.environ.pop("RANK", None)
    mp.spawn(_ddp_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    result = torch.load(out, weights_only=True)
    assert result["losses"] == pytest.approx(single_losses, rel=1e-5)
    for key, value in single.state_dict().items():
        other = result["state"][key]
        scale = max(1.0, float(value.abs().max()))
        assert float((other - value).abs().max()) <= 1e-5 * scale, key
    # The run moved the weights (the comparison is not between two untrained networks).
    untrained = fresh_network(DDP).state_dict()
    assert not torch.equal(
        untrained["decoder1.predict_flow.weight"],
        single.state_dict()["decoder1.predict_flow.weight"],
    )


def test_soft_argmax_mapping_by_hand():
    from gocor_lite.glunet.operations import mapping_to_flow, soft_argmax_mapping

    volume = torch.zeros(1, 9, 1, 2, dtype=torch.float64)  # a 3 x 3 source grid, 1 x 2 targets
    volume[0, 6, 0, 0] = 100.0  # target 0: source cell (x 0, y 2)
    volume[0, 0, 0, 1] = volume[0, 2, 0, 1] = 100.0  # target 1: cells (0, 0) and (2, 0) tie
    mapping = soft_argmax_mapping(volume, 1.0)
    assert torch.allclose(mapping[0, :, 0, 0], torch.tensor([-1.0, 1.0]).double())
    assert torch.allclose(mapping[0, :, 0, 1], torch.tensor([0.0, -1.0]).double())
    uniform = soft_argmax_mapping(torch.zeros(1, 9, 1, 1), 0.1)
    assert torch.allclose(uniform, torch.zeros(1, 2, 1, 1), atol=1e-7)
    # In flow units: target 0 sits at cell x 0 of a 3-wide grid, matches cell (0, 2).
    flow = mapping_to_flow(mapping.view(1, 2, 1, 2)[..., :1].expand(1, 2, 3, 3).contiguous())
    assert torch.allclose(flow[0, :, 0, 0], torch.tensor([0.0, 2.0]).double())
    with pytest.raises(ValueError, match="square grid"):
        soft_argmax_mapping(torch.zeros(1, 8, 1, 1), 1.0)


def test_a_fresh_small_network_starts_from_the_soft_argmax():
    network = fresh_network(TINY)
    assert network.config.global_soft_argmax and network.mapping_log_temperature is not None
    assert not bool(network.decoder4.final.weight.detach().any())
