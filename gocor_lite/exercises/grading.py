# SPDX-License-Identifier: MIT
"""The grading of the course's exercises: an :class:`Exercise` (what it asks, the reference, the
:class:`Instance` s it runs on), the :class:`Check` it returns, and :func:`check` for a single
value. The topic modules declare their exercises with these; :mod:`gocor_lite.exercises`
gathers them (and says how a wrong answer is described)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Check:
    """The outcome of :func:`check` or :func:`grade`: ``ok`` and a one-line message."""

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


def _two_digits(fraction: float) -> str:
    percent = 100 * fraction
    return f"{percent:.2g}" if percent < 10 else f"{percent:.0f}"


def _describe(given: np.ndarray, wanted: np.ndarray, atol: float, rtol: float) -> str | None:
    """``None`` when ``given`` matches ``wanted``; else what is wrong, without ``wanted``."""
    if given.shape != wanted.shape:
        return f"shape {given.shape}, expected {wanted.shape}"
    numeric = np.issubdtype(given.dtype, np.number) or np.issubdtype(given.dtype, np.bool_)
    if not numeric:
        return f"not numbers (dtype {given.dtype})"
    exact = np.issubdtype(wanted.dtype, np.bool_) or np.issubdtype(wanted.dtype, np.integer)
    given64, wanted64 = given.astype(np.float64), wanted.astype(np.float64)
    # NaN expected: a tolerance of atol (a NaN tolerance would accept any number there)
    tolerance = 0.0 if exact else atol + rtol * np.abs(np.nan_to_num(wanted64))
    both_nan = np.isnan(given64) & np.isnan(wanted64)
    difference = np.where(both_nan, 0.0, np.abs(given64 - wanted64))
    difference = np.where(np.isnan(difference), np.inf, difference)
    bad = difference > tolerance
    if not bad.any():
        return None
    flat = int(np.argmax(np.where(bad, difference, -1.0)))
    worst = tuple(int(i) for i in np.unravel_index(flat, difference.shape))
    got, want = given64[worst], wanted64[worst]
    where = f" at index {worst}" if given.ndim else ""
    if exact:
        if given.ndim == 0:
            return f"{'too large' if got > want else 'too small'} (it must be exact)"
        count = int(bad.sum())
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        return (
            f"{count} of {bad.size} entries differ (the first at index {first}); "
            "they must match exactly"
        )
    if np.isnan(got) or np.isnan(want):
        return (
            f"NaN{where} where a number is expected"
            if np.isnan(got)
            else f"a number{where} where NaN is expected"
        )
    if np.isinf(got) or np.isinf(want):
        return f"infinite{where}" if np.isinf(got) else f"finite{where} where infinity is expected"
    if want == 0:
        return f"not zero{where} (it must be zero)"
    if got == 0:
        return f"zero{where} (it must not be)"
    if np.sign(got) != np.sign(want):
        return f"the sign is wrong{where}"
    relative = got / want - 1.0
    text = f"about {_two_digits(abs(relative))} % {'too large' if relative > 0 else 'too small'}"
    if given.ndim:
        count = int(bad.sum())
        return f"{count} of {bad.size} entries off; the worst{where} is {text}"
    return text


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
    problem = _describe(given, wanted, atol, rtol)
    if problem is None:
        return Check(True, f"right: {what}")
    return Check(False, f"wrong: {what}: {problem}")


@dataclass(frozen=True)
class Instance:
    """One input an exercise is graded on: ``name`` says what it tests (it is printed when
    the answer fails on it: "a lambda where the regulariser matters"); the answer is called
    as ``answer(*arguments, **keywords)``."""

    name: str
    arguments: tuple = ()
    keywords: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Exercise:
    """A function the student writes, its ``reference`` (the library's own), and the
    ``instances`` it is graded on (a function, so that building them costs nothing at import).
    ``atol``, ``rtol``: the tolerance of :func:`check`."""

    what: str
    reference: Callable[..., Any]
    instances: Callable[[], Sequence[Instance]]
    atol: float = 1e-6
    rtol: float = 1e-5

    def grade(self, answer: Callable[..., Any] | None) -> Check:
        """Run ``answer`` on every instance and compare with the reference."""
        if answer is None:
            return Check(False, f"wrong: {self.what}: no answer yet (write the function)")
        if not callable(answer):
            return Check(False, f"wrong: {self.what}: the answer must be a function")
        instances = self.instances()
        for instance in instances:
            wanted = _array(self.reference(*instance.arguments, **instance.keywords))
            try:
                got = answer(*instance.arguments, **instance.keywords)
            except Exception as error:  # the student's code: report, never raise
                kind = type(error).__name__
                return Check(
                    False, f"wrong: {self.what}: on {instance.name}: it raised {kind}: {error}"
                )
            if got is None:
                return Check(False, f"wrong: {self.what}: on {instance.name}: it returned None")
            try:
                given = _array(got)
            except (TypeError, ValueError) as error:
                return Check(
                    False, f"wrong: {self.what}: on {instance.name}: not numbers ({error})"
                )
            problem = _describe(given, wanted, self.atol, self.rtol)
            if problem is not None:
                return Check(False, f"wrong: {self.what}: on {instance.name}: {problem}")
        return Check(True, f"right: {self.what} (on all {len(instances)} test inputs)")
