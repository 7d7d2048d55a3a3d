# SPDX-License-Identifier: MIT
"""The built wheel works anywhere: installed into a fresh virtual environment outside the
checkout, it finds its shipped weights, runs the README's Python example of the network and
the flow command (with a weights file of random weights), and starts the app.

The fresh environment gets the project's dependencies (torch, gradio, ...) from the test's own
environment through a ``.pth`` line (installing them again would take minutes and a network),
but not the project: ``gocor_lite`` and ``explorer`` can only come from the wheel.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The README's example of this project's network, with the weights file given (the tests make
# one of random weights: the shipped glunet_small.pt is made by `make train`), so the flow's
# values are not checked, only that it runs from the wheel.
README_EXAMPLE = """
from skimage import data
from gocor_lite.files.weights import load_small_glunet

image = data.astronaut()[::2, ::2]
target, source = image[40:200, 60:220], image[30:190, 40:200]  # a shift by (20, 10)
network = load_small_glunet("gocor", path={weights!r})  # GLU-Net-GOCor
flow = network.estimate_flow(target, source)
assert tuple(flow.shape) == (1, 2, 160, 160), flow.shape
assert bool(flow.isfinite().all())
import gocor_lite, gocor_lite.files.weights
assert {root!r} not in gocor_lite.__file__, gocor_lite.__file__
assert gocor_lite.files.weights.LEARNED_FEATURES.is_file()
print("ok", gocor_lite.__file__)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed; returns its python."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    build = ["wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dist)]
    subprocess.run([sys.executable, "-m", "pip", *build, str(ROOT)], check=True, cwd=base)
    (wheel,) = dist.glob("gocor_explorer-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for shipped in ("learned_features.pt", "gocor_trained.pt", "TRAINING.md"):
        assert f"gocor_lite/assets/weights/{shipped}" in names, sorted(names)[:20]
    assert "gocor_lite/assets/README.md" in names
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True
    )
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project's network with random weights, in the shipped file's layout."""
    from tests.random_weights import write_random_small_glunet

    return write_random_small_glunet(tmp_path_factory.mktemp("weights") / "glunet_small.pt")


@pytest.mark.slow
def test_the_readme_example_runs_from_the_wheel(
    installed: Path, weights: Path, tmp_path: Path
) -> None:
    example = README_EXAMPLE.format(root=str(ROOT), weights=str(weights))
    result = _run(installed, "-c", example, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ") and "site-packages" in result.stdout


@pytest.mark.slow
def test_the_flow_command_runs_from_the_wheel(
    installed: Path, weights: Path, tmp_path: Path
) -> None:
    out = tmp_path / "flow.png"
    result = _run(
        installed,
        "-m",
        "gocor_lite.cli.flow",
        "--example",
        "stereo-motorcycle",
        "--network-weights",
        str(weights),
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert out.is_file() and out.stat().st_size > 10_000


@pytest.mark.slow
def test_the_app_starts_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    port = _free_port()
    script = installed.parent / "gocor-explorer"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    server = subprocess.Popen(
        [str(script), "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    status = response.status
                    break
            except OSError:
                time.sleep(1)
        assert status == 200, f"no answer on port {port}; exit {server.poll()}"
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Traceback" not in output, output
