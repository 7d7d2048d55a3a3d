# SPDX-License-Identifier: MIT
"""Self-supervised training on synthetic warps (the GLU-Net recipe): the one resumable loop
(:mod:`~gocor_lite.training.loop`), the learned features (:mod:`~gocor_lite.training.extractor`),
GOCor's parameters (:mod:`~gocor_lite.training.gocor`) and this project's small GLU-Net with
GOCor inside (:mod:`~gocor_lite.training.small_glunet`, data-parallel workers in
:mod:`~gocor_lite.training.distributed`). The command is :mod:`gocor_lite.cli.train`."""
