# SPDX-License-Identifier: MIT
"""Files of what the explorer shows, for download: the flow (Middlebury ``.flo`` and ``.npy``),
the clicked pixel's score maps (``.npy``), the matches with their confidence (CSV) and the
pictures (PNG, in one zip). Written with :mod:`gocor_lite.files.export`; no user interface here.

Every file is written for one view and named after its pair (``<pair>.<what>.<ext>``) in a
folder named by its content, so that a file never changes once written (a download in progress
is never overwritten) and the same content is written once. Folders older than
:data:`LIFETIME` seconds are deleted now and then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import secrets
import shutil
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from explorer.analysis import Analysis
from explorer.network_compute import NetworkComputed
from explorer.pipeline import Computed, Probe
from explorer.rules_render import ConfidenceChoice, kept_cells
from gocor_lite.files.export import rule_matches, write_flow, write_matches_csv, write_score_maps
from gocor_lite.reading.rules import RuleResult

LIFETIME = 2 * 3600  # s: exported files are deleted after this
PRUNE_EVERY = 600  # s: how often old files are looked for


#: What each rule's own map is (maps of the correlation or GOCor's volume are named above).
RULE_MAPS: dict[str, str] = {
    "soft-argmax": "softmax probability (soft-argmax, softmax)",
    "softmax": "softmax probability (soft-argmax, softmax)",
    "dual-softmax": "dual-softmax probability",
    "cyclic": "cyclic consistency scores",
    "sinkhorn": "Sinkhorn transported mass",
}


def _rule_entries(computed: Computed) -> list[tuple[str, str]]:
    """``(name in the file, rule)`` of each rule's own map, once per map (soft-argmax and
    softmax read the same probability; argmax and mutual read the correlation, GOCor its
    volume: those are written with the panels' maps)."""
    entries: list[tuple[str, str]] = []
    seen: set[int] = set()
    for rule, result in computed.analysis.rules.items():
        if rule not in RULE_MAPS or id(result.scores) in seen:
            continue
        seen.add(id(result.scores))
        entries.append((RULE_MAPS[rule], rule))
    return entries


def score_map_names(computed: Computed) -> list[str]:
    """The names of the maps in a score-maps file, in the order of its first axis."""
    names = ["local correlation", "global correlation"]
    names += [f"GOCor global, iteration {k}" for k in range(computed.num_iter + 1)]
    names.append("GOCor local, shown iteration")
    return names + [name for name, _ in _rule_entries(computed)]


def score_maps(computed: Computed, probe: Probe) -> dict[str, np.ndarray]:
    """The clicked cell's maps over the source grid ``(h', w')``, named as
    :func:`score_map_names`: the panels' methods (local windows placed on the source grid,
    NaN outside them), global GOCor at every iteration, and each matching rule's own map."""
    x, y = probe.cell
    maps = {
        "local correlation": probe.local_correlation.scores,
        "global correlation": probe.global_correlation.scores,
    }
    for index, item in enumerate(probe.strip_source[1:]):
        maps[f"GOCor global, iteration {index}"] = item.scores
    maps["GOCor local, shown iteration"] = probe.gocor_local.scores
    rules = computed.analysis.rules
    for name, rule in _rule_entries(computed):
        maps[name] = rules[rule].scores[0, y, x].detach().float().cpu().numpy()
    return maps


def matches_result(analysis: Analysis, choice: ConfidenceChoice) -> RuleResult:
    """The chosen volume's matches as a :class:`~gocor_lite.reading.rules.RuleResult` whose accepted
    cells are those the confidence threshold keeps and whose confidence is the chosen measure
    (turned so that higher is surer: minus the forward-backward error)."""
    rule = "argmax" if choice.volume == "global correlation" else "gocor"
    kept, _ = kept_cells(analysis, choice)
    surer = analysis.surer_first(choice.volume, choice.measure)
    return dataclasses.replace(
        analysis.rules[rule], accepted=kept[None], confidence=surer[None].to(torch.float32)
    )


class Exports:
    """Writes the export files into ``folder`` (default: a folder of this process's own in the
    system's temporary directory, which Gradio may serve; :meth:`remove` deletes it)."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or Path(tempfile.gettempdir()) / (
            f"gocor-explorer-exports-{os.getpid()}-{secrets.token_hex(4)}"
        )
        self._pruned = 0.0
        self._lock = threading.Lock()

    def _write(self, name: str, write: Callable[[Path], object]) -> str:
        """Write a file with ``write(path)`` in a scratch folder, then move it to the folder
        named by its content; returns its path."""
        self._prune()
        scratch = Path(tempfile.mkdtemp(prefix="writing-", dir=self._ensure()))
        try:
            path = scratch / name
            write(path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
            final = self._ensure() / digest / name
            if not final.exists():
                final.parent.mkdir(parents=True, exist_ok=True)
                path.replace(final)
            return str(final)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _ensure(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder

    def _prune(self) -> None:
        now = time.time()
        with self._lock:
            if now - self._pruned < PRUNE_EVERY:
                return
            self._pruned = now
        if not self.folder.is_dir():
            return
        for child in self.folder.iterdir():
            try:
                if now - child.stat().st_mtime > LIFETIME:
                    shutil.rmtree(child, ignore_errors=True)
            except OSError:
                continue

    def remove(self) -> None:
        """Delete every file written (the server stops)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the files --------------------------------------------------------------------------------
    def score_maps(self, computed: Computed, probe: Probe, label: str) -> str:
        """The clicked cell's maps, ``(K, h', w')`` float32 (:func:`score_map_names`)."""
        maps = score_maps(computed, probe)
        x, y = probe.cell
        return self._write(
            f"{label}.score-maps.cell-{x}-{y}.npy", lambda path: write_score_maps(path, maps)
        )

    def matches(self, computed: Computed, choice: ConfidenceChoice, label: str) -> str:
        """The matches the confidence view keeps, one row each, in working-resolution pixels."""
        rows = rule_matches(matches_result(computed.analysis, choice), computed.stride)
        return self._write(f"{label}.matches.csv", lambda path: write_matches_csv(path, rows))

    def flow(self, flow: NetworkComputed, label: str, suffix: str) -> str:
        """The network view's final flow at the working resolution, ``.flo`` or ``.npy``."""
        final = flow.trace.estimated_flow[0]
        return self._write(f"{label}.flow{suffix}", lambda path: write_flow(path, final))

    def pictures(self, pictures: Mapping[str, np.ndarray], label: str) -> str:
        """Pictures as PNG files (``<label>.<name>.png``) in one zip (stored, not compressed:
        PNG is compressed already)."""

        def write(path: Path) -> None:
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
                for name, picture in pictures.items():
                    buffer = io.BytesIO()
                    # The fastest compression: a few times quicker, files ~1.3x larger.
                    Image.fromarray(picture).save(buffer, format="png", compress_level=1)
                    info = zipfile.ZipInfo(f"{label}.{name.replace('_', '-')}.png")
                    info.date_time = (2020, 1, 1, 0, 0, 0)  # the same pictures, the same zip
                    archive.writestr(info, buffer.getvalue())

        return self._write(f"{label}.pictures.zip", write)
