"""`ded verify`: rule verdicts (math, code) with format columns, plus an optional LLM judge.

Reads `trajectories` joined to `questions` (sql/verify/pending.sql), grades only what has no
verdict for the current (verifier, verifier_version) — `force=True` redoes everything — streaming
in batches of `verify.batch_rows`, each merged into `verdicts` (key trajectory_id, verifier) as
one commit, so an interrupted run keeps finished batches. Format columns (`format_ok`, and the
extra columns `think_paired`, `finished`, `n_tokens`) are written on every verdict.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from ded.errors import DedError
from ded.lake import Lake, now


class VerifyError(DedError):
    """verify cannot run; the message says what to do."""


def token_counter(params: Any):
    """The tokenizer for n_tokens: verify.tokenizer, else the student's (offline), else the approximation."""
    from ded.verifiers.format import TokenCounter

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
    from ded.verifiers.format import check_format

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


def _stream(con, name: str, params: dict, batch_rows: int):
    """Row count and an Arrow reader of `sql/<name>.sql` with its $params bound: streamed in batches
    (run_sql_file would hold every response in memory), held to the same read-only check."""
    from ded.sql import check_read_only, referenced_params, sql_path

    text = sql_path(name).read_text()
    check_read_only(text, con)
    rel = con.sql(text, params={k: params[k] for k in referenced_params(text)})
    return len(rel), rel.to_arrow_reader(batch_rows)  # len: DuckDB counts the relation's rows


def grade_pending(lake: Lake, params: Any, force: bool = False, limit: int | None = None,
                  show_progress: bool = True) -> Counter:
    """Grade pending trajectories by rule; returns counts by (verifier, status)."""
    from ded.progress import progress
    from ded.sql import connect
    from ded.verifiers import VERIFIER_VERSIONS, grade_many
    from ded.verifiers.math import MathPool
    from ded.verifiers.sandbox import Limits

    cfg = params.verify
    counter = token_counter(params)
    limits = Limits(timeout_s=cfg.code_timeout_s, memory_mb=cfg.memory_mb, max_procs=cfg.max_procs,
                    file_size_mb=cfg.file_size_mb, max_output_bytes=cfg.max_output_mb << 20,
                    namespaces=cfg.namespaces)
    pool = MathPool(cfg.workers, cfg.math_timeout_s)
    con = connect(lake)
    total, reader = _stream(con, "verify/pending", {"math_version": VERIFIER_VERSIONS["math"],
                                                    "code_version": VERIFIER_VERSIONS["code"], "force": force},
                            cfg.batch_rows)
    total = min(total, limit) if limit is not None else total
    if total:
        pool.start()  # workers import math-verify while batches are read and extracted
    counts: Counter = Counter()
    done = 0
    with pool, progress(total=total, desc="verify", unit="items") as bar:
        for batch in reader:
            rows = batch.to_pylist()
            if limit is not None:
                rows = rows[: limit - done]
            if not rows:
                break
            results = grade_many(rows, workers=cfg.workers, timeout_s=cfg.math_timeout_s, show_progress=False,
                                 float_tol=cfg.float_tol, stop_at_first_failure=cfg.stop_at_first_failure,
                                 limits=limits, uid_base=cfg.sandbox_uid_base, math_pool=pool,
                                 on_done=bar.advance if show_progress else None)
            lake.merge("verdicts", verdict_rows(rows, results, counter, cfg.implicit_think_open), update=True)
            counts.update((r["verifier"], r["status"]) for r in results)
            done += len(rows)
            if limit is not None and done >= limit:
                break
    con.close()
    return counts


def judge_pending(lake: Lake, params: Any, force: bool = False, limit: int | None = None, backend: Any = None) -> Counter:
    """Ask the LLM judge about trajectories it has not judged at the current version."""
    from ded.sql import connect
    from ded.verifiers.judge import judge_rows, judge_version

    cfg = params.verify
    if not cfg.judge.model:
        raise VerifyError("verify.judge.enabled is true but verify.judge.model is not set; name a model from `models`")
    version = judge_version(cfg.judge, params.model(cfg.judge.model))
    con = connect(lake)
    _total, reader = _stream(con, "verify/pending_judge", {"judge_version": version, "force": force,
                                                           "domains": list(cfg.judge.domains)}, cfg.batch_rows)
    counts: Counter = Counter()
    counter, done = token_counter(params), 0
    for batch in reader:
        rows = batch.to_pylist()[: None if limit is None else limit - done]
        if not rows:
            break
        results = judge_rows(rows, params, backend)
        lake.merge("verdicts", verdict_rows(rows, results, counter, cfg.implicit_think_open), update=True)
        counts.update(("judge", r["status"]) for r in results)
        done += len(rows)
    con.close()
    return counts


def main(params: Any, lake: Lake | None = None, force: bool = False, limit: int | None = None,
         judge: bool | None = None, show_progress: bool = True, judge_backend: Any = None,
         **overrides: Any) -> dict[str, Any]:
    """Run the stage; `overrides` replace fields of `params.verify` (e.g. workers=2)."""
    from ded.receipts import write_receipt

    if overrides:
        params = params.model_copy(update={"verify": params.verify.model_copy(update=overrides)})
    lake = lake or Lake(params.lake.root)
    for table, fix in (("trajectories", "`ded ingest` (kind: trajectories) or `ded generate`"),
                       ("questions", "`ded ingest`")):
        if not lake.exists(table):
            raise VerifyError(f"lake {lake.root} has no {table} table; run {fix} first")
    t0 = time.perf_counter()
    counts = grade_pending(lake, params, force, limit, show_progress)
    if judge if judge is not None else params.verify.judge.enabled:
        counts.update(judge_pending(lake, params, force, limit, judge_backend))
    by = [{"verifier": v, "status": s, "n": n} for (v, s), n in sorted(counts.items())]
    summary = {"graded": sum(counts.values()), "by_status": by, "seconds": round(time.perf_counter() - t0, 2)}
    tables = ["verdicts"] if lake.exists("verdicts") else []
    write_receipt("verify", lake, tables, params,
                  extra={"params_hash_verify": params.hash("verify"), "summary": summary})
    return summary
