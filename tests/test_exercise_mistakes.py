# SPDX-License-Identifier: MIT
"""Every exercise's check refuses the wrong answers its notebook lists, without giving the
answer away.

Each notebook lists the plausible mistakes of its exercises in a code cell tagged
``mistakes`` (hidden from the reader's flow): a dict ``MISTAKES = {exercise name: {what the
mistake is: a wrong function}}``, self-contained (its own imports). This test runs those cells
on their own (not the notebooks), grades each wrong function with the library's check and
asserts that it is refused; every exercise of :mod:`gocor_lite.exercises` must list at least
one mistake. The right answers, written by a different route, are in
``tests/test_exercises_*.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gocor_lite.exercises import exercise_names, grade

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _mistake_cells() -> list[tuple[str, str]]:
    cells = []
    for path in NOTEBOOKS:
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code" and "mistakes" in cell["metadata"].get("tags", []):
                cells.append((f"{path.name}[{index}]", "".join(cell["source"])))
    return cells


def _mistakes() -> dict[str, dict[str, object]]:
    listed: dict[str, dict[str, object]] = {}
    for where, source in _mistake_cells():
        namespace: dict[str, object] = {}
        exec(compile(source, where, "exec"), namespace)  # the notebook's own listed mistakes
        for name, wrongs in namespace["MISTAKES"].items():
            listed.setdefault(name, {}).update({f"{where}: {k}": v for k, v in wrongs.items()})
    return listed


def test_every_exercise_lists_its_mistakes():
    listed = _mistakes()
    unknown = sorted(set(listed) - set(exercise_names()))
    assert not unknown, f"mistakes listed for exercises that do not exist: {unknown}"
    missing = [name for name in exercise_names() if not listed.get(name)]
    assert not missing, f"exercises with no known mistake in any notebook: {missing}"


@pytest.mark.parametrize(
    ("name", "mistake"),
    [(name, mistake) for name, wrongs in _mistakes().items() for mistake in wrongs],
)
def test_each_listed_mistake_is_refused_in_words(name, mistake):
    wrong = _mistakes()[name][mistake]
    result = grade(name, wrong)
    assert not result.ok, f"the check of {name!r} accepts the mistake {mistake!r}"
    assert str(result).startswith(f"wrong: {name}: on "), str(result)  # names the instance
