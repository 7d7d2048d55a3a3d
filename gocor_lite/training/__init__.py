# SPDX-License-Identifier: MIT
"""Self-supervised training on synthetic warps (the GLU-Net recipe): the one resumable loop
(:mod:`~gocor_lite.training.loop`), the learned features (:mod:`~gocor_lite.training.features`),
GOCor's parameters (:mod:`~gocor_lite.training.gocor`) and this project's small GLU-Net with
GOCor inside (:mod:`~gocor_lite.training.network`, data-parallel workers in
:mod:`~gocor_lite.training.distributed`). The command is :mod:`gocor_lite.cli.train`."""
