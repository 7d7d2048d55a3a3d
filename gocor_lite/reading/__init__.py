# SPDX-License-Identifier: MIT
"""Reading a correlation volume: from scores to matches and flows
(:mod:`~gocor_lite.reading.matching`), how sure each match is
(:mod:`~gocor_lite.reading.confidence`), the matching rules networks read a volume with, side
by side (:mod:`~gocor_lite.reading.rules`), and what a volume should say where the flow is
known: true matches, the local window after a coarse flow, the matching loss
(:mod:`~gocor_lite.reading.supervision`).

Nothing is imported here, so that importing one module does not load the others.
"""
