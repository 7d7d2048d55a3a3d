# SPDX-License-Identifier: MIT
"""Pairs of images and what is known about them: :mod:`~gocor_lite.data.pairs` (the pair
type), :mod:`~gocor_lite.data.synthetic` (random warps with exact flow),
:mod:`~gocor_lite.data.examples` (the gallery) and :mod:`~gocor_lite.data.split` (what trains
and what measures)."""
