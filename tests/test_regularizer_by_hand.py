# SPDX-License-Identifier: MIT
"""GOCor's regulariser weight ``lambda = max(reg^2, reg_min^2)`` (divided by ``C^2`` for local
GOCor), read off the regulariser term of the objective, ``1/2 lambda |w|^2``, with every number
written by hand. The floor matters only for a small ``reg``: the paper's initial ``reg = 1e-2``
is far above it, so these cases set ``reg`` at, below and above ``reg_min = 1e-5``."""

from __future__ import annotations

import pytest
import torch

from gocor_lite import GlobalGOCor, LocalGOCor

# (reg, lambda before the local 1/C^2): reg^2 when it is above reg_min^2 = 1e-10, else 1e-10.
CASES = [
    (0.0, 1e-10),  # no regulariser learned: the floor
    (3e-6, 1e-10),  # reg^2 = 9e-12 is below the floor
    (1e-4, 1e-8),  # reg^2 = 1e-8 is above the floor (but below reg_min = 1e-5)
    (0.5, 0.25),
]


def _set_reg(module: torch.nn.Module, value: float) -> None:
    with torch.no_grad():
        module.reg.fill_(value)


@pytest.mark.parametrize(("reg", "lam"), CASES)
def test_global_regulariser_weight_is_reg_squared_floored_at_reg_min_squared(reg, lam):
    """One cell, one channel, feature f = 2: the simple initial filter is w0 = f / f^2 = 0.5,
    so the regulariser term before the first step is 1/2 lambda 0.25."""
    module = GlobalGOCor(num_iter=1).double()
    _set_reg(module, reg)
    target = torch.full((1, 1, 1, 1), 2.0, dtype=torch.float64)
    trace = module.trace(target, target)
    assert float(trace.filters[0]) == 0.5
    assert float(trace.losses.regularizer[0, 0]) == pytest.approx(0.5 * lam * 0.25, rel=1e-9)


@pytest.mark.parametrize(("reg", "lam"), CASES)
def test_local_regulariser_weight_is_floored_then_divided_by_c_squared(reg, lam):
    """One cell, two channels f = (1, 2): the local initial filter is f / (mean f^2 + 1e-6)
    = f / 2.500001, |w0|^2 = 5 / 2.500001^2; lambda is divided by C^2 = 4."""
    module = LocalGOCor(num_iter=1, search_radius=1).double()
    _set_reg(module, reg)
    target = torch.tensor([1.0, 2.0], dtype=torch.float64).view(1, 2, 1, 1)
    trace = module.trace(target, target)
    energy = 5.0 / 2.500001**2
    expected = 0.5 * (lam / 4) * energy
    assert float(trace.losses.regularizer[0, 0]) == pytest.approx(expected, rel=1e-9)
