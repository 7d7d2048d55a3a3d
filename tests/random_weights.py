# SPDX-License-Identifier: MIT
"""A file of this project's small GLU-Net with random weights, in the shipped file's layout
(both variants, with the configuration that rebuilds them), so that no test depends on the
shipped ``glunet_small.pt``."""

from __future__ import annotations

from pathlib import Path

from gocor_lite.files.weights import save_small_glunet
from gocor_lite.training.small_glunet import NetworkTraining, fresh_network


def write_random_small_glunet(path: Path, seed: int = 0) -> Path:
    """Write both variants (``gocor``, ``correlation``), freshly initialised from ``seed``, to
    ``path``; returns ``path``."""
    networks = {}
    for variant in ("gocor", "correlation"):
        settings = NetworkTraining(variant=variant, seed=seed)  # type: ignore[arg-type]
        networks[variant] = (fresh_network(settings).eval(), settings.config_arguments())
    save_small_glunet(path, networks, command="test: random weights")
    return path
