# SPDX-License-Identifier: MIT
"""The unit the evaluation compares: a *method* maps a pair of images to a dense flow, timed.

A :class:`DenseFlowMethod` is a name and a function ``(target uint8 (H, W, 3), source uint8
(H', W', 3)) -> flow float32 (2, H, W)``; :func:`score_methods` runs each method on every pair
of a set, one pair at a time, times each call, and scores the flows with
:func:`gocor_lite.evaluation.metrics.score`. The peers and zero flow
(:mod:`gocor_lite.evaluation.peers`) and the GLU-Net networks
(:func:`gocor_lite.evaluation.networks.network_method`) are methods; anything else is added as
one more: wrap it in a function of two ``uint8`` images.

Convention:
    Target pixel ``p`` matches source pixel ``p + flow(p)``, x then y (the project's flow).
    Pairs are :class:`~gocor_lite.data.pairs.ExamplePair` s whose ``flow`` is the truth, NaN
    where unknown; only known pixels count. Times are wall-clock seconds of the method's call
    (conversions, feature extraction and all), without loading the images, after one untimed
    call on the set's first pair (first calls pay one-time costs, such as torch's and
    OpenCV's lazy set-up, that a user running many pairs pays once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gocor_lite.data.pairs import ExamplePair
from gocor_lite.data.synthetic import WarpedBatch
from gocor_lite.evaluation.metrics import Metrics, score
from gocor_lite.files.images import to_uint8

FlowFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class DenseFlowMethod:
    """A named way to get a dense flow from a pair (see the module's convention)."""

    name: str  # the table's row name
    estimate: FlowFunction  # (target uint8 (H, W, 3), source uint8 (H', W', 3)) -> (2, H, W)
    description: str = ""  # one line for the report


@dataclass(frozen=True)
class MethodScore:
    """A method on a set: the metrics pooled over every known pixel, and the time per pair."""

    metrics: Metrics
    seconds_per_pair: float  # mean over the set's pairs
    pairs: int


def run_method(method: DenseFlowMethod, pair: ExamplePair) -> tuple[np.ndarray, float]:
    """``method`` on one pair: its flow ``float32 (2, H, W)`` and the seconds it took.

    Raises ``ValueError`` naming the method if the flow has the wrong shape or is not finite.
    """
    started = time.perf_counter()
    flow = method.estimate(pair.target, pair.source)
    seconds = time.perf_counter() - started
    expected = (2, *pair.target.shape[:2])
    if not isinstance(flow, np.ndarray) or flow.shape != expected:
        shape = getattr(flow, "shape", type(flow).__name__)
        raise ValueError(f"method {method.name!r} returned a flow of shape {shape}, not {expected}")
    if not np.isfinite(flow).all():
        raise ValueError(f"method {method.name!r} returned a flow with NaN or infinite values")
    return flow.astype(np.float32, copy=False), seconds


def score_methods(
    methods: Sequence[DenseFlowMethod], pairs: Sequence[ExamplePair]
) -> dict[str, MethodScore]:
    """Every method on every pair (pairs may differ in size): name -> :class:`MethodScore`."""
    if not pairs:
        raise ValueError("no pairs to score")
    truths = []
    for pair in pairs:
        if pair.flow is None:
            raise ValueError(f"the pair {pair.name!r} has no ground-truth flow")
        truths.append(torch.from_numpy(pair.flow.reshape(1, 2, 1, -1).astype(np.float64)))
    truth = torch.cat(truths, dim=3)  # every pixel of every pair side by side: (1, 2, 1, N)
    known = torch.isfinite(truth).all(dim=1)  # (1, 1, N)
    results = {}
    for method in methods:
        run_method(method, pairs[0])  # warm-up, untimed (see the module's convention)
        flows, seconds = [], []
        for pair in pairs:
            flow, elapsed = run_method(method, pair)
            flows.append(torch.from_numpy(flow.reshape(1, 2, 1, -1).astype(np.float64)))
            seconds.append(elapsed)
        metrics = score(torch.cat(flows, dim=3), truth.nan_to_num(0.0), known, None)
        results[method.name] = MethodScore(metrics, float(np.mean(seconds)), len(pairs))
    return results


def pairs_of_batch(batch: WarpedBatch, name: str) -> list[ExamplePair]:
    """A batch of pairs (tensors in ``[0, 1]``, as the synthetic sets are) as ``uint8`` pairs
    with their flow, NaN where not valid: what a method sees."""
    pairs = []
    for index in range(batch.target.shape[0]):
        flow = batch.flow[index].to(torch.float32).cpu().numpy().copy()
        flow[:, ~batch.valid[index, 0].cpu().numpy()] = np.nan
        pairs.append(
            ExamplePair(
                f"{name}-{index}",
                f"pair {index} of {name}",
                to_uint8(batch.target[index]),
                to_uint8(batch.source[index]),
                flow,
            )
        )
    return pairs
