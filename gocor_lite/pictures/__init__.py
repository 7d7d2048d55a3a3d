# SPDX-License-Identifier: MIT
"""The library's only drawing code (numpy pictures and matplotlib figures; the one UI leaf):
score maps and the GOCor paper's Fig. 1 (:mod:`~gocor_lite.pictures.score_maps`), flows
(:mod:`~gocor_lite.pictures.flow_colours`), one pixel's maps at every level of a GLU-Net trace
(:mod:`~gocor_lite.pictures.levels`), matching rules and their calibration curves
(:mod:`~gocor_lite.pictures.matching_rules`) and notebook widgets
(:mod:`~gocor_lite.pictures.widgets`). Nothing here computes a correlation."""
