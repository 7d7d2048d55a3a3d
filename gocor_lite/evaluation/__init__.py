# SPDX-License-Identifier: MIT
"""Measuring on data no training has seen: the metrics (:mod:`~gocor_lite.evaluation.metrics`)
and the evaluation of every method on every set (:mod:`~gocor_lite.evaluation.report`).
``python -m gocor_lite.evaluate`` runs it."""
