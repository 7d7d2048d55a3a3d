# SPDX-License-Identifier: MIT
"""The GLU-Net network (Truong, Danelljan, Timofte, CVPR 2020) and GLU-Net-GOCor (Truong et
al., NeurIPS 2020), exactly as released, on any device; and the same architecture at a size a
CPU trains.

Three lines::

    from gocor_lite.glunet import load_official_glunet
    network = load_official_glunet("GLUNet_GOCor_static.pth")  # a file you downloaded
    flow = network.estimate_flow(target, source)  # uint8 images, target first: (B, 2, H, W)

``network.trace(target, source)`` keeps every level's volume, GOCor iterations and flow.
"""

from gocor_lite.glunet.config import GLUNetConfig
from gocor_lite.glunet.network import GLUNet, GLUNetOutput, GLUNetTrace, LevelView
from gocor_lite.glunet.official import load_official_glunet

__all__ = [
    "GLUNet",
    "GLUNetConfig",
    "GLUNetOutput",
    "GLUNetTrace",
    "LevelView",
    "load_official_glunet",
]
