# SPDX-License-Identifier: MIT
"""Checks for the course's exercises: compare a student's answer with the library's and say
*right* or *wrong* (and, when wrong, how).

Every exercise of ``notebooks/`` leaves an ``answer`` for the student to fill in and a check
cell ``print(check(answer, expected, "what"))``; the notebooks' *Solutions* section runs the
same check on a worked answer. :func:`check` never raises on a wrong answer: it returns a
:class:`Check` whose text starts with ``right`` or ``wrong``.

>>> print(check(1.0 + 1e-9, 1.0, "one"))
right: one
>>> print(check([1, 2], [1, 3], "the list"))
wrong: the list: largest difference 1 (at index (1,)), exactly
>>> print(check(None, 1.0, "one"))
wrong: one: no answer yet (replace the None in the exercise cell)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Check:
    """The outcome of :func:`check`: ``ok`` and a one-line message for the student."""

    ok: bool
    message: str

    def __str__(self) -> str:
        return self.message

    def __bool__(self) -> bool:
        return self.ok


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def check(
    answer: Any, expected: Any, what: str, *, atol: float = 1e-6, rtol: float = 1e-5
) -> Check:
    """Compare ``answer`` with ``expected`` (numbers, sequences, numpy arrays or torch tensors;
    booleans and integers exactly, floats to ``atol + rtol |expected|``; NaN equals NaN)."""
    if answer is None:
        return Check(False, f"wrong: {what}: no answer yet (replace the None in the exercise cell)")
    try:
        given, wanted = _array(answer), _array(expected)
    except (TypeError, ValueError) as error:
        return Check(False, f"wrong: {what}: could not read the answer as numbers ({error})")
    if given.shape != wanted.shape:
        return Check(False, f"wrong: {what}: shape {given.shape}, expected {wanted.shape}")
    numeric = np.issubdtype(given.dtype, np.number) or np.issubdtype(given.dtype, np.bool_)
    if not numeric:
        return Check(False, f"wrong: {what}: not numbers (dtype {given.dtype})")
    exact = np.issubdtype(wanted.dtype, np.bool_) or np.issubdtype(wanted.dtype, np.integer)
    given64, wanted64 = given.astype(np.float64), wanted.astype(np.float64)
    tolerance = 0.0 if exact else atol + rtol * np.abs(wanted64)
    both_nan = np.isnan(given64) & np.isnan(wanted64)
    difference = np.where(both_nan, 0.0, np.abs(given64 - wanted64))
    difference = np.where(np.isnan(difference), np.inf, difference)
    bad = difference > tolerance
    if not bad.any():
        return Check(True, f"right: {what}")
    flat = int(np.argmax(np.where(bad, difference, -1.0)))
    worst = tuple(int(i) for i in np.unravel_index(flat, difference.shape))
    allowed = "exactly" if exact else f"allowed {atol:g}"
    if given.ndim == 0:
        return Check(
            False, f"wrong: {what}: got {given64.item():.6g}, expected {wanted64.item():.6g}"
        )
    return Check(
        False,
        f"wrong: {what}: largest difference {difference[worst]:.6g} (at index {worst}), {allowed}",
    )
