"""Run generation requests into a lake table: resume by fingerprint, commit in batches, show rates.

Shared by `ded generate` (table `trajectories`) and `ded evaluate` (table `eval_samples`):

    stats = run_requests(backend, requests, lake, "trajectories", to_row)

A request whose `key` (its fingerprint) is already in the table's `fingerprint` column is not sent
again. Finished results are merged into the table by its key every `commit_rows` rows or
`commit_seconds` seconds, each commit one Lance version, so a crash or Ctrl-C loses at most the
results since the last commit (the `finally` commits those too when the process survives to
run it). Failed requests (`finish_reason="error"`) are never written: a rerun retries them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ded.backends.base import Backend, GenRequest, GenResult
from ded.lake import Lake
from ded.progress import (
    RateColumn,
    _enabled,  # one switch (DED_PROGRESS) for every bar in ded
    console,
)


@dataclass
class RunStats:
    requested: int = 0
    skipped: int = 0  # already in the table (same fingerprint)
    generated: int = 0  # committed rows
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    commits: int = 0
    versions: list[int] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    @property
    def requests_per_s(self) -> float:
        return (self.generated + self.errors) / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds else 0.0

    def add(self, other: RunStats) -> None:
        """Fold another run's counts into this one (chunks of one model's run)."""
        for k in ("requested", "skipped", "generated", "errors", "prompt_tokens", "completion_tokens",
                  "seconds", "commits"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.versions += other.versions
        self.error_samples = (self.error_samples + other.error_samples)[:5]

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "versions"}
        d.update(requests_per_s=round(self.requests_per_s, 2), tokens_per_s=round(self.tokens_per_s, 1))
        return d


def done_fingerprints(lake: Lake, table: str, filter: str | None = None) -> set[str]:
    """Fingerprints already in `table` (optionally only rows matching a Lance filter)."""
    if not lake.exists(table):
        return set()
    col = lake.read(table, columns=["fingerprint"], filter=filter).column("fingerprint")
    return {x for x in col.to_pylist() if x}


class Meter:
    """A progress bar with requests/s, output tokens/s and ETA (silent off a terminal)."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.t0, self.tokens, self.n = total, desc, time.monotonic(), 0, 0
        self._p = None
        if _enabled() and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )


            self._p = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                               RateColumn("req"), TextColumn("{task.fields[tps]} tok/s"), TimeElapsedColumn(),
                               TextColumn("ETA"), TimeRemainingColumn(), console=console)
            self._p.start()
            self._task = self._p.add_task(desc, total=total, tps="?")

    def advance(self, n: int, tokens: int) -> None:
        self.n += n
        self.tokens += tokens
        if self._p is not None:
            dt = max(time.monotonic() - self.t0, 1e-9)
            self._p.update(self._task, advance=n, tps=f"{self.tokens / dt:,.0f}")

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()


def run_requests(backend: Backend, requests: Iterable[GenRequest], lake: Lake, table: str,
                 to_row: Callable[[GenRequest, GenResult], dict[str, Any]], *,
                 done: set[str] | None = None, commit_rows: int = 256, commit_seconds: float = 30.0,
                 update: bool = False, desc: str = "generate", meter: Meter | None = None) -> RunStats:
    """Generate what is missing from `table` and merge each result's row into it, in batches.

    `to_row(request, result)` builds the row (it must carry the table's key and `fingerprint`);
    `done` overrides the fingerprints read from the table; `update=True` replaces rows whose key
    exists (regenerating a stale sample), else only new keys are inserted. `meter` lets several
    calls share one progress bar (the caller closes it).
    """
    requests = list(requests)
    done = done_fingerprints(lake, table) if done is None else done
    todo = [r for r in requests if r.key not in done]
    by_key = {r.key: r for r in todo}
    stats = RunStats(requested=len(requests), skipped=len(requests) - len(todo))
    if not todo:
        return stats
    buffer: list[dict[str, Any]] = []
    t0 = last_commit = time.monotonic()
    own_meter = meter is None
    meter = meter or Meter(len(todo), desc)

    def commit() -> None:
        nonlocal last_commit
        if buffer:
            res = lake.merge(table, buffer, update=update)
            stats.generated += len(buffer)
            stats.commits += 1
            if res.version is not None:
                stats.versions.append(res.version)
            buffer.clear()
        last_commit = time.monotonic()

    try:
        for res in backend.generate(todo):
            req = by_key.get(res.key)
            if req is None:
                raise RuntimeError(f"backend {backend.name} returned an unknown key {res.key!r}")
            meter.advance(1, res.completion_tokens or 0)
            if not res.ok:
                stats.errors += 1
                if len(stats.error_samples) < 5:
                    stats.error_samples.append(f"{res.key}: {res.error}")
                continue
            stats.prompt_tokens += res.prompt_tokens or 0
            stats.completion_tokens += res.completion_tokens or 0
            buffer.append(to_row(req, res))
            if len(buffer) >= commit_rows or time.monotonic() - last_commit >= commit_seconds:
                commit()
    finally:
        try:
            commit()  # also on Ctrl-C: finished work is kept
        finally:
            if own_meter:
                meter.close()
            stats.seconds = time.monotonic() - t0
    return stats
