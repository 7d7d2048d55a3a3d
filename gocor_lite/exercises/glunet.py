# SPDX-License-Identifier: MIT
"""The exercises of the course's glunet notebook (none declared yet)."""

from __future__ import annotations

from gocor_lite.exercises import Exercise

EXERCISES: dict[str, Exercise] = {}
