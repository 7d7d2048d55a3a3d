# SPDX-License-Identifier: MIT
"""Fixtures shared by the tests: devices, dtypes, a seeded generator and a file of this
project's small GLU-Net with random weights."""

from __future__ import annotations

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """Every available device; CUDA tests run where a GPU exists."""
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    return request.param


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded CPU generator: tests draw inputs from it, then move them."""
    return torch.Generator().manual_seed(0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def small_glunet_file(tmp_path_factory: pytest.TempPathFactory):
    """A file of this project's small GLU-Net, both variants, with random weights (seeded): the
    shipped file may not exist yet, and no test depends on it."""
    from gocor_lite.files.weights import save_small_glunet
    from gocor_lite.training.small_glunet import NetworkTraining, fresh_network

    path = tmp_path_factory.mktemp("small-glunet") / "glunet_small.pt"
    networks = {}
    for variant in ("gocor", "correlation"):
        settings = NetworkTraining(variant=variant)
        networks[variant] = (fresh_network(settings).eval(), settings.config_arguments())
    save_small_glunet(path, networks, command="tests (random weights)")
    return path


@pytest.fixture(scope="module")
def url(small_glunet_file):
    """The explorer served in this process (one per test module), its network view on the
    random-weights file above; yields its address."""
    from explorer.network_compute import SMALL_GLUNET_VARIABLE
    from tools.explorer_screenshot import serve

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SMALL_GLUNET_VARIABLE, str(small_glunet_file))
        with serve() as address:
            yield address
