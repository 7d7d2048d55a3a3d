# SPDX-License-Identifier: MIT
"""The mutation check of issue 24 (``docs/testing.md``): copy the working tree to a scratch
folder, check that the reference tests pass there, then make each realistic bug (a mutant) in
the copy, one at a time, and check that its test file fails on it. The working tree itself is
never modified.

Run from the repository root (the CPUs may be busy: nice, one thread)::

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tests/mutation_check.py

Exit status 0 when the tests pass on the copy and every mutant is caught. Each mutant is a
replacement of text that must occur exactly once in its file, so a mutant that no longer
applies (the code changed) is reported, not silently skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    original: str  # exactly once in the file
    mutated: str
    tests: str  # the test file (or node) that must fail on it


MUTANTS = (
    Mutant(
        "1. soft-argmax temperature applied twice (network)",
        "gocor_lite/glunet/network.py",
        "est_map4 = est_map4 + soft_argmax_mapping(corr4_raw, temperature)",
        "est_map4 = est_map4 + soft_argmax_mapping(corr4_raw / temperature, temperature)",
        "tests/test_soft_argmax_reference.py",
    ),
    Mutant(
        "1b. soft-argmax temperature applied twice (operations)",
        "gocor_lite/glunet/operations.py",
        "probability = torch.softmax(volume / temperature, dim=1)",
        "probability = torch.softmax(volume / temperature / temperature, dim=1)",
        "tests/test_soft_argmax_reference.py",
    ),
    Mutant(
        "2. matches CSV: target_y filled with target_x",
        "gocor_lite/export.py",
        "rows = torch.stack([target[0], target[1], source[0], source[1], confidence], dim=-1)",
        "rows = torch.stack([target[0], target[0], source[0], source[1], confidence], dim=-1)",
        "tests/test_rules_by_hand.py",
    ),
    Mutant(
        "3. scores: refused matches counted as right",
        "gocor_lite/evaluation/rules.py",
        "right = int(((error < stride) & accepted).sum())",
        "right = int((error < stride).sum())",
        "tests/test_rules_by_hand.py",
    ),
    Mutant(
        "4. loss: weights of flow2 and flow1 swapped",
        "gocor_lite/training/network.py",
        "for weight, flow in zip(weights, flows, strict=True):",
        "for weight, flow in zip(\n"
        "        (weights[0], weights[1], weights[3], weights[2]), flows, strict=True\n"
        "    ):",
        "tests/test_loss_by_hand.py",
    ),
    Mutant(
        "5. link: the network key ignored",
        "explorer/link.py",
        'kind = params.get("network", view.network.kind)',
        "kind = view.network.kind",
        "tests/test_link_table.py",
    ),
    Mutant(
        "6. mutual: refused cells keep their peak ratio",
        "gocor_lite/rules.py",
        "confidence = torch.where(accepted, ratio, torch.zeros_like(ratio))\n"
        "        return RuleResult(name, volume, best_match(volume), accepted, confidence)",
        "confidence = ratio\n"
        "        return RuleResult(name, volume, best_match(volume), accepted, confidence)",
        "tests/test_rules_by_hand.py",
    ),
)
TEST_FILES = sorted({mutant.tests for mutant in MUTANTS})
IGNORED = (".git", ".venv", "out", "__pycache__", ".ipynb_checkpoints", ".pytest_cache")


def run_tests(copy: Path, tests: list[str]) -> tuple[int, list[str]]:
    """pytest on ``tests`` in ``copy`` with this interpreter: exit status, FAILED lines."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, cwd=copy, capture_output=True, text=True, env=environment)
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return done.returncode, failed


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="gocor-mutants-"))
    copy = scratch / "tree"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*IGNORED))
    where = subprocess.run(
        [sys.executable, "-c", "import gocor_lite, explorer; print(gocor_lite.__file__)"],
        cwd=copy,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not where.startswith(str(copy)):
        print(f"the copy imports gocor_lite from {where}, not from {copy}: check aborted")
        return 2
    status, failed = run_tests(copy, TEST_FILES)
    print(f"unmutated copy: {'pass' if status == 0 else 'FAIL'} ({', '.join(TEST_FILES)})")
    for line in failed:
        print("   ", line)
    caught_all = status == 0
    for mutant in MUTANTS:
        path = copy / mutant.path
        text = path.read_text()
        count = text.count(mutant.original)
        if count != 1:
            print(f"{mutant.name}: NOT APPLIED ({mutant.original!r} occurs {count} times)")
            caught_all = False
            continue
        path.write_text(text.replace(mutant.original, mutant.mutated))
        try:
            status, failed = run_tests(copy, [mutant.tests])
        finally:
            path.write_text(text)
        caught = status != 0 and bool(failed)
        caught_all &= caught
        print(f"{mutant.name}: {'caught' if caught else 'SURVIVED'} by {mutant.tests}")
        for line in failed:
            print("   ", line)
    shutil.rmtree(scratch)
    return 0 if caught_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
