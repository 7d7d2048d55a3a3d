# SPDX-License-Identifier: MIT
"""Measuring on data no training has seen: the metrics (:mod:`~gocor_lite.evaluation.metrics`),
the evaluation of every method on every set (:mod:`~gocor_lite.evaluation.report`) and of every
matching rule with its calibration (:mod:`~gocor_lite.evaluation.rule_scores`).
``python -m gocor_lite.cli.evaluate`` runs it."""
