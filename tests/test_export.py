# SPDX-License-Identifier: MIT
"""Export: Middlebury .flo byte by byte and round trips, .npy flows, matches as CSV, score maps,
and the flow command's --out by suffix."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from gocor_lite.files.export import (
    read_flo,
    read_flow,
    read_matches_csv,
    rule_matches,
    write_flo,
    write_flow,
    write_matches_csv,
    write_score_maps,
)
from gocor_lite.reading.rules import RuleResult


def test_flo_header_and_layout_byte_by_byte(tmp_path):
    flow = np.zeros((2, 2, 3), dtype=np.float32)
    flow[0] = [[1, 2, 3], [4, 5, 6]]  # u
    flow[1] = [[-1, -2, -3], [-4, -5, -6]]  # v
    path = tmp_path / "f.flo"
    write_flo(path, flow)
    data = path.read_bytes()
    assert data[:4] == b"PIEH"  # 202021.25 as a little-endian float32
    assert struct.unpack("<f", data[:4])[0] == 202021.25
    assert struct.unpack("<ii", data[4:12]) == (3, 2)  # width, then height
    assert len(data) == 12 + 2 * 3 * 2 * 4
    values = struct.unpack("<12f", data[12:])
    # Row-major, u and v interleaved per pixel.
    assert values == (1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6)


def test_flo_round_trip_keeps_values_and_unknowns(tmp_path, generator):
    flow = torch.randn(1, 2, 7, 5, generator=generator) * 30
    flow[0, :, 2, 3] = float("nan")
    path = tmp_path / "f.flo"
    write_flo(path, flow)
    back = read_flo(path)
    assert back.dtype == np.float32 and back.shape == (2, 7, 5)
    np.testing.assert_array_equal(back, flow[0].numpy())  # NaN == NaN for this comparison
    assert struct.unpack("<f", path.read_bytes()[12 + 8 * (2 * 5 + 3) :][:4])[0] == 1e10


def test_flo_reading_refuses_what_is_not_one(tmp_path):
    bad = tmp_path / "bad.flo"
    bad.write_bytes(b"NOPE" + struct.pack("<ii", 1, 1) + b"\0" * 8)
    with pytest.raises(ValueError, match="not a Middlebury"):
        read_flo(bad)
    short = tmp_path / "short.flo"
    short.write_bytes(struct.pack("<f", 202021.25) + struct.pack("<ii", 4, 4) + b"\0" * 8)
    with pytest.raises(ValueError, match="header says 4x4"):
        read_flo(short)


def test_npy_flow_and_suffixes(tmp_path, generator):
    flow = torch.randn(2, 4, 6, generator=generator, dtype=torch.float64)
    write_flow(tmp_path / "f.npy", flow)
    array = np.load(tmp_path / "f.npy")
    assert array.dtype == np.float32 and array.shape == (2, 4, 6)
    np.testing.assert_allclose(read_flow(tmp_path / "f.npy"), flow.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\.flo or \.npy"):
        write_flow(tmp_path / "f.png", flow)
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        write_flow(tmp_path / "f.flo", flow[0])


def test_matches_csv_of_a_rule(tmp_path):
    # A 1 x 2 target grid of stride 8: cell 0 -> source cell (1, 0), cell 1 refused.
    matches = torch.tensor([[[[1.0, 0.0]], [[0.0, 0.0]]]])
    result = RuleResult(
        "r",
        torch.zeros(1, 1, 2, 1, 2),
        matches,
        torch.tensor([[[True, False]]]),
        torch.tensor([[[0.75, 0.0]]]),
    )
    rows = rule_matches(result, 8)
    np.testing.assert_allclose(rows, [[3.5, 3.5, 11.5, 3.5, 0.75]])
    assert len(rule_matches(result, 8, accepted_only=False)) == 2
    path = tmp_path / "m.csv"
    write_matches_csv(path, rows)
    assert path.read_text().splitlines()[0] == "target_x,target_y,source_x,source_y,confidence"
    np.testing.assert_allclose(read_matches_csv(path), rows)


def test_score_maps_npy_and_npz(tmp_path):
    maps = {"argmax": np.ones((3, 4)), "gocor": torch.full((3, 4), float("nan"))}
    assert write_score_maps(tmp_path / "m.npy", maps) == ["argmax", "gocor"]
    stacked = np.load(tmp_path / "m.npy")
    assert stacked.shape == (2, 3, 4) and stacked.dtype == np.float32
    assert np.isnan(stacked[1]).all() and (stacked[0] == 1).all()
    write_score_maps(tmp_path / "m.npz", maps)
    with np.load(tmp_path / "m.npz") as named:
        assert sorted(named.files) == ["argmax", "gocor"]
    with pytest.raises(ValueError, match="one size"):
        write_score_maps(tmp_path / "x.npy", {"a": np.ones((2, 2)), "b": np.ones((3, 2))})


def test_the_flow_command_writes_flo_and_npy(tmp_path, generator):
    from PIL import Image

    from gocor_lite.cli.flow import main

    image = (torch.rand(3, 72, 96, generator=generator) * 255).byte().permute(1, 2, 0).numpy()
    Image.fromarray(image[:64, :80]).save(tmp_path / "t.png")
    Image.fromarray(image[4:68, 6:86]).save(tmp_path / "s.png")
    files = [str(tmp_path / "t.png"), str(tmp_path / "s.png")]
    flo, npy = tmp_path / "flow.flo", tmp_path / "flow.npy"
    assert main([*files, "--out", str(flo), "--network", "correlation"]) == 0
    assert main([*files, "--out", str(npy), "--network", "correlation"]) == 0
    array = np.load(npy)
    assert array.shape == (2, 64, 80) and array.dtype == np.float32
    np.testing.assert_array_equal(read_flo(flo), array)  # the same flow, two formats
    assert flo.read_bytes()[:4] == b"PIEH"
