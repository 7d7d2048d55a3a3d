# SPDX-License-Identifier: MIT
"""Many sessions at once: clicks on computed pairs while another session recomputes.

    python -m explorer.load                          # 10 sessions x 10 clicks, one heavy
    python -m explorer.load --sessions 3 --clicks 5  # the short form the tests run
    python -m explorer.load --url http://127.0.0.1:7860/   # against a running explorer

Starts the explorer in this process (unless ``--url``), then: each clicking session (one
``gradio_client.Client``, one session) opens a bundled pair, every session's pair computed
beforehand; one more session applies the heaviest settings the explorer allows to another pair
(a computation of several seconds, in the compute queue); as soon as it is running, every
clicking session clicks ``--clicks`` times at random pixels, each click sent when the previous
answer came (as a user does). Prints failures, the clicks' latency (from sending to the answer,
through the queue: what the server takes, without the browser) as median, 95th percentile and
maximum, how many clicks were answered while the heavy computation ran, and its duration.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explorer.handlers import SETTING_CONTROLS
from explorer.pipeline import QUERY_LOSS_MAX_SIZE, WORKING_SIZES, InputError, Pipeline, Settings
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


def heaviest_settings(pair: str) -> Settings:
    """The allowed settings of the largest estimated cost for a bundled pair (query loss
    included when allowed): what the heavy session asks for."""
    from explorer.pipeline import estimate_cost

    pipeline = Pipeline()
    pair_id = pipeline.example_pair(pair)
    best: tuple[float, Settings] | None = None
    for size in WORKING_SIZES:
        for iterations in range(1, 9):
            for query in (False, True):
                if query and size > QUERY_LOSS_MAX_SIZE:
                    continue
                settings = Settings(
                    working_size=size, num_iter=iterations, search_radius=8, query_loss=query
                )
                try:
                    working = pipeline.prepare(pair_id, settings)
                except InputError:
                    continue
                cost = estimate_cost(working.target_grid, working.source_grid, settings)
                if best is None or cost.seconds > best[0]:
                    best = (cost.seconds, settings)
    assert best is not None
    return best[1]


@contextmanager
def _explorer(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from explorer.screenshot import serve

    with serve() as address:
        yield address


def run(sessions: int = 10, clicks: int = 10, url: str | None = None, seed: int = 0) -> Report:
    """One load run (see the module docstring)."""
    from gradio_client import Client

    report = Report()
    names = example_names()
    heavy_pair = names[-1]
    report.heavy = heaviest_settings(heavy_pair)
    with _explorer(url) as address:

        def client() -> Any:
            return Client(address, verbose=False, download_files=False)

        clients = [client() for _ in range(sessions)]
        for index, each in enumerate(clients):  # every pair computed before the clicks
            each.predict(names[index % (len(names) - 1)], api_name="/choose_example")
        heavy = client()
        heavy.predict(heavy_pair, api_name="/choose_example")
        values = [getattr(report.heavy, name) for name in SETTING_CONTROLS]
        running = threading.Event()

        def recompute() -> None:
            report.heavy_start = time.perf_counter()
            running.set()
            try:
                result = heavy.predict(*values, None, api_name="/apply_settings")
                statuses = [item for item in result if isinstance(item, str) and "**" in item]
                if not statuses or "⚠️" in statuses[0]:
                    report.failures.append(f"heavy recompute: {statuses[:1]}")
            except Exception as error:  # counted as a failure
                report.failures.append(f"heavy recompute: {error!r}")
            report.heavy_end = time.perf_counter()
            report.heavy_seconds = report.heavy_end - report.heavy_start

        lock = threading.Lock()

        def click(index: int) -> None:
            rng = np.random.default_rng(seed + index)
            running.wait(60)
            for _ in range(clicks):
                x, y = float(rng.uniform(0, 150)), float(rng.uniform(0, 120))
                start = time.perf_counter()
                try:
                    result = clients[index].predict(x, y, api_name="/select_pixel")
                    answered = time.perf_counter()
                    statuses = [item for item in result if isinstance(item, str) and "**" in item]
                    ok = bool(statuses) and "Target pixel" in statuses[0]
                except Exception as error:  # counted as a failure
                    answered, ok, statuses = time.perf_counter(), False, [repr(error)]
                with lock:
                    if ok:
                        report.clicks.append(answered - start)
                        report.answered.append(answered)
                    else:
                        report.failures.append(f"click of session {index}: {statuses[:1]}")

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
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    report = run(args.sessions, args.clicks, args.url)
    heavy = report.heavy
    assert heavy is not None
    what = f"{heavy.working_size} px, K={heavy.num_iter}, R={heavy.search_radius}"
    what += ", query loss" if heavy.query_loss else ""
    print(
        f"{args.sessions} sessions x {args.clicks} clicks, one session recomputing ({what}); "
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
