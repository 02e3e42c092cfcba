"""Running the student-side scorer over lake trajectories (incremental, with progress).

What the student reads is what the corpus will train it on: the question rendered by the shared
prompt templates (`ded.prompts.render_messages`) and the assistant turn as the export writes it
(`render_assistant`). A result is keyed by (scoring model, hash of that assistant text) and kept
in trajectory_scores, so a rerun only scores new or changed trajectories.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

from ded.ids import text_hash
from ded.lake import Lake


def scoring_model(params: Any) -> tuple[str, str]:
    """(name recorded in student_model, hub id or path to load)."""
    cfg = params.score.student_scores
    if cfg.model:
        return cfg.model, cfg.model
    if not params.student:
        raise ValueError("score.student_scores needs a model: set score.student_scores.model or params `student`")
    spec = params.model(params.student.model)
    return spec.name, spec.model


def previous(lake: Lake, model: str) -> pl.DataFrame:
    """Earlier results of the same scoring model (empty when none)."""
    cols = ["trajectory_id", "student_model", "student_text_hash", "student_tokens", "student_entropy",
            "student_rsr", "student_surprisal"]
    if not lake.exists("trajectory_scores") or "student_rsr" not in lake.dataset("trajectory_scores").schema.names:
        return pl.DataFrame(schema={c: pl.Utf8 for c in cols[:3]})
    old = pl.from_arrow(lake.read("trajectory_scores", columns=cols))
    return old.filter(pl.col("student_model") == model)


def score_trajectories(lake: Lake, params: Any, ts: pl.DataFrame) -> pa.Table:
    from ded.progress import progress
    from ded.prompts import render_assistant, render_messages
    from ded.scorers.student import StudentScorer
    from ded.stages.score import STUDENT_SCHEMA

    cfg = params.score.student_scores
    name, path = scoring_model(params)
    wanted = ts.filter(pl.col("model").is_in(cfg.models) if cfg.models else ~pl.col("is_student"))
    ids = wanted["trajectory_id"].to_list()
    if not ids:
        return STUDENT_SCHEMA.empty_table()
    traj = pl.from_arrow(lake.read("trajectories", columns=["trajectory_id", "question_id", "reasoning", "final", "response"]))
    traj = traj.filter(pl.col("trajectory_id").is_in(ids)).sort("trajectory_id")
    qcols = ["question_id", "domain", "problem", "starter_code", "entry_point"]
    questions = {r["question_id"]: r for r in lake.read("questions", columns=qcols).to_pylist()}
    think = params.select.export.think

    old = previous(lake, name)
    old_by_id = {r["trajectory_id"]: r for r in old.to_dicts()}
    rows, todo = [], []
    for r in traj.iter_rows(named=True):
        final = r["final"] if r["final"] is not None else (r["response"] or "")
        assistant = render_assistant(r["reasoning"], final, think=think)
        h = text_hash(assistant)
        prev = old_by_id.get(r["trajectory_id"])
        if prev and prev["student_text_hash"] == h and prev.get("student_rsr") is not None:
            rows.append(prev)
        else:
            todo.append((r, assistant, h))
    if cfg.limit is not None:
        todo = todo[: cfg.limit]
    if todo:
        scorer = StudentScorer(path, device=cfg.device, chunk_tokens=cfg.chunk_tokens, max_tokens=cfg.max_tokens,
                               rank_cap=cfg.rank_cap).load()
        with progress(total=len(todo), desc=f"score: student entropy/RSR ({name})", unit="traj") as bar:
            for r, assistant, h in todo:
                q = questions.get(r["question_id"]) or {"problem": "", "domain": None}
                res = scorer.score(render_messages(q, params), assistant)
                rows.append({"trajectory_id": r["trajectory_id"], "student_model": name, "student_text_hash": h, **res})
                bar.advance(1)
    return pa.Table.from_pylist(rows, schema=STUDENT_SCHEMA)
