# SPDX-License-Identifier: MIT
"""gocor_lite: exact, observable correlation layers and GOCor, in plain PyTorch.

The names a user needs are importable from here (``from gocor_lite import GlobalGOCor,
pair_volumes``); each lives in a folder that says what it is. No module imports a command or
the app, ``evaluation`` never imports ``training``, and no chain of imports circles back to
where it started (``tests/test_layout.py``):

* ``core/``: the computation everything builds on: pixels <-> feature cells (``grid``),
  flows and warps (``warp``), feature extractors and a pair's normalised features
  (``features``, XFeat's network in ``xfeat``), global and local correlation
  (``correlation``), a pair's volumes and GOCor traces in one call (``volumes``), and the
  same ideas on a 1-D signal (``toy``).
* ``gocor/``: GOCor itself: distance functions, initialisers, the optimiser step shared by the
  global and the local module, the drop-in modules and the authors' parameter names.
* ``reading/``: reading a volume: matches and flows (``matching``), confidence
  (``confidence``), matching rules side by side (``rules``), and what a volume should say
  where the flow is known (``supervision``).
* ``glunet/``: GLU-Net and GLU-Net-GOCor as one network class in two configurations.
* ``files/``: files in and out: images, exported flows and matches, weights files read
  safely, and every shipped file with how it loads (``weights``; the files are package data
  in ``assets/``).
* ``data/`` (pairs: examples, real pairs, synthetic warps), ``training/``, ``evaluation/``
  (which never imports ``training``), ``pictures/`` (the only drawing code), ``exercises/``
  (the course's graded exercises) and ``cli/`` (the commands: ``python -m
  gocor_lite.cli.<name>``, installed as ``gocor-<name>``).

Convention:
    ``target`` is the image on whose grid flow is defined (GOCor's reference), ``source`` the
    image searched for matches (GOCor's query). Global volumes are ``(B, h, w, h', w')``, local
    volumes ``(B, h, w, 2R+1, 2R+1)`` with the window indexed ``[R+dy, R+dx]``, and flow is
    ``(B, 2, H, W)`` (x then y) on the target grid, pointing to the source.
"""

from gocor_lite.core.correlation import (
    flat_to_global,
    flat_to_local,
    global_correlation,
    global_to_flat,
    local_correlation,
    local_correlation_adjoint,
    local_to_flat,
)
from gocor_lite.core.features import (
    FeatureExtractor,
    default_extractor_name,
    make_extractor,
    normalize_features,
    pair_features,
)
from gocor_lite.core.volumes import PairVolumes, pair_volumes
from gocor_lite.core.warp import resize_flow, warp
from gocor_lite.files.export import read_flo, write_flo
from gocor_lite.files.images import read_image, to_tensor, to_uint8
from gocor_lite.files.weights import load_small_glunet
from gocor_lite.gocor import interop
from gocor_lite.gocor.modules import (
    GlobalGOCor,
    GlobalGOCorConfig,
    GOCorTrace,
    LocalGOCor,
    LocalGOCorConfig,
)
from gocor_lite.reading.matching import best_match, matches_to_flow, soft_argmax

__all__ = [
    "FeatureExtractor",
    "GOCorTrace",
    "GlobalGOCor",
    "GlobalGOCorConfig",
    "LocalGOCor",
    "LocalGOCorConfig",
    "PairVolumes",
    "best_match",
    "default_extractor_name",
    "flat_to_global",
    "flat_to_local",
    "global_correlation",
    "global_to_flat",
    "interop",
    "load_small_glunet",
    "local_correlation",
    "local_correlation_adjoint",
    "local_to_flat",
    "make_extractor",
    "matches_to_flow",
    "normalize_features",
    "pair_features",
    "pair_volumes",
    "read_flo",
    "read_image",
    "resize_flow",
    "soft_argmax",
    "to_tensor",
    "to_uint8",
    "warp",
    "write_flo",
]
__version__ = "0.1.0"
