# SPDX-License-Identifier: MIT
"""The global level's soft-argmax (``GLUNetConfig.global_soft_argmax``, this project's small
network) against references written here: the soft-argmax itself by a plain loop over the source
cells at a temperature ``T != 1``, and the whole small configuration (GroupNorm, soft-argmax at a
non-default learned temperature, with GOCor and without) against the float64 re-implementation
of ``tests/test_glunet.py`` extended by a hand GroupNorm and a hand soft-argmax.

Convention (``gocor_lite.glunet.operations``): the global volume is ``(B, g*g, g, g)``, source
cell ``(x, y)`` in channel ``k = y g + x``; a mapping is the source position in ``[-1, 1]``
(``-1`` = cell 0, ``+1`` = cell ``g - 1``); the network adds the soft-argmax of the *raw*
volume (before mutual matching and post-processing) to the mapping decoder's output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from gocor_lite.glunet import GLUNet, GLUNetConfig
from gocor_lite.glunet.operations import soft_argmax_mapping
from tests.test_glunet import Reference, compare_all, images, perturb, relative_error

GROUP_SIZE = 4  # blocks.py's documented group width: groups of 4 channels, else one group
GROUP_EPS = 1e-5  # nn.GroupNorm's default


def loop_soft_argmax(volume: np.ndarray, temperature: float) -> np.ndarray:
    """``(B, g*g, h, w) -> (B, 2, h, w)``: for each target cell, the softmax over the ``g*g``
    source cells of ``score / T`` and the expected source position in ``[-1, 1]``, one source
    cell at a time."""
    batch, cells, height, width = volume.shape
    side = math.isqrt(cells)
    out = np.zeros((batch, 2, height, width))
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                scores = [volume[b, k, y, x] / temperature for k in range(cells)]
                top = max(scores)
                weights = [math.exp(score - top) for score in scores]
                total = sum(weights)
                for k, weight in enumerate(weights):
                    source_x, source_y = k % side, k // side
                    out[b, 0, y, x] += weight / total * (-1 + 2 * source_x / (side - 1))
                    out[b, 1, y, x] += weight / total * (-1 + 2 * source_y / (side - 1))
    return out


@pytest.mark.parametrize("temperature", [0.3, 2.5])
def test_soft_argmax_mapping_is_the_expected_source_cell_at_temperature_t(temperature):
    generator = torch.Generator().manual_seed(3)
    # Unsaturated scores: within about 2 T of each other, so every source cell has weight.
    volume = temperature * torch.randn(2, 16, 3, 2, generator=generator, dtype=torch.float64)
    mapping = soft_argmax_mapping(volume, temperature)
    expected = loop_soft_argmax(volume.numpy(), temperature)
    np.testing.assert_allclose(mapping.numpy(), expected, rtol=0, atol=1e-12)
    # The temperature matters here: at T^2 (or T = 1) the answer is another one.
    for other in (temperature**2, 1.0):
        assert np.abs(loop_soft_argmax(volume.numpy(), other) - expected).max() > 1e-2
    # A temperature given as the network's tensor (exp of a learned log) is the same number.
    as_tensor = soft_argmax_mapping(volume, torch.tensor([temperature], dtype=torch.float64))
    np.testing.assert_allclose(as_tensor.numpy(), expected, rtol=0, atol=1e-12)


def hand_group_norm(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """GroupNorm of groups of :data:`GROUP_SIZE` channels (one group where the channels are
    not a multiple), biased variance, then the per-channel affine map."""
    batch, channels = x.shape[:2]
    groups = channels // GROUP_SIZE if channels % GROUP_SIZE == 0 else 1
    grouped = x.reshape(batch, groups, -1)
    mean = grouped.mean(dim=2, keepdim=True)
    variance = ((grouped - mean) ** 2).mean(dim=2, keepdim=True)
    normalised = ((grouped - mean) / torch.sqrt(variance + GROUP_EPS)).view_as(x)
    return normalised * weight.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)


class SoftArgmaxReference(Reference):
    """``tests/test_glunet.py``'s reference with GroupNorm layers and the soft-argmax of the raw
    global volume at ``temperature`` added to the mapping decoder's output."""

    def __init__(self, network: GLUNet, temperature: float):
        state = {
            key: value
            for key, value in network.state_dict().items()
            if not key.startswith(("corr.", "local_corr.", "mapping_log_temperature"))
        }
        super().__init__(
            state,
            global_gocor=self._capture,
            local_gocor=network.local_corr,
            cyclic=network.config.cyclic_consistency,
            postprocess=network.config.global_postprocess,
        )
        self.network_gocor = network.corr
        self.temperature = temperature
        self.raw: Tensor | None = None

    def _capture(self, target: Tensor, source: Tensor) -> Tensor:
        """The readable global volume ``(B, yt, xt, ys, xs)``: GOCor's where the network has it,
        else the plain correlation written out; the flat raw volume is kept for the mapping."""
        if self.network_gocor is not None:
            volume = self.network_gocor(target, source)
        else:
            volume = torch.einsum("bcyx,bcuv->byxuv", target, source)
        batch, grid = volume.shape[0], volume.shape[1]
        self.raw = volume.permute(0, 3, 4, 1, 2).reshape(batch, grid * grid, grid, grid)
        return volume

    def conv_bn(self, x, name, dilation=1):
        if name + ".1.running_mean" in self.p:
            return super().conv_bn(x, name, dilation)
        y = self.conv(x, name + ".0", dilation)
        return hand_group_norm(y, self.p[name + ".1.weight"], self.p[name + ".1.bias"])

    def mapping(self, x):
        assert self.raw is not None
        soft = torch.from_numpy(loop_soft_argmax(self.raw.detach().numpy(), self.temperature))
        return super().mapping(x) + soft


def small_network(gocor: bool, temperature: float) -> GLUNet:
    """``GLUNetConfig.small`` (GroupNorm, soft-argmax) narrowed for float64 checks, with random
    GroupNorm affine parameters and the learned temperature set to ``temperature``."""
    config = GLUNetConfig.small(
        gocor, channels=(4, 8, 8, 16), width=0.0625, global_iterations=2, local_iterations=2
    )
    assert config.normalization == "group" and config.global_soft_argmax
    torch.manual_seed(5)
    network = perturb(GLUNet(config), seed=6).double()
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.GroupNorm):
                size = module.num_channels
                module.weight.copy_(1 + 0.2 * torch.randn(size, generator=generator))
                module.bias.copy_(0.2 * torch.randn(size, generator=generator))
        assert network.mapping_log_temperature is not None
        network.mapping_log_temperature.fill_(math.log(temperature))
    return network


# The raw global volumes of these random networks spread over about 0.05 (correlation: cosines
# of ReLU features, all near 1) and over about 10 (GOCor's scores): temperatures that leave the
# softmax unsaturated (the test asserts it), neither 1 nor the initial 0.01.
TEMPERATURES = {False: 0.02, True: 2.0}


@pytest.mark.parametrize("gocor", [False, True], ids=["correlation", "gocor"])
def test_the_small_network_equals_the_reference_with_soft_argmax_in_float64(gocor):
    temperature = TEMPERATURES[gocor]
    network = small_network(gocor, temperature)
    assert not math.isclose(temperature, 0.01)  # not the initial temperature
    target, source = images(2, (250, 263), 1), images(2, (241, 300), 2)
    trace = network.trace(target, source)
    reference = SoftArgmaxReference(network, temperature)
    expected = reference(target, source)
    compare_all(trace, expected, 1e-9)
    # The check has teeth: the soft-argmax is unsaturated and its temperature changes the flow
    # far beyond the tolerance (squared, or 1, it moves the coarse flow by a visible amount).
    raw = trace.corr4_raw.numpy()
    probability = torch.softmax(trace.corr4_raw / temperature, dim=1)
    assert float(probability.amax()) < 0.9
    for other in (temperature**2, 1.0):
        moved = loop_soft_argmax(raw, other) - loop_soft_argmax(raw, temperature)
        assert np.abs(moved).max() > 1e-2


def test_flow4_is_the_decoder_output_plus_the_soft_argmax_of_the_raw_volume():
    """The focused form, on ``GLUNetConfig.small()``'s own widths in float32: ``est_map4 =
    decoder4(corr4, 0, 0) + soft-argmax(corr4_raw at T)`` and ``flow4`` its flow in L-image
    pixels, ``((m + 1) (g - 1) / 2 - cell) * L / g``."""
    config = GLUNetConfig.small()
    temperature = 0.2
    torch.manual_seed(0)
    network = GLUNet(config).eval()
    with torch.no_grad():
        assert network.mapping_log_temperature is not None
        network.mapping_log_temperature.fill_(math.log(temperature))
    decoded: list[Tensor] = []
    handle = network.decoder4.register_forward_hook(lambda _m, _i, out: decoded.append(out))
    try:
        trace = network.trace(images(1, (256, 256), 3), images(1, (256, 256), 4))
    finally:
        handle.remove()
    (decoder,) = decoded
    raw = trace.corr4_raw.double().numpy()
    soft = loop_soft_argmax(raw, temperature)
    assert np.abs(soft - loop_soft_argmax(raw, temperature**2)).max() > 1e-2
    expected_map = decoder.double().numpy() + soft
    np.testing.assert_allclose(trace.est_map4.double().numpy(), expected_map, rtol=0, atol=1e-5)
    grid, size = config.global_grid, config.l_net_size
    cells = np.arange(grid, dtype=np.float64)
    flow_x = ((expected_map[:, 0] + 1) * (grid - 1) / 2 - cells[None, None, :]) * size / grid
    flow_y = ((expected_map[:, 1] + 1) * (grid - 1) / 2 - cells[None, :, None]) * size / grid
    expected_flow = np.stack([flow_x, flow_y], axis=1)
    assert relative_error(trace.flow4.double(), torch.from_numpy(expected_flow)) < 1e-5
