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


def _sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def score_trajectories(lake: Lake, params: Any, ts: pl.DataFrame) -> pa.Table:
    """Student scores for the configured models' trajectories, streamed from the lake in batches
    (memory bounded by one batch of texts); earlier results for the same text are reused."""
    from ded.progress import progress
    from ded.prompts import render_assistant, render_messages
    from ded.scorers.student import StudentScorer
    from ded.stages.score import STUDENT_SCHEMA

    cfg = params.score.student_scores
    name, path = scoring_model(params)
    models = sorted(set(cfg.models) if cfg.models else set(ts.filter(~pl.col("is_student"))["model"].to_list()))
    total = ts.filter(pl.col("model").is_in(models)).height
    if not models or total == 0:
        return STUDENT_SCHEMA.empty_table()
    qcols = ["question_id", "domain", "problem", "starter_code", "entry_point"]
    questions = {r["question_id"]: r for r in lake.read("questions", columns=qcols).to_pylist()}
    think = params.select.export.think
    old_by_id = {r["trajectory_id"]: r for r in previous(lake, name).to_dicts()}
    scorer = StudentScorer(path, device=cfg.device, chunk_tokens=cfg.chunk_tokens, max_tokens=cfg.max_tokens,
                           rank_cap=cfg.rank_cap)
    rows, new = [], 0
    cols = ["trajectory_id", "question_id", "reasoning", "final", "response"]
    batches = lake.scan("trajectories", columns=cols, filter=f"model IN ({_sql_list(models)})", batch_size=256)
    with progress(total=total, desc=f"score: student entropy/RSR ({name})", unit="traj") as bar:
        for batch in batches:
            for r in batch.to_pylist():
                final = r["final"] if r["final"] is not None else (r["response"] or "")
                assistant = render_assistant(r["reasoning"], final, think=think)
                h = text_hash(assistant)
                prev = old_by_id.get(r["trajectory_id"])
                if prev and prev["student_text_hash"] == h and prev.get("student_rsr") is not None:
                    rows.append(prev)
                elif cfg.limit is None or new < cfg.limit:
                    q = questions.get(r["question_id"]) or {"problem": "", "domain": None}
                    res = scorer.score(render_messages(q, params), assistant)
                    rows.append({"trajectory_id": r["trajectory_id"], "student_model": name, "student_text_hash": h, **res})
                    new += 1
                bar.advance(1)
    rows.sort(key=lambda r: r["trajectory_id"])
    return pa.Table.from_pylist(rows, schema=STUDENT_SCHEMA)
