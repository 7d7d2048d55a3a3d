# SPDX-License-Identifier: MIT
"""The split of a pair's cells by correlation's peak ratio (gocor_lite.evaluation.rule_scores.
ambiguity_split), against a plain re-computation: the volume by einsum, the peak ratio and
the argmax by loops over cells, the median and the counts by hand."""

from __future__ import annotations

import numpy as np
import torch

from gocor_lite.core.features import make_extractor, pair_features
from gocor_lite.data.pairs import ExamplePair
from gocor_lite.evaluation.rule_scores import ambiguity_section, ambiguity_split
from gocor_lite.files.images import to_tensor
from gocor_lite.gocor.modules import GlobalGOCor
from tests.by_hand import peak_ratio_by_loops


def shifted_pair() -> ExamplePair:
    """A textured pair shifted by (-13, 5) px, the truth unknown in a band (NaN)."""
    rng = np.random.default_rng(3)
    base = (rng.random((24, 32, 3)) * 255).astype(np.uint8).repeat(4, 0).repeat(4, 1)
    base[::16] = 255  # a repeated stripe: look-alikes
    target, source = base[8:72, 16:112], base[13:77, 3:99]
    flow = np.zeros((2, 64, 96), dtype=np.float32)
    flow[0], flow[1] = -13.0, 5.0
    flow[:, :, :6] = np.nan
    return ExamplePair("shifted", "test", target.copy(), source.copy(), flow)


def test_the_split_is_the_hand_computation() -> None:
    pair = shifted_pair()
    extractor = make_extractor("daisy")
    gocor = GlobalGOCor(num_iter=2)
    split = ambiguity_split(pair, extractor, gocor)

    target, source = pair_features(extractor, to_tensor(pair.target), to_tensor(pair.source))
    stride = extractor.stride
    _, _, h, w = target.shape
    ws = source.shape[3]
    volume = torch.einsum("chw,cij->hwij", target[0], source[0])
    with torch.no_grad():
        optimised = gocor(target, source)[0]
    ratio = torch.empty(h, w, dtype=torch.float64)
    right = {"correlation": torch.zeros(h, w, dtype=torch.bool), "gocor": torch.zeros_like(ratio)}
    known = torch.zeros(h, w, dtype=torch.bool)
    for y in range(h):
        for x in range(w):
            scores = volume[y, x]
            ratio[y, x] = peak_ratio_by_loops(scores)
            px, py = (x + 0.5) * stride - 0.5, (y + 0.5) * stride - 0.5
            # The truth at the cell centre (the flow is constant where known).
            known[y, x] = px >= 6
            truth = (px - 13.0, py + 5.0)
            for name, vol in (("correlation", scores), ("gocor", optimised[y, x])):
                jy, jx = divmod(int(vol.argmax()), ws)
                centre = ((jx + 0.5) * stride - 0.5, (jy + 0.5) * stride - 0.5)
                distance = ((centre[0] - truth[0]) ** 2 + (centre[1] - truth[1]) ** 2) ** 0.5
                right[name][y, x] = distance < stride
    assert torch.equal(split.known, known)
    assert torch.allclose(split.ratio.double(), ratio, rtol=1e-4)
    threshold = float(ratio[known].median())
    assert abs(split.threshold - threshold) < 1e-4 * threshold
    ambiguous = known & (ratio < threshold)
    distinctive = known & ~ambiguous
    assert int(ambiguous.sum()) > 0 and int(distinctive.sum()) > 0
    for group, mask in (("ambiguous", ambiguous), ("distinctive", distinctive)):
        for name in ("correlation", "gocor"):
            share = 100.0 * float(right[name].bool()[mask].sum()) / float(mask.sum())
            assert abs(split.scores[group][name].pck_cell - share) < 1e-9, (group, name)
    fixed = known & right["gocor"].bool() & ~right["correlation"]
    broken = known & right["correlation"] & ~right["gocor"].bool()
    assert torch.equal(split.fixed, fixed) and torch.equal(split.broken, broken)
    section = ambiguity_section({"shifted": split}, "daisy")
    assert "| shifted |" in section and f"{int(fixed.sum())} | {int(broken.sum())} |" in section
