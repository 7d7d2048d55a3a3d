# SPDX-License-Identifier: MIT
"""GOCor in someone else's training loop: no host synchronisation, torch.compile, autocast,
DDP and DataParallel, and modules that never change themselves in ``forward``.

References are the same modules run eagerly in float32/float64 on one process; what is claimed
is equality (bit for bit where the claim is "the same computation") or the stated tolerance.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from gocor_lite import GlobalGOCor, LocalGOCor
from gocor_lite.core.correlation import _local_adjoint_kernel, _local_correlation_kernel
from gocor_lite.core.features import LearnedExtractor
from gocor_lite.gocor.modules import GOCorBase
from tests.test_gocor import randomise

# Small variants that use every code path: the blocked global sweep with the query loss, the
# context-aware initialiser, and the local window.
VARIANTS: dict[str, Callable[..., GOCorBase]] = {
    "global-query": lambda **options: GlobalGOCor(
        query_loss=True, query_hidden_channels=2, query_out_channels=2, **options
    ),
    "global-context": lambda **options: GlobalGOCor(initializer="context-aware", **options),
    "local": lambda **options: LocalGOCor(search_radius=2, **options),
}


def features(generator: torch.Generator, dtype: torch.dtype = torch.float32, batch: int = 2):
    """An L2-normalised target/source pair ``(B, 6, 5, 6)`` (as GLU-Net feeds GOCor)."""
    pair = torch.randn(2, batch, 6, 5, 6, generator=generator, dtype=torch.float64)
    pair = pair / pair.norm(dim=2, keepdim=True)
    return pair[0].to(dtype), pair[1].to(dtype)


# --- no host synchronisation -------------------------------------------------------------------


class HostReads(TorchDispatchMode):
    """Records every operator that copies a tensor's value to the host (``.item()``,
    ``bool(tensor)``, ``.tolist()`` all end in ``aten._local_scalar_dense``): on an accelerator,
    each one makes the host wait for the device. The project's own operators (the local
    correlation's kernels) are opened up: their inner operators are recorded too."""

    READS = ("_local_scalar_dense", "item", "is_nonzero", "equal", "allclose")
    KERNELS: ClassVar[dict[str, Callable[..., torch.Tensor]]] = {
        "local_correlation": _local_correlation_kernel,
        "local_correlation_adjoint": _local_adjoint_kernel,
    }

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []
        self.opened: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = func.overloadpacket.__name__
        if name in self.READS:
            self.reads.append(name)
        if func.namespace == "gocor_lite":
            self.opened.append(name)
            with self:  # the kernel's operators pass through this mode again
                return self.KERNELS[name](*args, **(kwargs or {}))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("num_iter", [0, 2])
def test_forward_and_backward_read_nothing_back(name, num_iter, generator):
    module = VARIANTS[name](num_iter=num_iter)
    target, source = features(generator)
    target.requires_grad_(True)
    with HostReads() as mode:
        volume = module(target, source)
        volume.square().sum().backward()
    assert mode.reads == []
    assert bool(mode.opened) == name.startswith("local")  # the local kernels were seen inside
    with HostReads() as mode:  # the check is real: the CPU's finiteness check reads one bool
        module.trace(target.detach(), source, num_iter=1)
    assert "_local_scalar_dense" in mode.reads


@pytest.mark.gpu
@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("check_finite", [False, True])
def test_cuda_forward_and_backward_never_synchronise(name, check_finite, generator):
    """CUDA's own detector: any synchronising call (a copy to the host, ``.item()``) raises."""
    module = VARIANTS[name](check_finite=check_finite).cuda()
    target, source = (tensor.cuda() for tensor in features(generator))
    target.requires_grad_(True)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        module(target, source).square().sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert target.grad is not None and bool(torch.isfinite(target.grad).all())


# --- torch.compile -----------------------------------------------------------------------------


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    torch._dynamo.reset()  # no cache limit reached through earlier tests
    yield
    torch._dynamo.reset()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["global-query", "local"])
def test_compile_fullgraph_equals_eager(name, generator, fresh_dynamo):
    """``fullgraph=True`` fails on any graph break; the compiled forward and backward give the
    eager numbers (float64, both run the same operators)."""
    module = VARIANTS[name](num_iter=2).double()
    randomise(module, generator)
    target, source = features(generator, torch.float64)
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
    weights = torch.randn(module(target, source).shape, generator=generator, dtype=torch.float64)

    def run(call: Callable[..., torch.Tensor]) -> list[torch.Tensor]:
        inputs = [target.clone().requires_grad_(True), source.clone().requires_grad_(True)]
        volume = call(*inputs)
        grads = torch.autograd.grad((volume * weights).sum(), [*inputs, *module.parameters()])
        return [volume.detach(), *grads]

    for got, want in zip(run(compiled), run(module), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_compiled_finiteness_check_raises_without_a_graph_break(generator, fresh_dynamo):
    module = LocalGOCor(num_iter=1, search_radius=1, check_finite=True)
    target, source = features(generator)
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(target, source), module(target, source))
    target[0, 0, 1, 2] = float("nan")
    with pytest.raises(RuntimeError, match="target contains NaN"):  # torch._assert_async
        compiled(target, source)


# --- autocast ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VARIANTS)
def test_autocast_leaves_float32_features_in_float32(name, generator):
    """Float32 features inside bf16 autocast: the float32 volume, bit for bit (tolerance 0)."""
    module = VARIANTS[name]()
    randomise(module, generator)
    target, source = features(generator)
    expected = module(target, source)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = module(target, source)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", VARIANTS)
def test_autocast_computes_bf16_features_in_float32(name, generator):
    """bf16 features (a backbone under autocast): GOCor promotes them, runs the float32
    computation and rounds its result once to bf16. Tolerance against float32 GOCor on the
    same features: that one rounding, at most 2^-9 of each entry (checked as 2^-8)."""
    module = VARIANTS[name]()
    randomise(module, generator)
    backbone = nn.Conv2d(3, 6, 3, padding=1)
    images = torch.rand(2, 2, 3, 5, 6, generator=generator)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        target, source = backbone(images[0]), backbone(images[1])
        assert target.dtype == torch.bfloat16
        got = module(target, source)
        trace = module.trace(target, source)
    expected = module(target.float(), source.float())
    assert got.dtype == torch.bfloat16  # the features' dtype, for both modules
    torch.testing.assert_close(got, expected.to(torch.bfloat16), rtol=0, atol=0)
    torch.testing.assert_close(got.float(), expected, rtol=2**-8, atol=0)
    # The sensitive arithmetic is float32: filters, step lengths and losses of every step.
    dtypes = {t.dtype for t in [*trace.filters, *trace.step_lengths, trace.losses.total]}
    assert dtypes == {torch.float32}
    torch.testing.assert_close(trace.volumes[-1], expected, rtol=0, atol=0)


# --- DDP and DataParallel ------------------------------------------------------------------------

DDP_VARIANTS: dict[str, Callable[[], GOCorBase]] = {
    "global-0": lambda: GlobalGOCor(num_iter=0),
    "global-query-2": lambda: GlobalGOCor(
        num_iter=2, query_loss=True, query_hidden_channels=2, query_out_channels=2
    ),
    "local-0": lambda: LocalGOCor(num_iter=0, search_radius=1),
    "local-2": lambda: LocalGOCor(num_iter=2, search_radius=1),
}
GLOBAL_BATCH, DDP_STEPS = 4, 3


def train_a_few_steps(
    name: str, rank: int = 0, world: int = 1, wrap: Callable[[nn.Module], nn.Module] = lambda m: m
) -> dict[str, torch.Tensor]:
    """SGD on this rank's share of a fixed global batch (float64); the module's final state."""
    torch.manual_seed(0)
    module = DDP_VARIANTS[name]().double()
    generator = torch.Generator().manual_seed(1)
    target, source = features(generator, torch.float64, batch=GLOBAL_BATCH)
    with torch.no_grad():
        shape = module(target, source).shape
    weights = torch.randn(shape, generator=generator, dtype=torch.float64)
    model = wrap(module)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.05)
    share = GLOBAL_BATCH // world
    rows = slice(rank * share, (rank + 1) * share)
    for _ in range(DDP_STEPS):
        optimizer.zero_grad()
        loss = (model(target[rows], source[rows]) * weights[rows]).sum() / share
        loss.backward()
        optimizer.step()
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def ddp_worker(rank: int, world: int, folder: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world
    )
    try:
        states = {
            name: train_a_few_steps(name, rank, world, nn.parallel.DistributedDataParallel)
            for name in DDP_VARIANTS
        }
        if rank == 0:
            torch.save(states, Path(folder) / "states.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_with_two_processes_equals_one_process(tmp_path):
    """2 gloo processes, half the batch each, ``num_iter`` 0 and 2: the parameters after three
    SGD steps equal one process on the whole batch (float64, to rounding)."""
    mp.spawn(ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    states = torch.load(tmp_path / "states.pt", weights_only=True)
    for name in DDP_VARIANTS:
        alone = train_a_few_steps(name)
        initial = DDP_VARIANTS[name]().double().state_dict()
        assert states[name].keys() == alone.keys() == initial.keys()
        for key, value in alone.items():
            torch.testing.assert_close(states[name][key], value, rtol=1e-10, atol=1e-12)
        trained = [k for k in alone if not torch.equal(alone[k], initial[k])]
        assert "initializer.scale" in trained, name  # the comparison is not of untouched values
        if name.endswith("-2"):
            assert {"reg", "log_step_length", "distance.label_coeffs"} <= set(trained), name


@pytest.mark.parametrize("name", VARIANTS)
def test_data_parallel_on_the_cpu(name, generator):
    module = VARIANTS[name]().double()
    randomise(module, generator)
    target, source = features(generator, torch.float64)
    parallel = nn.DataParallel(module)

    def gradients(model: nn.Module) -> list[torch.Tensor]:
        volume = model(target, source)
        return [volume.detach(), *torch.autograd.grad(volume.square().sum(), module.parameters())]

    for got, want in zip(gradients(parallel), gradients(module), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


# --- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("num_iter", [0, 1])
def test_every_parameter_gets_a_gradient(name, num_iter, generator):
    """What DDP needs without ``find_unused_parameters``: no parameter left out of the graph.
    With ``num_iter=0`` the optimiser's values are buffers: same state dict, same trace."""
    module = VARIANTS[name](num_iter=num_iter).double()
    target, source = features(generator, torch.float64)
    volume = module(target, source)
    parameters = dict(module.named_parameters())
    grads = torch.autograd.grad(volume.square().sum(), list(parameters.values()), allow_unused=True)
    assert [key for key, grad in zip(parameters, grads, strict=True) if grad is None] == []
    stepping = VARIANTS[name](num_iter=2).double()
    assert module.state_dict().keys() == stepping.state_dict().keys()
    if num_iter == 0:
        assert all(key.startswith("initializer.") for key in parameters)
        randomise(stepping, generator)
        module.load_state_dict(stepping.state_dict())
        torch.testing.assert_close(
            module.trace(target, source, num_iter=2).volumes[-1], stepping(target, source)
        )


@contextlib.contextmanager
def unchanged(module: nn.Module) -> Iterator[None]:
    """Asserts that the block leaves every parameter and buffer where it was: same tensor
    object, storage, dtype, device and values."""
    before = {key: (id(v), v.data_ptr(), v.dtype, v.clone()) for key, v in _state(module).items()}
    yield
    after = _state(module)
    assert after.keys() == before.keys()
    for key, (identity, pointer, dtype, values) in before.items():
        value = after[key]
        assert (id(value), value.data_ptr(), value.dtype) == (identity, pointer, dtype), key
        assert torch.equal(value, values), key


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


@pytest.mark.parametrize("name", VARIANTS)
def test_forward_never_changes_the_module(name, generator):
    module = VARIANTS[name]()
    target, source = features(generator)
    with unchanged(module):
        module(target, source).sum().backward()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            module(target.bfloat16(), source.bfloat16())
        module.trace(target, source)


def test_the_learned_extractor_refuses_rather_than_converts_itself(generator):
    extractor = LearnedExtractor()
    images = torch.rand(1, 3, 16, 24, generator=generator)
    with unchanged(extractor):
        with pytest.raises(ValueError, match="move one to the other"):
            extractor(images.double())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert extractor(images).dtype == torch.bfloat16  # its convolutions ran in bf16
