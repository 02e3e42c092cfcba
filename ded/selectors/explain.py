"""`ded select --explain ID`: why a trajectory or a question was kept or dropped.

Reads the `selection` rows of one run (default: the run of the corpus on disk, receipts/select.json,
else the newest; an unknown run is an error that lists the lake's runs) and prints, per trajectory, the
verdict (kept with its rank, or the first step that dropped it), every filter it passed or
failed (a dash: the step never saw it, an earlier one had dropped it) and every score.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from ded.errors import DedError
from ded.lake import Lake
from ded.receipts import current_selection_run


class ExplainError(DedError):
    """Nothing to explain; the message says what exists."""


def latest_run(lake: Lake) -> str:
    """The run of the corpus on disk (receipts/select.json) when it is in this lake, else the newest."""
    if not lake.exists("selection"):
        raise ExplainError(f"lake {lake.root} has no selection yet; run `ded select` first")
    current = current_selection_run(lake)
    if current:
        return current
    t = pl.from_arrow(lake.read("selection", columns=["run_id", "selected_at"]))
    return t.sort(["selected_at", "run_id"]).tail(1)["run_id"][0]


def selection_runs(lake: Lake) -> pl.DataFrame:
    """One row per selection run, newest first: run_id, recipe, candidates, kept, selected_at."""
    have = set(lake.dataset("selection").schema.names)
    t = pl.from_arrow(lake.read("selection", columns=[c for c in ("run_id", "recipe", "kept", "selected_at") if c in have]))
    if "selected_at" not in t.columns:  # a table written by hand without it: order by run_id alone
        t = t.with_columns(pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("selected_at"))
    return (t.group_by("run_id").agg(pl.col("recipe").first(), pl.len().alias("candidates"),
                                     pl.col("kept").sum().alias("kept"), pl.col("selected_at").max())
            .sort(["selected_at", "run_id"], descending=True, nulls_last=True))


def require_run(lake: Lake, run: str, option: str = "--run-id") -> str:
    """`run` when the lake's `selection` has it; else an error that lists the runs there, newest first."""
    if not lake.exists("selection"):
        raise ExplainError(f"{option}: lake {lake.root} has no selection yet, so no run {run!r}; run `ded select` first")
    runs = selection_runs(lake)
    if run in runs["run_id"].to_list():
        return run
    shown = [f"{r['run_id']} ({r['recipe']}, {r['kept']} of {r['candidates']} kept"
             + (f", {r['selected_at']:%Y-%m-%d %H:%M})" if r["selected_at"] is not None else ")")
             for r in runs.head(5).iter_rows(named=True)]
    more = (f"; {runs.height - 5} more: `ded sql \"select distinct run_id from selection\"`"
            if runs.height > 5 else "")
    raise ExplainError(f"{option}: selection run {run!r} is not in lake {lake.root}; its runs, newest first: "
                       + "; ".join(shown) + more)


def rows_for(lake: Lake, ident: str, run_id: str | None = None) -> tuple[str, pl.DataFrame]:
    run = require_run(lake, run_id) if run_id else latest_run(lake)
    safe, safe_run = ident.replace("'", "''"), run.replace("'", "''")
    flt = f"run_id = '{safe_run}' AND (trajectory_id = '{safe}' OR question_id = '{safe}')"
    df = pl.from_arrow(lake.read("selection", filter=flt)).sort(["kept", "rank", "trajectory_id"], descending=[True, False, False])
    if df.height == 0:
        raise ExplainError(f"{ident} is not a candidate of selection run {run} (not a teacher trajectory or "
                           f"question id in it); list runs with `ded sql \"select distinct run_id from selection\"`")
    return run, df


def describe(row: dict[str, Any]) -> list[str]:
    reasons = json.loads(row["reasons"])
    head = (f"{row['trajectory_id']}  model={row.get('model')}  question={row['question_id']}  domain={row.get('domain')}")
    verdict = f"KEPT (rank {row['rank']})" if row["kept"] else f"DROPPED by {row['dropped_by']}"
    lines = [head, f"  {verdict}"]
    marks = {True: "pass", False: "FAIL", None: "-"}
    lines.append("  filters: " + ", ".join(f"{k}={marks[v]}" for k, v in reasons["filters"].items()))
    scores = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in reasons["scores"].items() if v is not None}
    lines.append("  scores:  " + ", ".join(f"{k}={v}" for k, v in scores.items()))
    teacher = reasons.get("teacher") or {}
    if teacher.get("no_student_signal"):
        lines.append(f"  teacher: chosen by {teacher.get('metric')} alone, no student signal (`ded smoke`, or "
                     f"score.student_scores.enabled)")
    return lines


def explain(lake: Lake, ident: str, run_id: str | None = None) -> str:
    run, df = rows_for(lake, ident, run_id)
    rows = df.to_dicts()
    recipe = rows[0]["recipe"]
    if ident.startswith("q_") or any(r["question_id"] == ident for r in rows):
        kept = sum(r["kept"] for r in rows)
        drops = pl.DataFrame(rows).filter(~pl.col("kept")).group_by("dropped_by").len().sort("dropped_by")
        why = ", ".join(f"{d}: {n}" for d, n in drops.iter_rows())
        out = [f"question {ident} in run {run} ({recipe}): {kept} of {len(rows)} trajectories kept"
               + (f"; dropped by {why}" if why else "")]
    else:
        out = [f"trajectory {ident} in run {run} ({recipe})"]
    for r in rows:
        out.extend(describe(r))
    return "\n".join(out)
