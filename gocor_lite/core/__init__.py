# SPDX-License-Identifier: MIT
"""The computation every other folder builds on, from images to correlation volumes:
image pixels <-> feature cells (:mod:`~gocor_lite.core.grid`), flows and warps between grids
and resolutions (:mod:`~gocor_lite.core.warp`), feature extractors and the normalised features
of a pair (:mod:`~gocor_lite.core.features`, XFeat's network in :mod:`~gocor_lite.core.xfeat`),
the global and local correlation (:mod:`~gocor_lite.core.correlation`), a pair's volumes and
GOCor traces in one call (:mod:`~gocor_lite.core.volumes`), and the same ideas on a 1-D signal,
the course's toy (:mod:`~gocor_lite.core.toy`).

Nothing is imported here, so that importing one module does not load the others.
"""
