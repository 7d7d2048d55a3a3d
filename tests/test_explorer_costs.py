# SPDX-License-Identifier: MIT
"""What the explorer's pipeline costs: the volumes through the library's one function, the time
estimate against its measured table, and the memory an upload and the caches hold."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import explorer.pipeline as pipeline_module
from explorer.handlers import Explorer, Session, View
from explorer.pipeline import (
    MAX_PAIRS,
    MAX_RESULT_BYTES,
    STORED_SIDE,
    WORKING_SIZES,
    InputError,
    Pipeline,
    Settings,
    pair_from_files,
)
from gocor_lite import volumes as volumes_module
from gocor_lite.data.pairs import ExamplePair
from gocor_lite.images import to_tensor

SMALL = Settings(working_size=160, num_iter=2, search_radius=3)


def test_compute_reads_the_volumes_through_the_library(monkeypatch) -> None:
    calls = []
    original = volumes_module.pair_volumes

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "pair_volumes", spy, raising=False)
    pipeline = Pipeline(threads=1)
    pair_id = pipeline.example_pair("chelsea-shift")
    computed = pipeline.compute(pair_id, SMALL)
    assert len(calls) == 1 and calls[0]["local_centre"] == SMALL.local_centre
    # the same numbers as the library's function called by hand
    extractor = pipeline._extractor(SMALL.features)
    global_module, local_module = pipeline._gocor_modules(SMALL, extractor)
    direct = original(
        extractor,
        to_tensor(computed.pair.target),
        to_tensor(computed.pair.source),
        global_module,
        local_module,
        normalization=SMALL.normalization,
        num_iter=SMALL.num_iter,
        local_centre=SMALL.local_centre,
    )
    torch.testing.assert_close(computed.correlation, direct.correlation[0])
    torch.testing.assert_close(computed.local, direct.local[0])
    torch.testing.assert_close(
        computed.global_trace.volumes[-1], direct.global_trace.volumes[-1][0]
    )
    torch.testing.assert_close(computed.local_trace.volumes[-1], direct.local_trace.volumes[-1][0])


# -- memory -----------------------------------------------------------------------------------
def _photo(path: Path, width: int, height: int) -> Path:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    Image.fromarray(np.kron(small, np.ones((16, 16, 1), np.uint8))[:height, :width]).save(path)
    return path


def test_an_upload_is_kept_at_the_working_resolution_and_never_held_whole(tmp_path: Path) -> None:
    path = _photo(tmp_path / "photo.jpg", 4000, 3000)  # 12 megapixels: 36 MB as bytes
    tracemalloc.start()
    try:
        pair = pair_from_files(str(path), str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(pair.target.shape[:2]) == STORED_SIDE == max(WORKING_SIZES)
    # Neither the full-size image as bytes (36 MB) nor as floats (288 MB) was ever held by numpy.
    assert peak < 12e6, f"{peak / 1e6:.0f} MB"
    assert "4000×3000 px" in pair.description  # the file's own size, not the copy's


def test_an_image_just_beyond_the_aspect_limit_says_so_in_its_numbers(tmp_path: Path) -> None:
    path = _photo(tmp_path / "wide.png", 4001, 1000)
    with pytest.raises(InputError) as refusal:
        pair_from_files(str(path), str(path))
    message = str(refusal.value)
    assert "4001×1000 px" in message and "4.001:1" in message and "up to 4:1" in message


def test_the_servers_memory_is_capped_and_an_evicted_session_is_told_what_to_do(
    tmp_path: Path,
) -> None:
    assert MAX_PAIRS * 4e6 + MAX_RESULT_BYTES * 1.25 < 2.5e9  # the caps stated in pipeline.py
    explorer = Explorer(Pipeline(threads=1, max_pairs=2), SMALL)
    session = Session(View(explorer.pipeline.example_pair("chelsea-shift"), SMALL, (50, 50), 2))
    screen = explorer.upload_pair(
        session,
        str(_photo(tmp_path / "a.png", 200, 150)),
        str(_photo(tmp_path / "b.png", 200, 150)),
    )
    assert screen.view.pair_id.startswith("upload:")
    for seed in range(3):  # other users' pairs push this one out
        image = np.random.default_rng(seed).integers(0, 255, (96, 128, 3), dtype=np.uint8)
        explorer.pipeline.add_pair(ExamplePair("upload", f"other {seed}", image, image))
    with explorer.pipeline._lock:  # and its working copies (another user's settings)
        explorer.pipeline._working.clear()
    screen = explorer.click(session, 40.0, 30.0)
    assert "no longer in memory" in screen.status and "upload them again" in screen.status
    assert "Traceback" not in screen.status
