# SPDX-License-Identifier: MIT
"""Notebooks 3 and 4's exercises: the soft-argmax of one cell (notebook 3), mutual nearest
neighbours and LoFTR's dual-softmax (notebook 4), each by its definition.

Each instance is chosen so that a usual mistake changes the answer:

* soft-argmax (:func:`gocor_lite.reading.matching.soft_argmax`): two equal peaks far apart (the
  expectation is their midpoint, not either peak); a map that is not square at a temperature
  other than 1 (x is the column; the scores are divided by ``T``); cosine scores at a
  temperature so small that ``exp(scores / T)`` overflows unless the maximum is subtracted
  first (``torch.softmax`` does it);
* mutual nearest neighbours (:func:`gocor_lite.reading.rules.mutual_nearest_neighbours`) and the
  dual-softmax (:func:`gocor_lite.reading.rules.dual_softmax`): target and source grids that are
  neither square nor equal (an index unravelled with the other image's width, the way back
  read over the wrong axes), a batch of two pairs (the batch mixed in), and for the
  dual-softmax float32 cosines at a small temperature (overflow again).
"""

from __future__ import annotations

import torch
from torch import Tensor

from gocor_lite.exercises.grading import Exercise, Instance
from gocor_lite.reading.matching import soft_argmax
from gocor_lite.reading.rules import dual_softmax, mutual_nearest_neighbours


def _one_map_soft_argmax(scores: Tensor, temperature: float) -> Tensor:
    """The library's soft-argmax of one score map ``(h', w')``: ``[x, y]`` in source cells."""
    return soft_argmax(scores[None, None, None], temperature)[0, :, 0, 0]


def _cosines(shape: tuple[int, ...], seed: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """Scores between -0.3 and 0.5, like the cosines of centred features away from a match."""
    generator = torch.Generator().manual_seed(seed)
    return (-0.3 + 0.8 * torch.rand(shape, generator=generator, dtype=torch.float64)).to(dtype)


def _soft_argmax_instances() -> list[Instance]:
    twin = _cosines((4, 9), 1)
    twin[1, 1] = twin[2, 7] = 0.9  # two look-alikes, equally high
    wide = _cosines((3, 6), 2)
    sharp = _cosines((5, 4), 3)
    sharp[3, 1], sharp[1, 2] = 0.95, 0.94
    return [
        Instance(
            "two equal peaks far apart at T = 0.05 (the expectation lies between)", (twin, 0.05)
        ),
        Instance("a map 3 cells tall and 6 wide at T = 0.5 (x is the column)", (wide, 0.5)),
        Instance(
            "cosine scores at T = 0.001 (exp(scores / T) overflows unless the maximum is "
            "subtracted first)",
            (sharp, 0.001),
        ),
    ]


def _volume(
    target: tuple[int, int], source: tuple[int, int], seed: int, *, batch: int = 1
) -> Tensor:
    """A random float64 volume ``(batch, h, w, h', w')``: some of its target cells are mutual
    nearest neighbours, some are not (each instance has both)."""
    generator = torch.Generator().manual_seed(seed)
    volume = torch.randn(batch, *target, *source, generator=generator, dtype=torch.float64)
    return 0.3 * volume


def _mutual_instances() -> list[Instance]:
    return [
        Instance(
            "a 3x4 target against a 2x5 source (grids neither square nor equal)",
            (_volume((3, 4), (2, 5), 11),),
        ),
        Instance(
            "a 4x2 target against a 3x3 source (the target taller than wide)",
            (_volume((4, 2), (3, 3), 12),),
        ),
        Instance(
            "a batch of two pairs, 2x3 against 3x2 (each pair on its own)",
            (_volume((2, 3), (3, 2), 13, batch=2),),
        ),
    ]


def _dual_softmax_instances() -> list[Instance]:
    overflow = _cosines((1, 3, 3, 4, 2), 23, torch.float32)
    overflow[0, 1, 2, 3, 0] = 0.97
    return [
        Instance(
            "a 3x4 target against a 2x5 source at T = 0.5 (grids neither square nor equal)",
            (_volume((3, 4), (2, 5), 21), 0.5),
        ),
        Instance(
            "a batch of two pairs, 2x3 against 3x2, at T = 0.2 (each pair on its own)",
            (_volume((2, 3), (3, 2), 22, batch=2), 0.2),
        ),
        Instance(
            "float32 cosines at T = 0.01 (exp(scores / T) overflows unless the maximum is "
            "subtracted first)",
            (overflow, 0.01),
        ),
    ]


EXERCISES = {
    "the soft-argmax": Exercise(
        "the soft-argmax", _one_map_soft_argmax, _soft_argmax_instances, atol=1e-6, rtol=1e-5
    ),
    "mutual nearest neighbours": Exercise(
        "mutual nearest neighbours", mutual_nearest_neighbours, _mutual_instances
    ),
    "the dual-softmax": Exercise(
        "the dual-softmax", dual_softmax, _dual_softmax_instances, atol=1e-6, rtol=1e-4
    ),
}
