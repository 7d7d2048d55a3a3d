# SPDX-License-Identifier: MIT
"""The mutation check of issue 24 (``docs/testing.md``): copy the working tree to a scratch
folder, check that the selected tests pass there, then make each realistic bug (a mutant) in
the copy, one at a time, and check that at least one test of its selection fails on it. The
working tree itself is never modified.

Two lists: :data:`MUTANTS`, the six bugs of the audit, and :data:`FRESH`, the fresh pass over
the core modules (F1..F35, each with a small selection of test files or nodes). Run from the
repository root (the CPUs may be busy: nice, one thread)::

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tests/mutation_check.py

``--audit`` or ``--fresh`` runs one list, ``--only F13.`` the mutants whose name contains the
text; a mutant's selection stops at its first failing test unless ``--all-failures``.

Exit status 0 when the tests pass on the copy and every mutant is caught (a mutant marked
``equivalent``, which no test can catch, is expected to survive and is left out of the kill
rate). Each mutant is a replacement of text that must occur exactly once in its file, so a
mutant that no longer applies (the code changed) is reported, not silently skipped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    original: str  # exactly once in the file
    mutated: str
    tests: tuple[str, ...]  # test files or nodes; at least one must fail on it
    # Why no test can fail on it (the same behaviour for every input the code can receive):
    # such a mutant is expected to survive and is left out of the kill rate.
    equivalent: str = ""


MUTANTS = (
    Mutant(
        "1. soft-argmax temperature applied twice (network)",
        "gocor_lite/glunet/network.py",
        "est_map4 = est_map4 + soft_argmax_mapping(corr4_raw, temperature)",
        "est_map4 = est_map4 + soft_argmax_mapping(corr4_raw / temperature, temperature)",
        ("tests/test_soft_argmax_reference.py",),
    ),
    Mutant(
        "1b. soft-argmax temperature applied twice (operations)",
        "gocor_lite/glunet/operations.py",
        "probability = torch.softmax(volume / temperature, dim=1)",
        "probability = torch.softmax(volume / temperature / temperature, dim=1)",
        ("tests/test_soft_argmax_reference.py",),
    ),
    Mutant(
        "2. matches CSV: target_y filled with target_x",
        "gocor_lite/files/export.py",
        "rows = torch.stack([target[0], target[1], source[0], source[1], confidence], dim=-1)",
        "rows = torch.stack([target[0], target[0], source[0], source[1], confidence], dim=-1)",
        ("tests/test_rules_by_hand.py",),
    ),
    Mutant(
        "3. scores: refused matches counted as right",
        "gocor_lite/evaluation/rule_scores.py",
        "right = int(((error < stride) & accepted).sum())",
        "right = int((error < stride).sum())",
        ("tests/test_rules_by_hand.py",),
    ),
    Mutant(
        "4. loss: weights of flow2 and flow1 swapped",
        "gocor_lite/training/small_glunet.py",
        "for weight, flow in zip(weights, flows, strict=True):",
        "for weight, flow in zip(\n"
        "        (weights[0], weights[1], weights[3], weights[2]), flows, strict=True\n"
        "    ):",
        ("tests/test_loss_by_hand.py",),
    ),
    Mutant(
        "5. link: the network key ignored",
        "explorer/link.py",
        'kind = params.get("network", view.network.kind)',
        "kind = view.network.kind",
        ("tests/test_link_table.py",),
    ),
    Mutant(
        "6. mutual: refused cells keep their peak ratio",
        "gocor_lite/reading/rules.py",
        "confidence = torch.where(accepted, ratio, torch.zeros_like(ratio))\n"
        "        return RuleResult(name, volume, best_match(volume), accepted, confidence)",
        "confidence = ratio\n"
        "        return RuleResult(name, volume, best_match(volume), accepted, confidence)",
        ("tests/test_rules_by_hand.py",),
    ),
)
# Test selections shared by several mutants of the fresh pass.
GOCOR_STEPS = (
    "tests/test_gocor.py::test_global_steps_match_the_oracle",
    "tests/test_gocor.py::test_local_steps_match_the_oracle",
)
GLUNET_SAME_SIZE = (
    "tests/test_glunet.py::"
    "test_every_intermediate_equals_the_reference_in_float64[same-size-correlation]"
)
RULES_BY_HAND = "tests/test_rules_by_hand.py::test_every_rule_by_its_definition_on_a_random_volume"

# The fresh pass (docs/testing.md, "A fresh mutation pass"): realistic bugs over the core
# modules, each with small test selections (the tests that cover the code it changes).
FRESH = (
    # -- gocor_lite/core/correlation.py --
    Mutant(
        "F1. local correlation: default reduction 'sum' (no 1/C)",
        "gocor_lite/core/correlation.py",
        'target: Tensor, source: Tensor, radius: int, reduction: Reduction = "mean"\n) -> Tensor:',
        'target: Tensor, source: Tensor, radius: int, reduction: Reduction = "sum"\n) -> Tensor:',
        ("tests/test_correlation.py",),
    ),
    Mutant(
        "F2. local adjoint: the 1/C scale dropped",
        "gocor_lite/core/correlation.py",
        "return out * scale if scale != 1.0 else out.contiguous(memory_format=torch.channels_last)",
        "return out.contiguous(memory_format=torch.channels_last)",
        ("tests/test_correlation.py",),
    ),
    Mutant(
        "F3. local backward: source grid (h', w') transposed to (w', h')",
        "gocor_lite/core/correlation.py",
        "transposed = _window_transpose(grad, (source.shape[2], source.shape[3]))",
        "transposed = _window_transpose(grad, (source.shape[3], source.shape[2]))",
        ("tests/test_correlation.py",),
    ),
    Mutant(
        "F4. tiling: tiles per row floored, not rounded up",
        "gocor_lite/core/correlation.py",
        "tiles = -(-width // tile) + -(-2 * radius // tile)",
        "tiles = width // tile + -(-2 * radius // tile)",
        (
            "tests/test_correlation.py",
            "tests/test_fast_paths.py::test_local_correlation_on_larger_maps_matches_shifted_products",
        ),
    ),
    # -- gocor_lite/gocor/optimizer.py --
    Mutant(
        "F5. optimiser: the regulariser dropped from the gradient",
        "gocor_lite/gocor/optimizer.py",
        "gradient = gradient + objective.reg_weight * block_filters",
        "gradient = gradient",
        GOCOR_STEPS,
    ),
    Mutant(
        "F6. optimiser: |s| and s coefficients swapped ((1+m)/2 on |s|)",
        "gocor_lite/gocor/optimizer.py",
        "return cls(columns, half * (1 - slope), half * (1 + slope), weight * label)",
        "return cls(columns, half * (1 + slope), half * (1 - slope), weight * label)",
        GOCOR_STEPS,
    ),
    Mutant(
        "F7. query loss: mean over the residual, not the sum",
        "gocor_lite/gocor/optimizer.py",
        "loss = loss + 0.5 * projected.reshape(batch, -1).square().sum(1)",
        "loss = loss + 0.5 * projected.reshape(batch, -1).square().mean(1)",
        ("tests/test_gocor.py::test_global_steps_match_the_oracle",),
    ),
    Mutant(
        "F8. distance tables: exact band one row too narrow",
        "gocor_lite/gocor/optimizer.py",
        "self.near_rows = max(0, math.ceil(reach) - 1)",
        "self.near_rows = max(0, math.ceil(reach) - 2)",
        (
            "tests/test_fast_paths.py::test_distance_tables_match_the_dense_table",
            "tests/test_fast_paths.py::test_blocked_global_steps_match_the_oracle",
        ),
    ),
    # -- gocor_lite/gocor/spatial.py --
    Mutant(
        "F9. distance bins: the last bin keeps rising past 1",
        "gocor_lite/gocor/spatial.py",
        "last = (1 + position[..., 0] - (num_bins - 1)).clamp(0, 1)",
        "last = (1 + position[..., 0] - (num_bins - 1)).clamp(min=0)",
        (
            "tests/test_matching.py::test_distance_bins_by_hand",
            "tests/test_gocor.py::test_defaults_are_the_papers",
        ),
    ),
    Mutant(
        "F10. offset distances: city-block instead of Euclidean",
        "gocor_lite/gocor/spatial.py",
        "return torch.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)",
        "return dy[:, None].abs() + dx[None, :].abs()",
        ("tests/test_matching.py::test_pairwise_table_matches_a_loop", *GOCOR_STEPS),
    ),
    # -- gocor_lite/gocor/initializers.py --
    Mutant(
        "F11. local initialiser: energy summed over channels, not averaged",
        "gocor_lite/gocor/initializers.py",
        "energy = (target * target).mean(dim=1, keepdim=True) + _LOCAL_EPS",
        "energy = (target * target).sum(dim=1, keepdim=True) + _LOCAL_EPS",
        ("tests/test_gocor.py::test_initializers_by_their_defining_properties",),
    ),
    Mutant(
        "F12. context-aware initialiser: determinant sign flipped",
        "gocor_lite/gocor/initializers.py",
        "den = (ff * bb - fb * fb).clamp(min=_DETERMINANT_FLOOR)",
        "den = (ff * bb + fb * fb).clamp(min=_DETERMINANT_FLOOR)",
        ("tests/test_gocor.py::test_initializers_by_their_defining_properties",),
    ),
    # -- gocor_lite/gocor/modules.py --
    Mutant(
        "F13. regulariser floor: reg_min, not reg_min^2",
        "gocor_lite/gocor/modules.py",
        "reg_weight = (reg * reg).clamp(min=self.config.reg_min**2)",
        "reg_weight = (reg * reg).clamp(min=self.config.reg_min)",
        ("tests/test_regularizer_by_hand.py", "tests/test_gocor.py"),
    ),
    Mutant(
        "F14. local GOCor: regulariser not divided by C^2",
        "gocor_lite/gocor/modules.py",
        "reg_weight = reg_weight / self.kind.reg_divisor(target.shape[1])\n",
        "\n",
        ("tests/test_gocor.py::test_local_steps_match_the_oracle",),
    ),
    Mutant(
        "F15. step length initialised to init_step_length, not its log",
        "gocor_lite/gocor/modules.py",
        "torch.full((1,), float(torch.log(torch.tensor(config.init_step_length))))",
        "torch.full((1,), float(config.init_step_length))",
        ("tests/test_gocor.py::test_defaults_are_the_papers",),
    ),
    # -- gocor_lite/glunet/operations.py --
    Mutant(
        "F16. network warp: align_corners=False",
        "gocor_lite/glunet/operations.py",
        'padding_mode="zeros", align_corners=True',
        'padding_mode="zeros", align_corners=False',
        ("tests/test_glunet.py::test_the_warp_reads_the_source_at_p_plus_flow",),
    ),
    Mutant(
        "F17. mapping to flow: (m + 1) W / 2 instead of (m + 1) (W - 1) / 2",
        "gocor_lite/glunet/operations.py",
        "u = (mapping[:, 0] + 1) * (width - 1) / 2 - xs",
        "u = (mapping[:, 0] + 1) * width / 2 - xs",
        (
            "tests/test_soft_argmax_reference.py::"
            "test_flow4_is_the_decoder_output_plus_the_soft_argmax_of_the_raw_volume",
            GLUNET_SAME_SIZE,
        ),
    ),
    Mutant(
        "F18. mutual matching: source maximum over the wrong axis (channels)",
        "gocor_lite/glunet/operations.py",
        "best_per_source = volume.amax(dim=(2, 3), keepdim=True)",
        "best_per_source = volume.amax(dim=1, keepdim=True)",
        (GLUNET_SAME_SIZE,),
    ),
    Mutant(
        "F19. L2 normalisation: epsilon outside the square root",
        "gocor_lite/glunet/operations.py",
        "return x / torch.sqrt((x * x).sum(dim=1, keepdim=True) + L2_EPS)",
        "return x / (torch.sqrt((x * x).sum(dim=1, keepdim=True)) + L2_EPS)",
        (GLUNET_SAME_SIZE,),
    ),
    # -- gocor_lite/glunet/geometry.py --
    Mutant(
        "F20. working size: a side equal to the minimum counted as below it",
        "gocor_lite/glunet/geometry.py",
        "minimum if height < minimum else 8 * (height // 8)",
        "minimum if height <= minimum else 8 * (height // 8)",
        ("tests/test_xfeat.py::test_the_working_resolution_rule",),
        equivalent="every caller passes minimum=256, and a side of exactly 256 gives "
        "8 * (256 // 8) = 256 either way",
    ),
    Mutant(
        "F21. cell flow to pixels: cell centre without the half-cell shift",
        "gocor_lite/glunet/geometry.py",
        "[(centres[:, 0] + 0.5) * stride[0] - 0.5, (centres[:, 1] + 0.5) * stride[1] - 0.5]",
        "[centres[:, 0] * stride[0], centres[:, 1] * stride[1]]",
        (
            "tests/test_network_levels.py::"
            "test_warped_from_is_where_each_local_volume_reads_the_source[sizes1]",
        ),
    ),
    Mutant(
        "F22. extra refinement levels: log2 floored, not rounded",
        "gocor_lite/glunet/geometry.py",
        "return max(0, round(math.log(ratio / (refinement_width / 256)) / math.log(2)))",
        "return max(0, int(math.log(ratio / (refinement_width / 256)) / math.log(2)))",
        (
            "tests/test_glunet.py::"
            "test_every_intermediate_equals_the_reference_in_float64[wide-extra-level-correlation]",
        ),
    ),
    # -- gocor_lite/reading/rules.py --
    Mutant(
        "F23. dual-softmax: target softmax over the source rows (wrong dim)",
        "gocor_lite/reading/rules.py",
        "over_target = torch.softmax(scaled.flatten(1, 2), dim=1).view_as(volume)",
        "over_target = torch.softmax(scaled.flatten(1, 2), dim=2).view_as(volume)",
        (RULES_BY_HAND, "tests/test_rules.py::test_dual_softmax_by_its_definition"),
    ),
    Mutant(
        "F24. Sinkhorn: dustbin masses swapped (log M for the target dustbin)",
        "gocor_lite/reading/rules.py",
        "log_rows[rows] = math.log(columns)",
        "log_rows[rows] = math.log(rows)",
        (
            RULES_BY_HAND,
            "tests/test_rules.py::test_sinkhorn_meets_its_marginals_dustbins_included",
        ),
    ),
    # -- gocor_lite/reading/confidence.py --
    Mutant(
        "F25. confidence window: |d| < R instead of |d| <= R",
        "gocor_lite/reading/confidence.py",
        "return offset.abs().amax(dim=1) <= radius + 1e-6",
        "return offset.abs().amax(dim=1) < radius",
        (
            "tests/test_rules.py::test_peak_ratio_by_loops",
            "tests/test_rules.py::test_mass_within_by_loops",
        ),
    ),
    Mutant(
        "F26. backward best cells: target height used as its width",
        "gocor_lite/reading/confidence.py",
        "target_width = volume.shape[2]",
        "target_width = volume.shape[1]",
        ("tests/test_rules.py::test_cycle_error_by_loops", RULES_BY_HAND),
    ),
    Mutant(
        "F27. flow cycle error: landing on column 0 / row 0 counted as outside",
        "gocor_lite/reading/confidence.py",
        "inside = (landing[:, 0] >= 0) & (landing[:, 0] <= width - 1)\n"
        "    inside &= (landing[:, 1] >= 0) & (landing[:, 1] <= height - 1)",
        "inside = (landing[:, 0] > 0) & (landing[:, 0] <= width - 1)\n"
        "    inside &= (landing[:, 1] > 0) & (landing[:, 1] <= height - 1)",
        ("tests/test_rules.py::test_flow_cycle_error_of_a_shift_and_its_inverse",),
    ),
    # -- gocor_lite/files/export.py --
    Mutant(
        "F28. matches CSV: source cells scaled by the target stride",
        "gocor_lite/files/export.py",
        "source = cell_to_pixel(matches, source_stride)",
        "source = cell_to_pixel(matches, target_stride)",
        (
            "tests/test_export.py::test_matches_csv_of_a_rule",
            "tests/test_rules_by_hand.py::test_matches_csv_columns_are_the_cell_centres_written_by_hand",
        ),
    ),
    Mutant(
        "F29. .flo reading: only large positive components read as unknown",
        "gocor_lite/files/export.py",
        "flow[np.abs(flow) > UNKNOWN_THRESHOLD] = np.nan",
        "flow[flow > UNKNOWN_THRESHOLD] = np.nan",
        (
            "tests/test_flo_unknowns_by_hand.py",
            "tests/test_export.py::test_flo_header_and_layout_byte_by_byte",
            "tests/test_export.py::test_flo_round_trip_keeps_values_and_unknowns",
            "tests/test_export.py::test_flo_reading_refuses_what_is_not_one",
            "tests/test_export.py::test_npy_flow_and_suffixes",
        ),
    ),
    # -- gocor_lite/evaluation/metrics.py --
    Mutant(
        "F30. accuracy: x compared with the source height",
        "gocor_lite/evaluation/metrics.py",
        "(x < source_size[1] - 0.5)",
        "(x < source_size[0] - 0.5)",
        ("tests/test_accuracy_by_hand.py", "tests/test_warp.py::test_endpoint_error_and_accuracy"),
    ),
    Mutant(
        "F31. accuracy: error <= threshold counted (PCK is strictly below)",
        "gocor_lite/evaluation/metrics.py",
        "return float((error[known] < threshold).to(torch.float64).mean())",
        "return float((error[known] <= threshold).to(torch.float64).mean())",
        ("tests/test_accuracy_by_hand.py", "tests/test_warp.py::test_endpoint_error_and_accuracy"),
    ),
    Mutant(
        "F32. metrics: AEPE in cells multiplied by the stride",
        "gocor_lite/evaluation/metrics.py",
        "aepe_cells=nan if stride is None else float(error.mean()) / stride,",
        "aepe_cells=nan if stride is None else float(error.mean()) * stride,",
        ("tests/test_evaluate.py::test_score_against_hand_computed_errors",),
    ),
    # -- explorer/link.py --
    Mutant(
        "F33. link: a pixel on the right/bottom edge + 1 accepted",
        "explorer/link.py",
        "if not (0 <= x < width and 0 <= y < height):",
        "if not (0 <= x <= width and 0 <= y <= height):",
        ("tests/test_link_pixel_bounds.py", "tests/test_link_table.py"),
    ),
    Mutant(
        "F34. link: a settings change keeps the old iteration",
        "explorer/link.py",
        "view = dataclasses.replace(view, settings=settings, iteration=settings.num_iter)",
        "view = dataclasses.replace(view, settings=settings)",
        ("tests/test_link_table.py",),
    ),
    Mutant(
        "F35. link: x and y written swapped",
        "explorer/link.py",
        'values += [("x", f"{view.pixel[0]:.0f}"), ("y", f"{view.pixel[1]:.0f}")]',
        'values += [("x", f"{view.pixel[1]:.0f}"), ("y", f"{view.pixel[0]:.0f}")]',
        ("tests/test_link_table.py",),
    ),
)

IGNORED = (".git", ".venv", "out", "__pycache__", ".ipynb_checkpoints", ".pytest_cache")
IGNORED += (".mypy_cache", ".ruff_cache")


def run_tests(copy: Path, tests: list[str], first: bool = False) -> tuple[int, list[str]]:
    """pytest on ``tests`` in ``copy`` with this interpreter: exit status, FAILED lines
    (``first``: stop at the first failure)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    command += ["-x"] if first else []
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, cwd=copy, capture_output=True, text=True, env=environment)
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return done.returncode, failed


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--audit", action="store_true", help="only the six mutants of the audit")
    which.add_argument("--fresh", action="store_true", help="only the fresh pass (F1..)")
    parser.add_argument(
        "--all-failures",
        dest="first",
        action="store_false",
        help="run each selection to the end (default: stop at a mutant's first failing test)",
    )
    parser.add_argument(
        "--only", metavar="TEXT", help="only the mutants whose name contains TEXT (e.g. 'F13.')"
    )
    return parser.parse_args()


def main() -> int:
    options = _arguments()
    mutants = MUTANTS if options.audit else FRESH if options.fresh else MUTANTS + FRESH
    if options.only:
        mutants = tuple(mutant for mutant in mutants if options.only in mutant.name)
    if not mutants:
        print("no mutant selected")
        return 2
    tests = sorted({test for mutant in mutants for test in mutant.tests})
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
    began = time.monotonic()
    status, failed = run_tests(copy, tests)
    print(f"unmutated copy: {'pass' if status == 0 else 'FAIL'} ({len(tests)} test selections)")
    for line in failed:
        print("   ", line)
    sound = status == 0
    caught_count, equivalent_count = 0, 0
    survivors: list[str] = []
    for mutant in mutants:
        path = copy / mutant.path
        text = path.read_text()
        count = text.count(mutant.original)
        if count != 1:
            print(f"{mutant.name}: NOT APPLIED ({mutant.original!r} occurs {count} times)")
            survivors.append(mutant.name)
            continue
        path.write_text(text.replace(mutant.original, mutant.mutated))
        started = time.monotonic()
        try:
            status, failed = run_tests(copy, list(mutant.tests), first=options.first)
        finally:
            path.write_text(text)
        caught = status != 0 and bool(failed)
        seconds = time.monotonic() - started
        if mutant.equivalent and not caught:
            equivalent_count += 1
            verdict = f"survived, equivalent ({mutant.equivalent})"
        elif caught:
            caught_count += 1
            verdict = "caught"
        else:
            survivors.append(mutant.name)
            verdict = "SURVIVED"
        print(f"{mutant.name}: {verdict} ({seconds:.0f} s) by {' '.join(mutant.tests)}")
        for line in failed:
            print("   ", line)
    shutil.rmtree(scratch)
    counted = len(mutants) - equivalent_count
    print(
        f"caught {caught_count} of {counted} mutants ({100 * caught_count / max(counted, 1):.0f} %)"
        f"; {equivalent_count} equivalent left out; {time.monotonic() - began:.0f} s in all"
    )
    for name in survivors:
        print("  not caught:", name)
    return 0 if sound and not survivors else 1


if __name__ == "__main__":
    raise SystemExit(main())
