# SPDX-License-Identifier: MIT
"""Reading a Middlebury ``.flo`` file written byte by byte here: a component beyond ``1e9`` in
*magnitude* is unknown (NaN), whichever its sign (other tools write ``-1e10`` too); ``1e9``
itself is a value."""

from __future__ import annotations

import math
import struct

from gocor_lite.files.export import read_flo


def test_large_components_of_either_sign_are_unknown(tmp_path):
    # a 3 x 1 flow, (u, v) per pixel, row-major
    pixels = [(1e10, 0.0), (-1e10, 5.0), (1e9, -1.5e9)]
    path = tmp_path / "other-tool.flo"
    data = struct.pack("<f", 202021.25) + struct.pack("<ii", 3, 1)
    data += b"".join(struct.pack("<ff", u, v) for u, v in pixels)
    path.write_bytes(data)
    flow = read_flo(path)
    assert flow.shape == (2, 1, 3)
    assert math.isnan(flow[0, 0, 0])  # u = +1e10
    assert math.isnan(flow[0, 0, 1])  # u = -1e10
    assert float(flow[1, 0, 1]) == 5.0
    assert float(flow[0, 0, 2]) == 1e9  # not beyond the threshold
    assert math.isnan(flow[1, 0, 2])  # v = -1.5e9
