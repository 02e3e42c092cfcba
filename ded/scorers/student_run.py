"""Running the student-side scorer over lake trajectories (incremental, with progress).

What the student reads is what the corpus will train it on: the question rendered by the shared
prompt templates (`ded.prompts.render_messages`) and the assistant turn as the export writes it
(`render_assistant`). A result is keyed by (scoring model, scorer settings, hash of that assistant
text) and kept in trajectory_scores, so a rerun only scores new or changed trajectories, and a
`ded score` run with student scoring off carries the still-valid results forward (`carried_scores`)
instead of dropping them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa

from ded.ids import text_hash
from ded.lake import Lake
from ded.progress import progress
from ded.prompts import render_assistant, render_messages
from ded.schema import STUDENT_SCHEMA

log = logging.getLogger(__name__)


def scoring_model(params: Any) -> tuple[str, str]:
    """(name recorded in student_model, hub id or path to load)."""
    cfg = params.score.student_scores
    if cfg.model:
        return cfg.model, cfg.model
    if not params.student:
        raise ValueError("score.student_scores needs a model: set score.student_scores.model or params `student`")
    spec = params.model(params.student.model)
    return spec.name, spec.model


# How a trajectory becomes token ids (StudentScorer.encode); a new value makes earlier scores stale.
# 2: the chat template's own rendering of the assistant turn (end-of-turn token included).
# 3: the end-of-turn marker is no longer scored (the RSR paper's span: RankSurprisalRatio rsr_utils.py
#    `_scan_response_positions` stops before `<|im_end|>`).
ENCODING = 3


def scorer_settings(params: Any) -> str:
    """What besides the model name decides a score: the weights loaded and the scorer's settings.
    Kept in student_scorer; a result whose settings differ is stale."""
    cfg = params.score.student_scores
    _name, path = scoring_model(params)
    return f"{path}; max_tokens={cfg.max_tokens}; rank_cap={cfg.rank_cap}; encoding={ENCODING}"


def previous(lake: Lake, model: str, settings: str | None = None) -> pl.DataFrame:
    """Earlier results of the same scoring model and settings (empty when none). Rows written
    before student_scorer existed (null there) match on the model name alone."""
    cols = STUDENT_SCHEMA.names
    empty = pl.from_arrow(STUDENT_SCHEMA.empty_table())
    if not lake.exists("trajectory_scores"):
        return empty
    names = lake.dataset("trajectory_scores").schema.names
    if "student_rsr" not in names:
        return empty
    old = pl.from_arrow(lake.read("trajectory_scores", columns=[c for c in cols if c in names]))
    if "student_scorer" not in old.columns:
        old = old.with_columns(pl.lit(None, pl.Utf8).alias("student_scorer"))
    old = old.select(cols).filter(pl.col("student_model") == model)
    if settings is not None:
        old = old.filter(pl.col("student_scorer").is_null() | (pl.col("student_scorer") == settings))
    return old


def assistant_text(row: dict[str, Any], think: Any) -> str:
    """The assistant turn the student reads (and the export writes) for a trajectory row."""
    final = row["final"] if row["final"] is not None else (row["response"] or "")
    return render_assistant(row["reasoning"], final, think=think)


def assistant_hash(row: dict[str, Any], think: Any) -> str:
    return text_hash(assistant_text(row, think))


def carried_scores(lake: Lake, params: Any, ts: pl.DataFrame) -> pa.Table:
    """Earlier student scores still valid for the current lake, without running the student: same
    scoring model and settings as now configured, and the trajectory's assistant text unchanged
    (same hash). `ded score` keeps these when student scoring is off, so a plain rerun neither
    drops scores that cost GPU hours nor makes the next enabled run recompute them."""
    if not lake.exists("trajectory_scores") or "student_rsr" not in lake.dataset("trajectory_scores").schema.names:
        return STUDENT_SCHEMA.empty_table()
    try:
        name, settings = scoring_model(params)[0], scorer_settings(params)
    except ValueError as e:
        log.warning("score: earlier student scores dropped: cannot tell whether they are current (%s)", e)
        return STUDENT_SCHEMA.empty_table()
    old = previous(lake, name, settings).filter(pl.col("student_rsr").is_not_null())
    if old.height == 0:
        return STUDENT_SCHEMA.empty_table()
    old = old.join(ts.select("trajectory_id", "model"), on="trajectory_id", how="inner")
    by_id = {r["trajectory_id"]: r for r in old.drop("model").to_dicts()}
    models = sorted(set(old["model"].to_list()))
    think = params.select.export.think
    rows = []
    cols = ["trajectory_id", "reasoning", "final", "response"]
    for batch in lake.scan("trajectories", columns=cols, filter=f"model IN ({_sql_list(models)})", batch_size=1024):
        for r in batch.to_pylist():
            prev = by_id.get(r["trajectory_id"])
            if prev and prev["student_text_hash"] == assistant_hash(r, think):
                rows.append(prev)
    if len(rows) < len(by_id):
        log.info("score: %d earlier student scores dropped (text changed)", len(by_id) - len(rows))
    rows.sort(key=lambda r: r["trajectory_id"])
    return pa.Table.from_pylist(rows, schema=STUDENT_SCHEMA)


def _sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def scorer_kwargs(cfg: Any) -> dict[str, Any]:
    """The scorer's settings from `score.student_scores` (the local StudentScorer and the Ray actors take the same)."""
    return {"device": cfg.device, "chunk_tokens": cfg.chunk_tokens, "max_tokens": cfg.max_tokens,
            "rank_cap": cfg.rank_cap, "max_batch_tokens": cfg.max_batch_tokens}


def score_trajectories(lake: Lake, params: Any, ts: pl.DataFrame, make_scorer: Callable[[], Any]) -> pa.Table:
    """Student scores for the configured models' trajectories, streamed from the lake in batches
    (memory bounded by one batch of texts); earlier results for the same text are reused. `make_scorer`
    builds the scorer (local or on Ray: the stage chooses) only when there is something to score; it is
    closed after if it has `close`."""
    cfg = params.score.student_scores
    name, _path = scoring_model(params)
    models = sorted(set(cfg.models) if cfg.models else set(ts.filter(~pl.col("is_student"))["model"].to_list()))
    total = ts.filter(pl.col("model").is_in(models)).height
    if not models or total == 0:
        return STUDENT_SCHEMA.empty_table()
    settings = scorer_settings(params)
    scorer = make_scorer()
    try:
        return _score(lake, params, ts, scorer, models, total, name, settings)
    finally:
        if hasattr(scorer, "close"):
            scorer.close()


def _score(lake: Lake, params: Any, ts: pl.DataFrame, scorer: Any, models: list[str], total: int, name: str,
           settings: str) -> pa.Table:
    cfg = params.score.student_scores
    qcols = ["question_id", "domain", "problem", "starter_code", "entry_point"]
    questions = {r["question_id"]: r for r in lake.read("questions", columns=qcols).to_pylist()}
    think = params.select.export.think
    old_by_id = {r["trajectory_id"]: r for r in previous(lake, name, settings).to_dicts()}
    rows, new = [], 0
    cols = ["trajectory_id", "question_id", "reasoning", "final", "response"]
    batches = lake.scan("trajectories", columns=cols, filter=f"model IN ({_sql_list(models)})", batch_size=256)
    with progress(total=total, desc=f"score: student entropy/RSR ({name})", unit="traj") as bar:
        for batch in batches:
            todo = []  # (row, text hash, ids, start): scored together, packed into few forwards
            for r in batch.to_pylist():
                text = assistant_text(r, think)  # rendered once: hashed, then scored when new
                h = text_hash(text)
                prev = old_by_id.get(r["trajectory_id"])
                if prev and prev["student_text_hash"] == h and prev.get("student_rsr") is not None:
                    rows.append(prev)
                    bar.advance(1)
                elif cfg.limit is None or new < cfg.limit:
                    q = questions.get(r["question_id"]) or {"problem": "", "domain": None}
                    scorer.load()
                    todo.append((r, h, *scorer.encode(render_messages(q, params), text)))
                    new += 1
                else:
                    bar.advance(1)
            results = scorer.score_many([(t[2], t[3]) for t in todo]) if todo else []
            for (r, h, _ids, _start), res in zip(todo, results):
                rows.append({"trajectory_id": r["trajectory_id"], "student_model": name, "student_text_hash": h,
                             "student_scorer": settings, **res})
            bar.advance(len(todo))
    rows.sort(key=lambda r: r["trajectory_id"])
    return pa.Table.from_pylist(rows, schema=STUDENT_SCHEMA)
