# SPDX-License-Identifier: MIT
"""Self-supervised training on synthetic warps (the GLU-Net recipe): the one resumable loop
(:mod:`~gocor_lite.training.loop`), the learned features (:mod:`~gocor_lite.training.features`),
GOCor's parameters (:mod:`~gocor_lite.training.gocor`) and the flow decoders
(:mod:`~gocor_lite.training.decoders`). ``python -m gocor_lite.train`` runs them."""
