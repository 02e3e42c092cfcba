"""`ded verify`: rule verdicts (math, code) with format columns, plus an optional LLM judge.

Reads `trajectories` joined to `questions` (sql/verify/pending.sql), grades only what has no
verdict for the current (verifier, verifier_version) — `force=True` redoes everything — streaming
in batches of `verify.batch_rows`, each merged into `verdicts` (key trajectory_id, verifier) as
one commit, so an interrupted run keeps finished batches. Format columns (`format_ok`, and the
extra columns `think_paired`, `finished`, `n_tokens`) are written on every verdict.

Infrastructure failures (a sandbox, the math worker pool or the judge backend failed, not the item) are
verdicts with `correct = null` and the reason in `detail`, regraded by the next run. They are counted per
verifier as items are graded, in chunks that start small (`_chunks`): when more than
`verify.max_infra_failure_share` of a verifier's items (and at least `verify.min_infra_failures`) failed so,
the rows graded so far are committed and the stage stops with a VerifyError (exit 2, one `error:` line
naming the cause and the fix), before it writes hundreds of such rows and before any later stage runs.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from ded.compute.verify_actors import RayGraders
from ded.errors import DedError
from ded.lake import Lake, now, open_lake
from ded.params import with_overrides
from ded.progress import progress
from ded.receipts import write_receipt
from ded.sql import connect, stream_sql_file
from ded.verifiers import grade_many, routes
from ded.verifiers.format import TokenCounter, check_format
from ded.verifiers.judge import judge_rows, judge_version
from ded.verifiers.math import MathPool
from ded.verifiers.sandbox import Limits


class VerifyError(DedError):
    """verify cannot run; the message says what to do."""


def _chunks(rows: list, first: int = 64, most: int = 1024):
    """Sub-lists of growing size (64, 128, … up to `most`): an infrastructure failure shows after a few
    dozen items, while a healthy run still grades in large, efficient calls."""
    i, n = 0, first
    while i < len(rows):
        yield rows[i:i + n]
        i, n = i + n, min(most, n * 2)


def _infra_reason(res: dict) -> str:
    import json

    detail = res.get("detail") or ""
    try:
        why = json.loads(detail).get("infra") if detail.startswith("{") else None
    except (ValueError, AttributeError):
        why = None
    return " ".join(str(why or detail).split())[:600]


class InfraGuard:
    """Counts infrastructure failures per verifier; `check()` raises VerifyError past the allowed share."""

    def __init__(self, share: float, min_count: int):
        self.share, self.min_count = share, min_count
        self.graded: Counter = Counter()
        self.failed: Counter = Counter()
        self.first: dict[str, str] = {}

    def add(self, results: list[dict]) -> None:
        for r in results:
            v = r["verifier"]
            self.graded[v] += 1
            if r.get("infra"):
                self.failed[v] += 1
                self.first.setdefault(v, _infra_reason(r))

    def check(self) -> None:
        for v, n in self.failed.items():
            if n >= self.min_count and n > self.share * self.graded[v]:
                raise VerifyError(
                    f"the {v} verifier's machinery failed on {n} of {self.graded[v]} items graded so far (more than "
                    f"verify.max_infra_failure_share={self.share:g}): {self.first[v]} -- those rows are kept as "
                    f"status error with correct null and the next `ded verify` (or `dvc repro`) regrades them; "
                    f"fix the cause, then rerun")

    def summary(self) -> dict[str, dict]:
        return {v: {"failed": n, "graded": self.graded[v], "first": self.first[v]} for v, n in self.failed.items()}


def token_counter(params: Any):
    """The tokenizer for n_tokens: verify.tokenizer, else the student's (offline), else the approximation."""
    cfg = params.verify
    if cfg.tokenizer:
        return TokenCounter(cfg.tokenizer)
    if params.student is not None:
        try:
            return TokenCounter(params.model(params.student.model).model)
        except Exception:  # noqa: S110, BLE001 - not downloaded / not a model: the documented approximation
            pass
    return TokenCounter(None)


def verdict_rows(rows: list[dict], results: list[dict], counter: Any, implicit_open: bool) -> list[dict]:
    """Verdict table rows: the grade plus the format columns of each trajectory."""
    at = now()
    out = []
    for row, res in zip(rows, results):
        fmt = check_format(row.get("response"), row.get("finish_reason"), row.get("n_tokens"),
                           row.get("max_tokens"), counter, implicit_open)
        out.append({"trajectory_id": row["trajectory_id"], "verifier": res["verifier"],
                    "verifier_version": res["verifier_version"], "status": res["status"],
                    "correct": res["correct"], "extracted": res.get("extracted"),
                    "tests_passed": res.get("tests_passed"), "tests_total": res.get("tests_total"),
                    "format_ok": fmt["format_ok"], "detail": res.get("detail"), "verified_at": at,
                    "think_paired": fmt["think_paired"], "finished": fmt["finished"], "n_tokens": fmt["n_tokens"]})
    return out


def grade_pending(lake: Lake, params: Any, force: bool = False, limit: int | None = None,
                  show_progress: bool = True, guard: InfraGuard | None = None) -> Counter:
    """Grade pending trajectories by rule; returns counts by (verifier, status). Raises VerifyError (after
    committing what was graded) when `guard` finds the verifiers' infrastructure failing."""
    cfg = params.verify
    counter = token_counter(params)
    limits = Limits(timeout_s=cfg.code_timeout_s, memory_mb=cfg.memory_mb, max_procs=cfg.max_procs,
                    file_size_mb=cfg.file_size_mb, max_output_bytes=cfg.max_output_mb << 20,
                    namespaces=cfg.namespaces)
    ray_graders = None
    if params.compute.engine == "ray":
        ray_graders = RayGraders(params)
    pool = MathPool(cfg.workers, cfg.math_timeout_s)
    con = connect(lake)
    # streamed in batches: run_sql_file would hold every response of the lake in memory
    total, reader = stream_sql_file(con, "verify/pending", cfg.batch_rows, **routes(), force=force)
    total = min(total, limit) if limit is not None else total
    if total and ray_graders is None:
        pool.start()  # workers import math-verify while batches are read and extracted
    counts: Counter = Counter()
    guard = guard or InfraGuard(cfg.max_infra_failure_share, cfg.min_infra_failures)
    done = 0
    try:
        with pool, progress(total=total, desc="verify", unit="items") as bar:
            for batch in reader:
                rows = batch.to_pylist()
                if limit is not None:
                    rows = rows[: limit - done]
                if not rows:
                    break
                out: list[dict] = []
                try:
                    if ray_graders is None:
                        graded = ((chunk, grade_many(chunk, workers=cfg.workers, timeout_s=cfg.math_timeout_s,
                                                     show_progress=False, float_tol=cfg.float_tol,
                                                     stop_at_first_failure=cfg.stop_at_first_failure,
                                                     limits=limits, uid_base=cfg.sandbox_uid_base, math_pool=pool,
                                                     on_done=bar.advance if show_progress else None))
                                  for chunk in _chunks(rows))
                    else:  # the same grade_many on the cluster's actors, chunks as they finish
                        size = ray_graders.chunk_size(len(rows), params.compute.chunk_rows)
                        graded = ray_graders.grade(list(_chunks(rows, size, size)))
                    for chunk, results in graded:
                        if ray_graders is not None and show_progress:
                            bar.advance(len(chunk))
                        out += verdict_rows(chunk, results, counter, cfg.implicit_think_open)
                        counts.update((r["verifier"], r["status"]) for r in results)
                        guard.add(results)
                        guard.check()
                finally:  # what was graded is committed, also when the guard stops the run
                    if out:
                        lake.merge("verdicts", out, update=True)
                done += len(rows)
                if limit is not None and done >= limit:
                    break
    finally:
        con.close()
        if ray_graders is not None:
            ray_graders.close()
    dup = lake.duplicate_keys("verdicts")
    if dup:
        raise VerifyError(f"verdicts holds {dup} rows beyond one per (trajectory_id, verifier): another writer graded "
                          "the same trajectories at the same time (two `ded verify` runs on one lake; Lance does not "
                          "check inserted keys across concurrent commits). Run one verify per lake; "
                          "docs/scale-out.md says how to repair")
    return counts


def judge_pending(lake: Lake, params: Any, force: bool = False, limit: int | None = None, backend: Any = None,
                  guard: InfraGuard | None = None) -> Counter:
    """Ask the LLM judge about trajectories it has not judged at the current version (same guard as rules)."""
    cfg = params.verify
    if not cfg.judge.model:
        raise VerifyError("verify.judge.enabled is true but verify.judge.model is not set; name a model from `models`")
    version = judge_version(cfg.judge, params.model(cfg.judge.model))
    con = connect(lake)
    _total, reader = stream_sql_file(con, "verify/pending_judge", cfg.batch_rows, judge_version=version,
                                     force=force, domains=list(cfg.judge.domains))
    counts: Counter = Counter()
    counter, done = token_counter(params), 0
    guard = guard or InfraGuard(cfg.max_infra_failure_share, cfg.min_infra_failures)
    try:
        for batch in reader:
            rows = batch.to_pylist()[: None if limit is None else limit - done]
            if not rows:
                break
            out: list[dict] = []
            try:
                for chunk in _chunks(rows):
                    results = judge_rows(chunk, params, backend)
                    out += verdict_rows(chunk, results, counter, cfg.implicit_think_open)
                    counts.update(("judge", r["status"]) for r in results)
                    guard.add(results)
                    guard.check()
            finally:
                if out:
                    lake.merge("verdicts", out, update=True)
            done += len(rows)
    finally:
        con.close()
    return counts


def main(params: Any, lake: Lake | None = None, force: bool = False, limit: int | None = None,
         judge: bool | None = None, show_progress: bool = True, judge_backend: Any = None,
         **overrides: Any) -> dict[str, Any]:
    """Run the stage; `overrides` replace fields of `params.verify` (e.g. workers=2)."""
    if overrides:
        params = with_overrides(params, "verify", **overrides)
    lake = lake or open_lake(params)
    for table, fix in (("trajectories", "`ded ingest` (kind: trajectories) or `ded generate`"),
                       ("questions", "`ded ingest`")):
        if not lake.exists(table):
            raise VerifyError(f"lake {lake.root} has no {table} table; run {fix} first")
    t0 = time.perf_counter()
    guard = InfraGuard(params.verify.max_infra_failure_share, params.verify.min_infra_failures)
    counts = grade_pending(lake, params, force, limit, show_progress, guard)
    if judge if judge is not None else params.verify.judge.enabled:
        counts.update(judge_pending(lake, params, force, limit, judge_backend, guard))
    by = [{"verifier": v, "status": s, "n": n} for (v, s), n in sorted(counts.items())]
    summary = {"graded": sum(counts.values()), "by_status": by, "seconds": round(time.perf_counter() - t0, 2),
               "infra_failures": guard.summary()}
    tables = ["verdicts"] if lake.exists("verdicts") else []
    write_receipt("verify", lake, tables, params,
                  extra={"params_hash_verify": params.hash("verify"), "summary": summary})
    return summary
