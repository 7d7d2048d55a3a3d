# SPDX-License-Identifier: MIT
"""Checks for the course's exercises: grade a student's answer and say *right* or *wrong*, and
when wrong, what is wrong in words, never the expected value.

Two kinds of check:

* :func:`grade` for an exercise that asks for a **function** (the usual kind): the student's
  function runs on every :class:`Instance` of the exercise, each chosen so that a plausible
  mistake changes the answer (a step length at a ``lambda`` where the regulariser matters, a
  warp that leaves the image, a peak ratio whose second peak is a diagonal neighbour), and is
  compared with the library's reference. The exercises live in this package's topic modules
  (:mod:`~gocor_lite.exercises.correlation`, ...), one registry :data:`EXERCISES`.
* :func:`check` for a single value (a number the student reads off a figure).

Neither raises on a wrong answer: both return a :class:`Check` whose text starts with
``right`` or ``wrong``. A wrong one names the instance (which property failed), and the
relative error with its sign rounded to two digits (or the shape, or how many entries
differ), so one wrong try does not give the answer away.

>>> print(check(1.0 + 1e-9, 1.0, "one"))
right: one
>>> print(check([1, 2], [1, 3], "the list"))
wrong: the list: 1 of 2 entries differ (the first at index (1,)); they must match exactly
>>> print(check(1.3, 1.0, "one"))
wrong: one: about 30 % too large
>>> print(check(None, 1.0, "one"))
wrong: one: no answer yet (replace the None in the exercise cell)
>>> double = Exercise("twice x", lambda x: 2 * x, lambda: [Instance("a negative x", (-3.0,))])
>>> print(double.grade(lambda x: 2 * abs(x)))
wrong: twice x: on a negative x: the sign is wrong
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gocor_lite.exercises.grading import Check, Exercise, Instance, check

__all__ = ["Check", "Exercise", "Instance", "check", "exercise_names", "grade"]


def _registry() -> dict[str, Exercise]:
    from gocor_lite.exercises import (
        ambiguity,
        correlation,
        glunet,
        gocor_step,
        iterations,
        learning,
        reading,
        toy,
    )

    exercises: dict[str, Exercise] = {}
    for module in (toy, correlation, ambiguity, reading, gocor_step, iterations, learning, glunet):
        for name, exercise in module.EXERCISES.items():
            if name in exercises:
                raise RuntimeError(f"exercise {name!r} is declared twice")
            exercises[name] = exercise
    return exercises


def exercise_names() -> list[str]:
    """Every exercise's name, in course order."""
    return list(_registry())


def grade(name: str, answer: Callable[..., Any] | None) -> Check:
    """Grade the student's function ``answer`` for exercise ``name`` (:func:`exercise_names`)."""
    exercises = _registry()
    if name not in exercises:
        raise KeyError(f"no exercise {name!r}; the exercises are {', '.join(exercises)}")
    return exercises[name].grade(answer)
