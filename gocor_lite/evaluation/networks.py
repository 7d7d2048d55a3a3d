# SPDX-License-Identifier: MIT
"""The GLU-Net networks the evaluation measures, as dense-flow methods, and the GOCor paper's
ablation at their global level.

* :func:`project_networks`: this project's small GLU-Net-GOCor and GLU-Net (feature
  correlation), the variants of one weights file (default
  :data:`gocor_lite.files.weights.SMALL_GLUNET`, made by ``make train``; same training, so the two
  differ by GOCor alone);
* :func:`official_networks`: the authors' ``GLUNet`` / ``GLUNet_GOCor`` from released checkpoints
  the user names (:func:`gocor_lite.glunet.load_official_glunet`);
* :func:`network_method`: a network as a :class:`~gocor_lite.evaluation.methods.DenseFlowMethod`
  (``estimate_flow``, target first);
* :func:`ablation_pairs`: which networks form a GLU-Net / GLU-Net-GOCor pair;
* :func:`cell_scores`: the global level's cell accuracy: for every target cell of the 16x16
  global level, is the source cell with the highest score the cell that holds its true match?
  Measured on the network's GOCor volume (where it has one) and on the plain global correlation
  of the *same* network's features (:func:`global_volumes`), so that only the correlation layer
  differs.

Convention:
    The global level reads the ``L x L`` copies of both images (``L`` = 256, aspect not kept),
    ``g x g`` cells each (``g`` = 16): target cell ``(row, column)`` covers the original target
    evenly, centred on pixel ``((column + 0.5) W_t / g - 0.5, (row + 0.5) H_t / g - 0.5)``
    (:func:`gocor_lite.glunet.geometry.level_frame`); original source pixel ``q`` lies in source
    cell ``floor((q + 0.5) g / W_s)`` (and the same in y). A target cell counts where the true
    flow is known at the four pixels around its centre (bilinear reading, as
    :func:`gocor_lite.reading.supervision.true_matches`) and its true match lies inside the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gocor_lite.core.correlation import global_correlation
from gocor_lite.core.warp import sample
from gocor_lite.data.pairs import ExamplePair
from gocor_lite.evaluation.methods import DenseFlowMethod
from gocor_lite.files.statedict import CheckpointError
from gocor_lite.files.weights import (
    SMALL_GLUNET,
    SMALL_GLUNET_HINT,
    load_small_glunet,
    small_glunet_metadata,
    small_glunet_variants,
)
from gocor_lite.glunet.geometry import level_frame
from gocor_lite.glunet.network import GLUNet
from gocor_lite.glunet.official import load_official_glunet
from gocor_lite.glunet.operations import l2_normalize

PROJECT = "this project's"  # the family of the project's networks (one file, one training)
AUTHORS = "the authors'"  # the family of the released checkpoints
#: Row names of this project's variants, by the network's features (its pyramid).
PROJECT_NAMES = {
    "gocor": "ours: GLU-Net-GOCor ({features})",
    "correlation": "ours: GLU-Net ({features}, feature correlation)",
}
#: What the row names call each pyramid.
FEATURES = {"xfeat": "XFeat", "small": "small pyramid", "vgg16": "VGG-16"}


@dataclass(frozen=True)
class EvaluatedNetwork:
    """A network under evaluation, with what the tables call it."""

    name: str  # the tables' row name
    network: GLUNet  # in eval() mode
    description: str  # one line for the report
    family: str  # PROJECT or AUTHORS: a GLU-Net and a GLU-Net-GOCor of one family are paired

    @property
    def has_gocor(self) -> bool:
        return self.network.corr is not None


def project_networks(path: str | Path | None = None) -> list[EvaluatedNetwork]:
    """Every variant in this project's small-GLU-Net file (default
    :data:`~gocor_lite.files.weights.SMALL_GLUNET`), GLU-Net-GOCor first. A missing file is a
    ``FileNotFoundError`` that says to run ``make train``; a file without either variant a
    :class:`~gocor_lite.files.statedict.CheckpointError`."""
    path = SMALL_GLUNET if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no file of this project's small GLU-Net at {path}; {SMALL_GLUNET_HINT}"
        )
    variants = small_glunet_variants(path)
    if not variants:
        raise CheckpointError(
            f"{path} holds neither variant of the small GLU-Net ('gocor', 'correlation')"
        )
    made_by = small_glunet_metadata(path).get("command", "")
    how = f", made by `{made_by}`" if made_by else ""
    networks = []
    for variant in variants:
        network = load_small_glunet(variant, path=path)  # type: ignore[arg-type]
        what = "global and local GOCor inside" if variant == "gocor" else "feature correlation"
        features = FEATURES[network.config.pyramid]
        networks.append(
            EvaluatedNetwork(
                PROJECT_NAMES[variant].format(features=features),
                network,
                f"this project's GLU-Net on {features}, {what} ({network.config.name}, "
                f"`{path.name}` "
                f"variant `{variant}`{how}), `estimate_flow`",
                PROJECT,
            )
        )
    return networks


def official_networks(paths: Sequence[str | Path]) -> list[EvaluatedNetwork]:
    """The authors' networks from their released checkpoints (the variant told from each
    file's keys), named by their file names; loading errors name the file."""
    networks = []
    taken: set[str] = set()
    for path in map(Path, paths):
        network = load_official_glunet(path)
        kind = "GLU-Net-GOCor" if network.corr is not None else "GLU-Net"
        name = f"the authors' {kind} ({path.name})"
        count = 2
        while name in taken:  # two files of one name from different folders
            name = f"the authors' {kind} ({path.name}, {count})"
            count += 1
        taken.add(name)
        networks.append(
            EvaluatedNetwork(
                name,
                network,
                f"the authors' released {network.config.name} (`{path.name}`), `estimate_flow`",
                AUTHORS,
            )
        )
    return networks


def network_method(entry: EvaluatedNetwork) -> DenseFlowMethod:
    """A network as a dense-flow method: ``estimate_flow(target, source)`` on the ``uint8``
    images, float32 ``(2, H_t, W_t)`` in source pixels (target pixel ``p`` matches source pixel
    ``p + flow(p)``)."""
    network = entry.network

    def estimate(target: np.ndarray, source: np.ndarray) -> np.ndarray:
        return network.estimate_flow(target, source)[0].float().cpu().numpy()

    return DenseFlowMethod(entry.name, estimate, entry.description)


def ablation_pairs(networks: Sequence[EvaluatedNetwork]) -> list[tuple[str, str, str]]:
    """``(family, GLU-Net's name, GLU-Net-GOCor's name)`` for every family with exactly one
    network of each kind (the project's file; the authors' when one file of each is given)."""
    pairs = []
    for family in dict.fromkeys(entry.family for entry in networks):
        members = [entry for entry in networks if entry.family == family]
        plain = [entry.name for entry in members if not entry.has_gocor]
        gocor = [entry.name for entry in members if entry.has_gocor]
        if len(plain) == 1 and len(gocor) == 1:
            pairs.append((family, plain[0], gocor[0]))
    return pairs


# -- the global level: the best source cell against the true one ---------------------------------


@dataclass(frozen=True)
class CellScore:
    """A global volume's cell accuracy on a set (percentages in ``[0, 100]``)."""

    right: float  # % of the counted target cells whose best source cell is the true cell
    near: float  # % whose best source cell is the true cell or one of its 8 neighbours
    count: int  # target cells counted


@torch.no_grad()
def global_volumes(network: GLUNet, target: object, source: object) -> dict[str, Tensor]:
    """The global level's volumes of ``network`` for one pair: ``"global correlation"`` (the
    plain correlation of the network's own L2-normalised level-4 features of the ``L x L``
    copies) and, where the network has global GOCor, ``"global GOCor"`` (its volume on the same
    features: the level-4 volume of :meth:`GLUNet.trace`, before post-processing).

    Shapes: uint8 images as :meth:`GLUNet.estimate_flow` takes them -> ``(B, g, g, g, g)``,
    indexed ``[b, target_y, target_x, source_y, source_x]``.
    """
    prepared = network.prepare(target, source)
    (target_features,) = network.pyramid(prepared.target_l, (4,))
    (source_features,) = network.pyramid(prepared.source_l, (4,))
    target_unit, source_unit = l2_normalize(target_features), l2_normalize(source_features)
    volumes = {"global correlation": global_correlation(target_unit, source_unit)}
    if network.corr is not None:
        volumes["global GOCor"] = network.corr(target_unit, source_unit)
    return volumes


def true_cells(
    flow: np.ndarray, source_size: tuple[int, int], grid: tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """The source cell holding the true match of every target cell centre of a ``grid``, and
    whether it counts (see the module's convention).

    Shapes: flow float ``(2, H_t, W_t)``, NaN where unknown -> cells int64 ``(2, h, w)``
    (column, row), counted bool ``(h, w)``.
    """
    truth = torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float64))[None]  # (1, 2, H, W)
    known = torch.isfinite(truth).all(dim=1, keepdim=True)  # (1, 1, H, W)
    centres = level_frame((truth.shape[2], truth.shape[3]), grid).centres(like=truth)
    matches = centres + sample(truth.nan_to_num(0.0), centres, padding="border")  # (1, 2, h, w)
    counted = sample(known.to(truth.dtype), centres, padding="zeros")[0, 0] > 1 - 1e-6
    height, width = source_size
    cells = torch.stack(
        [
            torch.floor((matches[0, 0] + 0.5) * grid[1] / width),
            torch.floor((matches[0, 1] + 0.5) * grid[0] / height),
        ]
    )
    inside = (cells[0] >= 0) & (cells[0] < grid[1]) & (cells[1] >= 0) & (cells[1] < grid[0])
    return cells.to(torch.int64), counted & inside


def best_cells(volume: Tensor) -> Tensor:
    """The source cell of the highest score of every target cell of a global volume.

    Shapes: ``(1, h, w, h', w')`` -> int64 ``(2, h, w)`` (column, row); ties go to the first
    cell in row-major order.
    """
    _, height, width, source_height, source_width = volume.shape
    index = volume[0].reshape(height, width, source_height * source_width).argmax(dim=-1)
    return torch.stack([index % source_width, index // source_width])


def cell_scores(
    networks: Sequence[EvaluatedNetwork], pairs: Sequence[ExamplePair]
) -> dict[tuple[str, str], CellScore]:
    """Every network's global volumes (:func:`global_volumes`) on every pair of a set, pooled
    over the counted target cells: ``(network name, volume name) -> CellScore``."""
    right: dict[tuple[str, str], list[Tensor]] = {}
    for pair in pairs:
        if pair.flow is None:
            raise ValueError(f"the pair {pair.name!r} has no ground-truth flow")
        for entry in networks:
            volumes = global_volumes(entry.network, pair.target, pair.source)
            grid = tuple(next(iter(volumes.values())).shape[1:3])
            truth, counted = true_cells(pair.flow, pair.source.shape[:2], (grid[0], grid[1]))
            for name, volume in volumes.items():
                found = best_cells(volume.cpu())
                distance = (found - truth).abs().amax(dim=0)  # cells, Chebyshev
                right.setdefault((entry.name, name), []).append(distance[counted])
    scores = {}
    for key, parts in right.items():
        distances = torch.cat(parts)
        count = int(distances.numel())
        scores[key] = CellScore(
            right=100.0 * float((distances == 0).double().mean()) if count else float("nan"),
            near=100.0 * float((distances <= 1).double().mean()) if count else float("nan"),
            count=count,
        )
    return scores
