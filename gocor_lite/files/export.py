# SPDX-License-Identifier: MIT
"""Getting results out: flows as Middlebury ``.flo`` or ``.npy`` files, matches with their
confidence as CSV, and one pixel's score maps as ``.npy``.

* :func:`write_flo` / :func:`read_flo`: the Middlebury optical-flow format (Baker et al.,
  IJCV 2011), read by most flow tools: the float32 magic number ``202021.25`` (the bytes
  ``PIEH``), the width and the height as int32, then ``H * W`` pairs ``(u, v)`` of float32,
  row-major, all little-endian. Unknown flow (NaN here) is written as ``1e10``; on reading,
  any component beyond ``1e9`` in magnitude is unknown (the format's own threshold).
* :func:`write_flow` / :func:`read_flow`: by the file's suffix, ``.flo`` or ``.npy`` (a
  ``(2, H, W)`` float32 array, x then y, NaN where unknown).
* :func:`rule_matches` and :func:`write_matches_csv`: one row per match, ``target_x,
  target_y, source_x, source_y, confidence`` in pixels (cell centres).
* :func:`write_score_maps`: a pixel's score maps, stacked ``(K, H, W)`` float32 in ``.npy``
  (or named, in ``.npz``).

Convention:
    Flow is the project's: on the target grid, channel 0 = x (u), 1 = y (v), target pixel
    ``p`` matching source pixel ``p + flow(p)``; accepted as ``(2, H, W)`` or ``(1, 2, H, W)``,
    numpy or torch. Pixel coordinates have their centres at integers (:mod:`gocor_lite.core.grid`).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from gocor_lite.core.grid import cell_grid, cell_to_pixel
from gocor_lite.reading.rules import RuleResult

#: The float32 that opens every ``.flo`` file (its bytes spell ``PIEH`` little-endian).
FLO_MAGIC = 202021.25
#: What unknown flow is written as; on reading, anything beyond :data:`UNKNOWN_THRESHOLD`.
UNKNOWN_FLOW = 1e10
UNKNOWN_THRESHOLD = 1e9
FLOW_SUFFIXES = (".flo", ".npy")


def _flow_array(flow: Tensor | np.ndarray) -> np.ndarray:
    """A flow as a float32 ``(2, H, W)`` numpy array (checked)."""
    array = flow.detach().cpu().numpy() if isinstance(flow, Tensor) else np.asarray(flow)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or array.shape[0] != 2 or min(array.shape[1:]) < 1:
        raise ValueError(f"flow must have shape (2, H, W) or (1, 2, H, W), got {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"flow must be floating point, got {array.dtype}")
    return array.astype(np.float32)


def write_flo(path: str | Path, flow: Tensor | np.ndarray) -> None:
    """Write ``flow`` ``(2, H, W)`` to a Middlebury ``.flo`` file (NaN -> :data:`UNKNOWN_FLOW`).

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "f.flo")
    >>> write_flo(path, np.zeros((2, 3, 4), np.float32))
    >>> open(path, "rb").read(4)
    b'PIEH'
    """
    array = _flow_array(flow)
    _, height, width = array.shape
    interleaved = np.where(np.isfinite(array), array, np.float32(UNKNOWN_FLOW)).transpose(1, 2, 0)
    with open(path, "wb") as file:
        file.write(np.array([FLO_MAGIC], dtype="<f4").tobytes())
        file.write(np.array([width, height], dtype="<i4").tobytes())
        file.write(np.ascontiguousarray(interleaved, dtype="<f4").tobytes())


def read_flo(path: str | Path) -> np.ndarray:
    """Read a Middlebury ``.flo`` file: float32 ``(2, H, W)``, NaN where unknown.

    Raises ``ValueError`` if the file does not start with the magic number or its length does
    not match its header.
    """
    data = Path(path).read_bytes()
    if len(data) < 12:
        raise ValueError(f"{path}: too short for a .flo file ({len(data)} bytes)")
    magic = float(np.frombuffer(data[:4], dtype="<f4")[0])
    if magic != FLO_MAGIC:
        raise ValueError(f"{path}: not a Middlebury .flo file (magic {magic!r}, not {FLO_MAGIC})")
    width, height = (int(value) for value in np.frombuffer(data[4:12], dtype="<i4"))
    expected = 12 + 4 * 2 * width * height
    if width < 1 or height < 1 or len(data) != expected:
        raise ValueError(
            f"{path}: header says {width}x{height} ({expected} bytes), the file has {len(data)}"
        )
    values = np.frombuffer(data[12:], dtype="<f4").reshape(height, width, 2)
    flow = values.transpose(2, 0, 1).astype(np.float32)
    flow[np.abs(flow) > UNKNOWN_THRESHOLD] = np.nan
    return flow


def write_flow(path: str | Path, flow: Tensor | np.ndarray) -> None:
    """Write a flow by the suffix of ``path``: ``.flo`` (Middlebury) or ``.npy`` (a
    ``(2, H, W)`` float32 array)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".flo":
        write_flo(path, flow)
    elif suffix == ".npy":
        np.save(path, _flow_array(flow))
    else:
        raise ValueError(f"a flow file must end in {' or '.join(FLOW_SUFFIXES)}, got {path}")


def read_flow(path: str | Path) -> np.ndarray:
    """Read a flow written by :func:`write_flow` (or any ``.flo``): float32 ``(2, H, W)``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".flo":
        return read_flo(path)
    if suffix == ".npy":
        return _flow_array(np.load(path, allow_pickle=False))
    raise ValueError(f"a flow file must end in {' or '.join(FLOW_SUFFIXES)}, got {path}")


def rule_matches(
    result: RuleResult,
    target_stride: float,
    source_stride: float | None = None,
    *,
    batch_index: int = 0,
    accepted_only: bool = True,
) -> np.ndarray:
    """One rule's matches as rows ``(target_x, target_y, source_x, source_y, confidence)``, in
    pixels of each image (the cell centres of ``target_stride`` and ``source_stride``), target
    cells row-major; refused matches left out unless ``accepted_only=False``.

    Shapes: -> ``(N, 5)`` float64.
    """
    source_stride = target_stride if source_stride is None else source_stride
    matches = result.matches[batch_index].detach().cpu().to(torch.float64)  # (2, h, w)
    height, width = matches.shape[1:]
    target = cell_to_pixel(cell_grid(height, width, like=matches), target_stride)
    source = cell_to_pixel(matches, source_stride)
    confidence = result.confidence[batch_index].detach().cpu().to(torch.float64)
    rows = torch.stack([target[0], target[1], source[0], source[1], confidence], dim=-1)
    rows = rows.reshape(-1, 5)
    if accepted_only:
        rows = rows[result.accepted[batch_index].detach().cpu().flatten()]
    return rows.numpy()


def write_matches_csv(path: str | Path, matches: np.ndarray) -> None:
    """Write matches ``(N, 5)`` (:func:`rule_matches`) as CSV with a header row."""
    rows = np.asarray(matches, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != 5:
        raise ValueError(f"matches must be (N, 5) rows, got shape {rows.shape}")
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["target_x", "target_y", "source_x", "source_y", "confidence"])
        writer.writerows([f"{value:.6g}" for value in row] for row in rows)


def read_matches_csv(path: str | Path) -> np.ndarray:
    """Read a file of :func:`write_matches_csv`: ``(N, 5)`` float64."""
    with open(path, newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header != ["target_x", "target_y", "source_x", "source_y", "confidence"]:
            raise ValueError(f"{path}: not a matches file (header {header})")
        rows = [[float(value) for value in row] for row in reader]
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def write_score_maps(path: str | Path, maps: Mapping[str, Tensor | np.ndarray]) -> list[str]:
    """Write score maps of one pixel, name -> ``(H, W)`` (all the same size): ``.npy`` stacks
    them into ``(K, H, W)`` float32 in the order given (the returned names), ``.npz`` keeps
    each under its name. NaN (no score) is kept."""
    if not maps:
        raise ValueError("no score maps to write")
    arrays = {
        name: (value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value))
        for name, value in maps.items()
    }
    shapes = {array.shape for array in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"score maps must all be (H, W) of one size, got {sorted(shapes)}")
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        np.save(path, np.stack([array.astype(np.float32) for array in arrays.values()]))
    elif suffix == ".npz":
        named = {name: array.astype(np.float32) for name, array in arrays.items()}
        np.savez(path, **named)  # type: ignore[arg-type]
    else:
        raise ValueError(f"score maps go to a .npy or .npz file, got {path}")
    return list(arrays)
