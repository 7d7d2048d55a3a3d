# SPDX-License-Identifier: MIT
"""Many sessions at once: clicks on computed pairs while another session recomputes.

    python -m tools.explorer_load                          # 10 sessions x 10 clicks, one heavy
    python -m tools.explorer_load --sessions 3 --clicks 5  # the short form the tests run
    python -m tools.explorer_load --url http://127.0.0.1:7860/   # against a running explorer

Starts the explorer in a process of its own (unless ``--url``), then: each clicking session
(its own session hash on Gradio's HTTP API, ``/gradio_api/call/<endpoint>``: a light client,
so that measuring takes little of the cores it measures) opens a bundled pair, every session's
pair computed beforehand; one more session applies the heaviest settings the explorer allows
to another pair (a computation of several seconds, in the compute queue); as soon as it runs,
every
clicking session clicks ``--clicks`` times at random pixels: each click sent ``--pause``
seconds after the previous answer came (a user looks at the maps before clicking again; 0:
as fast as the server answers). Prints failures, the clicks' latency (from sending to the
answer, through the queue: what the server takes, without a browser) as median, 95th
percentile and maximum, how many clicks were answered while the heavy computation ran, and its
duration.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explorer.pipeline import QUERY_LOSS_MAX_SIZE, WORKING_SIZES, InputError, Pipeline, Settings
from explorer.state import SETTING_CONTROLS
from gocor_lite.data.examples import example_names


@dataclass
class Report:
    """What a load run measured."""

    clicks: list[float] = field(default_factory=list)  # seconds per answered click
    answered: list[float] = field(default_factory=list)  # when each click was answered
    failures: list[str] = field(default_factory=list)
    heavy: Settings | None = None
    heavy_start: float = 0.0
    heavy_end: float = 0.0
    heavy_seconds: float = 0.0

    @property
    def during_heavy(self) -> int:
        """Clicks answered while the heavy computation ran."""
        return sum(self.heavy_start <= when <= self.heavy_end for when in self.answered)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.clicks, q)) if self.clicks else float("nan")


def heavy_candidates() -> list[Settings]:
    """Settings from the heaviest down: sizes, iterations, the widest window, the query loss."""
    return [
        Settings(working_size=size, num_iter=iterations, search_radius=8, query_loss=query)
        for size in sorted(WORKING_SIZES, reverse=True)
        for iterations in range(8, 0, -1)
        for query in (True, False)
        if not query or size <= QUERY_LOSS_MAX_SIZE
    ]


def costliest(
    pipeline: Pipeline, pair_id: str, candidates: list[Settings]
) -> tuple[float, Settings] | None:
    """Of ``candidates``, the allowed settings of the largest estimated cost for a pair, with
    that estimate (s); ``None`` if the pair refuses them all."""
    from explorer.pipeline import estimate_cost

    best: tuple[float, Settings] | None = None
    for settings in candidates:
        try:
            working = pipeline.prepare(pair_id, settings)
        except InputError:
            continue
        cost = estimate_cost(working.target_grid, working.source_grid, settings)
        if best is None or cost.seconds > best[0]:
            best = (cost.seconds, settings)
    return best


def heaviest_settings(pair: str) -> Settings:
    """The allowed settings of the largest estimated cost for a bundled pair (query loss
    included when allowed): what the heavy session asks for."""
    pipeline = Pipeline()
    best = costliest(pipeline, pipeline.example_pair(pair), heavy_candidates())
    assert best is not None
    return best[1]


class Caller:
    """One session of the explorer's API over plain HTTP: a call posts its inputs and reads the
    answer from the event stream (what ``gradio_client`` does, without its threads)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.session = uuid.uuid4().hex[:12]

    def call(self, endpoint: str, *data: Any, timeout: float = 300.0) -> list[Any]:
        """The outputs of ``endpoint`` (an ``api_name``) for ``data``; raises on an error."""
        body = json.dumps({"data": list(data), "session_hash": self.session}).encode()
        request = urllib.request.Request(
            f"{self.url}/gradio_api/call/{endpoint}",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            event_id = json.load(answer)["event_id"]
        address = f"{self.url}/gradio_api/call/{endpoint}/{event_id}"
        with urllib.request.urlopen(address, timeout=timeout) as stream:
            event = None
            for raw in stream:
                line = raw.decode("utf-8").rstrip("\n")
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event in ("complete", "error"):
                    payload = json.loads(line[5:])
                    if event == "error":
                        raise RuntimeError(f"{endpoint}: {payload}")
                    return list(payload)
        raise RuntimeError(f"{endpoint}: the answer ended without a result")


def _status(outputs: list[Any]) -> str:
    """The status among an action's outputs (the first text that names a pair, in bold)."""
    return next((item for item in outputs if isinstance(item, str) and "**" in item), "")


@contextmanager
def serve_elsewhere(timeout: float = 240.0) -> Iterator[str]:
    """The explorer started as ``python -m explorer`` in a process of its own on a free port
    (so that the clients measuring it do not share its interpreter); yields its URL."""
    import socket
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(item for item in (root, os.environ.get("PYTHONPATH")) if item)
    process = subprocess.Popen(
        [sys.executable, "-m", "explorer", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": path},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    address = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                error = process.stderr.read() if process.stderr else ""
                raise RuntimeError(f"the explorer stopped: {error[-2000:]}")
            try:
                with urllib.request.urlopen(address, timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the explorer did not answer within {timeout:.0f} s"
                    ) from None
                time.sleep(0.5)
        yield address
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def _explorer(url: str | None) -> Iterator[str]:
    if url:
        yield url
    else:
        with serve_elsewhere() as address:
            yield address


def run(
    sessions: int = 10,
    clicks: int = 10,
    url: str | None = None,
    pause: float = 1.0,
    seed: int = 0,
) -> Report:
    """One load run (see the module docstring)."""
    report = Report()
    names = example_names()
    heavy_pair = names[-1]
    report.heavy = heaviest_settings(heavy_pair)
    with _explorer(url) as address:
        clients = [Caller(address) for _ in range(sessions)]
        for index, each in enumerate(clients):  # every pair computed before the clicks
            each.call("choose_example", names[index % (len(names) - 1)])
        heavy = Caller(address)
        heavy.call("choose_example", heavy_pair)
        values = [getattr(report.heavy, name) for name in SETTING_CONTROLS]
        running = threading.Event()

        def recompute() -> None:
            report.heavy_start = time.perf_counter()
            running.set()
            try:
                status = _status(heavy.call("apply_settings", *values, None))
                if not status or "⚠️" in status:
                    report.failures.append(f"heavy recompute: {status[:200]}")
            except Exception as error:  # counted as a failure
                report.failures.append(f"heavy recompute: {error!r}")
            report.heavy_end = time.perf_counter()
            report.heavy_seconds = report.heavy_end - report.heavy_start

        lock = threading.Lock()

        def click(index: int) -> None:
            rng = np.random.default_rng(seed + index)
            running.wait(60)
            time.sleep(0.5 + rng.uniform(0, pause))  # the heavy computation is under way
            for click_index in range(clicks):
                if click_index:
                    time.sleep(pause)
                x, y = float(rng.uniform(0, 150)), float(rng.uniform(0, 120))
                start = time.perf_counter()
                try:
                    status = _status(clients[index].call("select_pixel", x, y))
                    answered = time.perf_counter()
                    ok = "Target pixel" in status
                except Exception as error:  # counted as a failure
                    answered, ok, status = time.perf_counter(), False, repr(error)
                with lock:
                    if ok:
                        report.clicks.append(answered - start)
                        report.answered.append(answered)
                    else:
                        report.failures.append(f"click of session {index}: {status[:200]}")

        threads = [threading.Thread(target=recompute)]
        threads += [threading.Thread(target=click, args=(index,)) for index in range(sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10, help="clicking sessions")
    parser.add_argument("--clicks", type=int, default=10, help="clicks per session")
    parser.add_argument("--url", default=None, help="a running explorer (default: start one)")
    parser.add_argument(
        "--pause", type=float, default=1.0, help="seconds between an answer and the next click"
    )
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    report = run(args.sessions, args.clicks, args.url, args.pause)
    heavy = report.heavy
    assert heavy is not None
    what = f"{heavy.working_size} px, K={heavy.num_iter}, R={heavy.search_radius}"
    what += ", query loss" if heavy.query_loss else ""
    print(
        f"{args.sessions} sessions x {args.clicks} clicks ({args.pause:g} s between an answer "
        f"and the next click), one session recomputing ({what}); "
        f"load average {load:.1f} before the run, {os.getloadavg()[0]:.1f} after, "
        f"{os.cpu_count()} cores"
    )
    print(f"failures: {len(report.failures)}" + "".join(f"\n  {f}" for f in report.failures))
    if report.clicks:
        print(
            f"clicks answered: {len(report.clicks)}; latency median "
            f"{statistics.median(report.clicks) * 1e3:.0f} ms, 95th percentile "
            f"{report.percentile(95) * 1e3:.0f} ms, slowest {max(report.clicks) * 1e3:.0f} ms"
        )
    print(
        f"the heavy recompute took {report.heavy_seconds:.1f} s; {report.during_heavy} clicks "
        "were answered while it ran"
    )
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
