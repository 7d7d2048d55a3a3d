# SPDX-License-Identifier: MIT
"""GOCor against an independent float64 re-derivation of the semantics page.

The oracle below is written from the mathematics alone: the learned tables by explicit loops
over pairs of cells, the local scores by an explicit loop over the window's ``(dy, dx)``, the
activation with ``where`` (three cases), the query projection with a naive convolution, the
gradient by autograd of the stated objective and the Gauss-Newton step length from a
Jacobian-vector product. None of it calls the code under test (not even the correlations).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gocor_lite import GlobalGOCor, LocalGOCor

# ---------------------------------------------------------------------------------------------
# The oracle.


def bins_by_hand(rho: float, num_bins: int = 10, width: float = 0.5) -> list[float]:
    bins = [max(0.0, 1.0 - abs(rho / width - k)) for k in range(num_bins - 1)]
    bins.append(min(max(1.0 + rho / width - (num_bins - 1), 0.0), 1.0))
    return bins


def functions_by_hand(module, rho: float) -> tuple[float, float, float]:
    phi = torch.tensor(bins_by_hand(rho, module.config.num_bins), dtype=torch.float64)
    distance = module.distance
    label = float(phi @ distance.label_coeffs.detach().double())
    weight = float(phi @ distance.weight_coeffs.detach().double())
    slope = 1.0 / (1.0 + math.exp(-float(phi @ distance.slope_coeffs.detach().double())))
    return label, weight, slope


def global_tables(module, height: int, width: int) -> tuple[torch.Tensor, ...]:
    cells = [(y, x) for y in range(height) for x in range(width)]
    tables = torch.zeros(3, len(cells), len(cells), dtype=torch.float64)
    for i, (yi, xi) in enumerate(cells):
        for j, (yj, xj) in enumerate(cells):
            tables[:, i, j] = torch.tensor(
                functions_by_hand(module, math.hypot(yi - yj, xi - xj)), dtype=torch.float64
            )
    return tuple(tables)  # each (hw, hw)


def local_tables(module, radius: int) -> tuple[torch.Tensor, ...]:
    size = 2 * radius + 1
    tables = torch.zeros(3, size * size, dtype=torch.float64)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            index = (dy + radius) * size + (dx + radius)
            tables[:, index] = torch.tensor(
                functions_by_hand(module, math.hypot(dy, dx)), dtype=torch.float64
            )
    return tuple(tables)  # each ((2R+1)^2,)


def local_scores_by_loop(filters: torch.Tensor, feats: torch.Tensor, radius: int) -> torch.Tensor:
    """``(1/C) <w[:, y, x], f[:, y+dy, x+dx]>`` (zero off the map), one ``(dy, dx)`` at a time,
    dy-major: ``(B, h, w, (2R+1)^2)``. Differentiable in ``filters``."""
    _, channels, height, width = filters.shape
    feats_height, feats_width = feats.shape[2:]
    columns = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = torch.zeros_like(filters.detach())  # shifted[:, :, y, x] = f[:, y+dy, x+dx]
            top, bottom = max(0, -dy), min(height, feats_height - dy)  # rows y with y+dy inside
            left, right = max(0, -dx), min(width, feats_width - dx)
            if top < bottom and left < right:
                shifted[:, :, top:bottom, left:right] = feats[
                    :, :, top + dy : bottom + dy, left + dx : right + dx
                ]
            columns.append((filters * shifted).sum(1) / channels)  # (B, h, w)
    return torch.stack(columns, dim=-1)


def global_scores(filters: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    """``<w_i, f_j>`` for every target cell ``i`` and cell ``j``: ``(B, h*w, h'*w')``."""
    return torch.einsum("bci,bcj->bij", filters.flatten(2), feats.flatten(2))


def naive_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Cross-correlation with zero padding k // 2, by explicit kernel offsets."""
    count, _, height, width = x.shape
    kernel = weight.shape[-1]
    pad = kernel // 2
    padded = F.pad(x, (pad, pad, pad, pad))
    out = torch.zeros(count, weight.shape[0], height, width, dtype=x.dtype)
    for ky in range(kernel):
        for kx in range(kernel):
            window = padded[:, :, ky : ky + height, kx : kx + width]
            out = out + torch.einsum("oc,nchw->nohw", weight[:, :, ky, kx], window)
    return out


def query_projection(scores: torch.Tensor, module) -> torch.Tensor:
    """P of the semantics page; scores (B, h, w, h', w')."""
    batch, height, width, source_height, source_width = scores.shape
    first = naive_conv(
        scores.reshape(-1, 1, source_height, source_width),
        module.query_loss.source_weight.detach().double(),
    ).view(batch, height, width, -1, source_height, source_width)
    first = first.permute(0, 4, 5, 3, 1, 2).reshape(-1, first.shape[3], height, width)
    return naive_conv(first, module.query_loss.target_weight.detach().double())


def reg_weight(module, channels: int, local: bool) -> float:
    reg = float(module.reg.detach())
    value = max(reg**2, module.config.reg_min**2)
    return value / channels**2 if local else value


def oracle_step(module, filters, target, source, local: bool):
    """One step from ``filters`` by the semantics page: returns the new filters and losses."""
    batch, channels, height, width = filters.shape
    lam = reg_weight(module, channels, local)
    if local:
        radius = module.config.search_radius
        label, weight, slope = local_tables(module, radius)

        def scores_on(w, feats):
            return local_scores_by_loop(w, feats, radius).reshape(batch, height * width, -1)
    else:
        label, weight, slope = global_tables(module, height, width)
        scores_on = global_scores

    def residuals(w):
        s = scores_on(w, target)  # (B, hw, N)
        # The semantics page's act(s; m) = (1-m)/2 |s| + (1+m)/2 s: the identity for s > 0,
        # slope m for s < 0 and, as the page defines act', the slope (1+m)/2 at s = 0 (scores
        # of zero filters, or of ReLU features that do not overlap, are exactly 0).
        act = torch.where(s > 0, s, torch.where(s < 0, slope * s, (1 + slope) / 2 * s))
        parts = [weight * act - weight * label, math.sqrt(lam) * w.flatten(2).transpose(1, 2)]
        if module.query_loss is not None:
            t = scores_on(w, source).view(batch, height, width, *source.shape[2:])
            parts.append(query_projection(t, module).reshape(batch, -1))
        return parts

    def loss(w):
        parts = residuals(w)
        return 0.5 * sum(p.square().sum() for p in parts), parts

    w = filters.detach().clone().requires_grad_(True)
    total, parts = loss(w)
    (gradient,) = torch.autograd.grad(total, w)
    _, directional = torch.autograd.functional.jvp(lambda v: tuple(residuals(v)), w, gradient)
    if module.query_loss is None:  # one step length per filter (per target cell i)
        numerator = gradient.square().sum(1).flatten(1)  # (B, hw)
        denominator = directional[0].square().sum(-1) + directional[1].square().sum(-1)
        alpha = (numerator / denominator.clamp(min=1e-8)).view(batch, 1, height, width)
    else:  # one per batch element
        numerator = gradient.square().flatten(1).sum(1)
        denominator = sum(d.reshape(batch, -1).square().sum(1) for d in directional)
        alpha = (numerator / denominator.clamp(min=1e-8)).view(batch, 1, 1, 1)
    step = math.exp(float(module.log_step_length.detach()))
    losses = [0.5 * p.detach().reshape(batch, -1).square().sum(1) for p in parts]
    return filters - step * alpha * gradient, losses


def randomise(module, generator: torch.Generator) -> None:
    """Give every learned parameter a non-default value, so that each one matters."""
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            if name == "reg":
                parameter.copy_(0.3 + 0.05 * noise.abs())
            elif name == "log_step_length":
                parameter.copy_(-0.2 + 0.1 * noise)
            elif name.startswith("query_loss"):
                parameter.copy_(0.2 * noise)
            else:
                parameter.add_(0.3 * noise)


# ---------------------------------------------------------------------------------------------
# The tests.

GLOBAL_VARIANTS = [
    dict(initializer="simple"),
    dict(initializer="flexible-simple", num_channels=4),
    dict(initializer="context-aware"),
    dict(initializer="flexible-context-aware", num_channels=4),
    dict(initializer="simple", query_loss=True, query_hidden_channels=3, query_out_channels=2),
    dict(
        initializer="flexible-context-aware",
        num_channels=4,
        query_loss=True,
        query_hidden_channels=2,
        query_out_channels=3,
        query_kernel_size=3,
    ),
]
LOCAL_VARIANTS = [
    dict(search_radius=1),
    dict(search_radius=2, initializer="flexible-simple", num_channels=4),
    dict(search_radius=4),  # larger than the 3x4 map
]


def assert_steps_match_the_oracle(module, trace, target, source, *, local):
    """Every step of ``trace`` (filters and losses) equals the float64 oracle's."""
    for k in range(trace.num_iter):
        expected, losses = oracle_step(module, trace.filters[k], target, source, local=local)
        torch.testing.assert_close(trace.filters[k + 1], expected, rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(trace.losses.reference[k], losses[0])
        torch.testing.assert_close(trace.losses.regularizer[k], losses[1])
        if module.query_loss is not None:
            torch.testing.assert_close(trace.losses.query[k], losses[2])


@pytest.mark.parametrize("options", GLOBAL_VARIANTS, ids=lambda o: "-".join(map(str, o.values())))
def test_global_steps_match_the_oracle(options, generator):
    module = GlobalGOCor(num_iter=3, **options).double()
    randomise(module, generator)
    target = torch.randn(2, 4, 3, 4, generator=generator, dtype=torch.float64)
    source = torch.randn(2, 4, 3, 4, generator=generator, dtype=torch.float64)
    trace = module.trace(target, source)
    assert_steps_match_the_oracle(module, trace, target, source, local=False)
    final = global_scores(trace.filters[-1], source)
    torch.testing.assert_close(module(target, source).flatten(3).flatten(1, 2), final)


@pytest.mark.parametrize("options", LOCAL_VARIANTS, ids=lambda o: "-".join(map(str, o.values())))
def test_local_steps_match_the_oracle(options, generator):
    module = LocalGOCor(num_iter=3, **options).double()
    randomise(module, generator)
    target = torch.randn(2, 4, 3, 4, generator=generator, dtype=torch.float64)
    source = torch.randn(2, 4, 3, 4, generator=generator, dtype=torch.float64)
    trace = module.trace(target, source)
    assert_steps_match_the_oracle(module, trace, target, source, local=True)
    radius = module.config.search_radius
    final = local_scores_by_loop(trace.filters[-1], source, radius)
    torch.testing.assert_close(module(target, source).flatten(3), final)


def test_step_length_by_hand():
    """One channel, one cell: every quantity of the first step can be written down."""
    module = GlobalGOCor(num_iter=1).double()
    f = 2.0
    target = torch.full((1, 1, 1, 1), f, dtype=torch.float64)
    label = math.exp(0.0) - math.exp(-(4.5**2) / 2)  # a_0 = g_0 - min g; phi_0(0) = 1
    stored = float(module.distance.label_coeffs[0].detach())  # initialised in float32
    assert stored == pytest.approx(label, rel=1e-7)
    label = stored
    lam = 0.01**2
    w0 = 1.0 / f  # simple initialiser: f / |f|^2
    residual = w0 * f - label  # score 1 >= 0: act is the identity, v = 1
    gradient = f * residual + lam * w0
    alpha = gradient**2 / ((f * gradient) ** 2 + lam * gradient**2)  # = 1 / (f^2 + lam)
    assert alpha == pytest.approx(1 / (f**2 + lam))
    trace = module.trace(target, target)
    assert float(trace.filters[1]) == pytest.approx(w0 - alpha * gradient, rel=1e-12)
    assert float(trace.step_lengths[0]) == pytest.approx(alpha, rel=1e-12)
    assert float(trace.losses.reference[0]) == pytest.approx(0.5 * residual**2, rel=1e-12)


def test_initializers_by_their_defining_properties(generator):
    target = torch.randn(2, 5, 3, 4, generator=generator, dtype=torch.float64)
    simple = GlobalGOCor(num_iter=0).double()
    filters = simple.trace(target, target).filters[0]
    own = (filters * target).sum(1)
    torch.testing.assert_close(own, torch.ones_like(own))  # <w_i, f_i> = s = 1

    aware = GlobalGOCor(num_iter=0, initializer="context-aware").double()
    with torch.no_grad():
        aware.initializer.foreground.fill_(0.7)
        aware.initializer.background.fill_(-0.2)
    filters = aware.trace(target, target).filters[0]
    mean = target.mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(
        (filters * target).sum(1), torch.full((2, 3, 4), 0.7, dtype=torch.float64)
    )
    torch.testing.assert_close(
        (filters * mean).sum(1), torch.full((2, 3, 4), -0.2, dtype=torch.float64)
    )

    local = LocalGOCor(num_iter=0, search_radius=1).double()
    filters = local.trace(target, target).filters[0]
    expected = target / ((target**2).mean(1, keepdim=True) + 1e-6)
    torch.testing.assert_close(filters, expected)


def test_iteration_zero_is_the_scaled_feature_correlation(generator):
    target = torch.randn(1, 6, 4, 5, generator=generator, dtype=torch.float64)
    source = torch.randn(1, 6, 3, 5, generator=generator, dtype=torch.float64)
    trace = GlobalGOCor(num_iter=2).double().trace(target, source)
    energy = target.square().sum(1)[..., None, None]  # (B, h, w, 1, 1)
    correlation = global_scores(target, source).view(1, 4, 5, 3, 5)
    torch.testing.assert_close(trace.volumes[0], correlation / energy)
    own = global_scores(target, target).view(1, 4, 5, 4, 5)
    torch.testing.assert_close(trace.target_scores[0], own / energy)
    assert len(trace.volumes) == len(trace.target_scores) == len(trace.filters) == 3
    for filters, volume, scores in zip(
        trace.filters, trace.volumes, trace.target_scores, strict=True
    ):  # iteration k: the scores of the filters after k steps, on the source and the target
        torch.testing.assert_close(volume, global_scores(filters, source).view(1, 4, 5, 3, 5))
        torch.testing.assert_close(scores, global_scores(filters, target).view(1, 4, 5, 4, 5))
    assert len(trace.step_lengths) == 2
    assert trace.losses.total.shape == (3, 1)
    torch.testing.assert_close(trace.volumes[-1], GlobalGOCor(num_iter=2).double()(target, source))


@pytest.mark.parametrize(
    "module_factory",
    [
        lambda: GlobalGOCor(
            num_iter=2,
            initializer="flexible-context-aware",
            num_channels=3,
            query_loss=True,
            query_hidden_channels=2,
            query_out_channels=2,
        ),
        lambda: GlobalGOCor(num_iter=2, initializer="flexible-simple", num_channels=3),
        lambda: LocalGOCor(num_iter=2, search_radius=1),
    ],
    ids=["global-query", "global-simple", "local"],
)
def test_gradcheck_features_and_every_parameter(module_factory, generator):
    module = module_factory().double()
    randomise(module, generator)
    names = [name for name, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for p in module.parameters()]
    target = torch.randn(1, 3, 2, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    source = torch.randn(1, 3, 2, 3, generator=generator, dtype=torch.float64, requires_grad=True)

    def run(target, source, *values):
        return torch.func.functional_call(
            module, dict(zip(names, values, strict=True)), (target, source)
        )

    assert torch.autograd.gradcheck(run, (target, source, *params), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    "module_factory",
    [
        lambda: GlobalGOCor(num_iter=6),
        lambda: GlobalGOCor(num_iter=6, initializer="context-aware"),
        lambda: LocalGOCor(num_iter=6, search_radius=2),
    ],
    ids=["global", "global-context", "local"],
)
@pytest.mark.parametrize("seed", range(4))
def test_quadratic_objective_never_increases(module_factory, seed):
    """With m = 1 (act is the identity) the objective is quadratic and the Gauss-Newton step
    length is an exact line search: the total loss cannot go up."""
    generator = torch.Generator().manual_seed(seed)
    module = module_factory().double()
    with torch.no_grad():
        module.distance.slope_coeffs.fill_(60.0)  # sigmoid(60) == 1.0 in float64
        module.distance.weight_coeffs.add_(torch.rand(10, generator=generator, dtype=torch.float64))
    target = torch.randn(1, 5, 4, 5, generator=generator, dtype=torch.float64)
    total = module.trace(target, target).losses.total[:, 0]
    assert torch.all(total[1:] <= total[:-1] * (1 + 1e-12)), total


def test_runs_on_meta_without_touching_the_cpu():
    for module in (
        GlobalGOCor(query_loss=True, initializer="flexible-context-aware", num_channels=8),
        LocalGOCor(search_radius=3),
    ):
        module = module.to("meta")
        target = torch.empty(2, 8, 5, 6, device="meta")
        source = torch.empty(2, 8, 5, 6, device="meta")
        out = module(target, source)
        assert out.device.type == "meta"
        trace = module.trace(target, source)
        assert all(v.device.type == "meta" for v in trace.volumes + trace.target_scores)
        assert trace.losses.total.device.type == "meta"


@pytest.mark.parametrize(
    "module_factory",
    [
        lambda: GlobalGOCor(),
        lambda: GlobalGOCor(initializer="context-aware", query_loss=True),
        lambda: LocalGOCor(),
        lambda: LocalGOCor(search_radius=9),
    ],
    ids=["global", "global-context-query", "local", "local-R9"],
)
@pytest.mark.parametrize("case", ["zeros", "one-cell", "some-zero-cells"])
def test_degenerate_input_is_finite_and_right(module_factory, case, dtype, generator):
    """Zero feature vectors and one-cell maps: finite, zero filters where the features are
    zero (both initialisers), and (float64) every step as the oracle's."""
    module = module_factory().to(dtype)
    if case == "zeros":
        target = source = torch.zeros(1, 4, 5, 6, dtype=dtype)
    elif case == "one-cell":
        target = torch.randn(1, 4, 1, 1, generator=generator, dtype=torch.float64).to(dtype)
        source = torch.randn(1, 4, 1, 1, generator=generator, dtype=torch.float64).to(dtype)
    else:
        target = torch.randn(2, 4, 5, 6, generator=generator, dtype=torch.float64).relu()
        target = target.to(dtype)
        target[:, :, :2] = 0.0  # a flat region after a ReLU
        source = target.flip(-1)
    trace = module.trace(target, source)
    out = module(target, source)
    for tensor in [out, *trace.volumes, *trace.filters, trace.losses.total]:
        assert torch.isfinite(tensor).all()
    if case == "zeros":  # zero filters score 0, their gradient is 0, and so is the step
        assert all(torch.equal(f, torch.zeros_like(f)) for f in trace.filters)
        assert torch.equal(out, torch.zeros_like(out))
    if case == "some-zero-cells":
        initial = trace.filters[0][:, :, :2]
        assert torch.equal(initial, torch.zeros_like(initial))
    if dtype == torch.float64:
        local = isinstance(module, LocalGOCor)
        assert_steps_match_the_oracle(module, trace, target, source, local=local)


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="num_iter must be"):
        GlobalGOCor(num_iter=-1)
    with pytest.raises(ValueError, match="initializer must be one of"):
        GlobalGOCor(initializer="magic")
    with pytest.raises(ValueError, match="needs num_channels"):
        GlobalGOCor(initializer="flexible-simple")
    with pytest.raises(ValueError, match="local GOCor supports"):
        LocalGOCor(initializer="context-aware")
    with pytest.raises(ValueError, match="radius must be"):
        LocalGOCor(search_radius=-2)
    with pytest.raises(TypeError):
        GlobalGOCor(search_radius=3)  # a local-only setting
    with pytest.raises(ValueError, match="configured for 8 channels"):
        GlobalGOCor(initializer="flexible-simple", num_channels=8)(
            torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 2, 2)
        )
    with pytest.raises(ValueError, match="num_iter must be"):
        GlobalGOCor().trace(torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 2, 2), num_iter=-3)


def test_bad_features_name_the_argument():
    module = GlobalGOCor()
    with pytest.raises(ValueError, match=r"source must have shape \(B, C, h, w\).*\(4, 2, 2\)"):
        module(torch.zeros(1, 4, 2, 2), torch.zeros(4, 2, 2))
    with pytest.raises(ValueError, match="same number of channels"):
        module(torch.zeros(1, 4, 2, 2), torch.zeros(1, 3, 2, 2))
    nan, zeros = torch.full((1, 4, 2, 2), float("nan")), torch.zeros(1, 4, 2, 2)
    for module in (GlobalGOCor(check_finite=True), LocalGOCor(check_finite=True)):
        with pytest.raises(ValueError, match="target contains NaN"):
            module(nan, zeros)
        with pytest.raises(ValueError, match="source contains NaN"):
            module(zeros, zeros.clone().fill_(float("inf")))
    for module in (GlobalGOCor(), LocalGOCor()):
        # Off by default in forward (no read of the values); the output says NaN, not a number.
        assert torch.isnan(module(nan, zeros)).all()
        with pytest.raises(ValueError, match="target contains NaN"):
            module.trace(nan, zeros)  # the trace always checks


def test_defaults_are_the_papers():
    module = LocalGOCor()
    assert module.config.search_radius == 4 and module.config.num_iter == 3
    assert float(module.reg.detach()) == pytest.approx(1e-2)
    assert float(module.log_step_length.detach()) == 0.0
    distance = torch.arange(10, dtype=torch.float32) * 0.5
    gauss = torch.exp(-(distance**2) / 2)
    torch.testing.assert_close(module.distance.label_coeffs.data, gauss - gauss.min())
    torch.testing.assert_close(module.distance.weight_coeffs.data, torch.ones(10))
    torch.testing.assert_close(module.distance.slope_coeffs.data, 4 * torch.tanh(2 - distance))
    samples = module.trace(torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)).functions
    assert samples.label[0] == pytest.approx(1 - math.exp(-(4.5**2) / 2), rel=1e-5)
    # m(0) = sigmoid(c_0) = sigmoid(4 tanh 2); past the last bin (4.5 cells) sigmoid(c_9).
    assert float(samples.distance[-1]) > 4.5
    assert float(samples.negative_slope[0]) == pytest.approx(sigmoid(4 * math.tanh(2)), rel=1e-6)
    far = sigmoid(4 * math.tanh(2 - 4.5))
    assert float(samples.negative_slope[-1]) == pytest.approx(far, rel=1e-5)
    assert float(samples.residual_weight[-1]) == pytest.approx(1.0)
    assert float(samples.label[-1]) == pytest.approx(0.0, abs=1e-7)  # g_9 - min g = 0


def sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


@pytest.mark.gpu
def test_cuda_matches_cpu(generator):
    module = GlobalGOCor(query_loss=True)
    target = torch.randn(1, 16, 6, 7, generator=generator)
    source = torch.randn(1, 16, 6, 7, generator=generator)
    expected = module(target, source)
    torch.testing.assert_close(
        module.to("cuda")(target.to("cuda"), source.to("cuda")).cpu(),
        expected,
        atol=1e-4,
        rtol=1e-4,
    )
