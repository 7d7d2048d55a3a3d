# SPDX-License-Identifier: MIT
"""gocor_lite: exact, observable correlation layers and GOCor, in plain PyTorch.

Convention:
    ``target`` is the image on whose grid flow is defined (GOCor's reference), ``source`` the
    image searched for matches (GOCor's query). Global volumes are ``(B, h, w, h', w')``, local
    volumes ``(B, h, w, 2R+1, 2R+1)`` with the window indexed ``[R+dy, R+dx]``, and flow is
    ``(B, 2, H, W)`` (x then y) on the target grid, pointing to the source.
"""

from gocor_lite.correlation import (
    flat_to_global,
    flat_to_local,
    global_correlation,
    global_to_flat,
    local_correlation,
    local_correlation_adjoint,
    local_to_flat,
)
from gocor_lite.gocor import interop
from gocor_lite.gocor.modules import (
    GlobalGOCor,
    GlobalGOCorConfig,
    GOCorTrace,
    LocalGOCor,
    LocalGOCorConfig,
)

__all__ = [
    "GOCorTrace",
    "GlobalGOCor",
    "GlobalGOCorConfig",
    "LocalGOCor",
    "LocalGOCorConfig",
    "flat_to_global",
    "flat_to_local",
    "global_correlation",
    "global_to_flat",
    "interop",
    "local_correlation",
    "local_correlation_adjoint",
    "local_to_flat",
]
__version__ = "0.1.0"
