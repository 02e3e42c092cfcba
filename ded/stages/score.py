"""`ded score`: question, trajectory and model scores from verdicts, vectors and texts.

The SQL files of `sql/score/` run in dependency order in one DuckDB connection over the lake
(each result is a temp table named after its file, as dbt models ref each other):

    trusted_verdicts → trajectory_scores → answer_clusters → question_scores → model_scores

Python adds what SQL cannot express: the LIMO rule score (regex counts over the reasoning text,
streamed in batches) and, when enabled, the student-side entropy and RSR (a causal LM). The three
score tables are derived data owned by this stage, so each run overwrites them in one commit per
table; student scores already computed for the same (model, scorer settings, text) are reused, not
recomputed, and a run with student scoring off carries them forward (they cost GPU hours).
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl
import pyarrow as pa

from ded.compute.score_actors import RayStudentScorer
from ded.errors import DedError
from ded.lake import Lake, open_lake
from ded.params import with_overrides
from ded.progress import progress
from ded.receipts import write_receipt
from ded.scorers.limo import limo_features, limo_score
from ded.scorers.student import StudentScorer
from ded.scorers.student_run import (
    carried_scores,
    score_trajectories,
    scorer_kwargs,
    scoring_model,
)
from ded.sql import (
    connect,
    materialize_sql_file,
    run_sql_file,
)

log = logging.getLogger(__name__)

INPUTS = ["questions", "trajectories", "verdicts", "contamination", "duplicates", "smoke_results"]
OUTPUTS = ["trajectory_scores", "question_scores", "model_scores"]
SQL_CHAIN = ["trusted_verdicts", "trajectory_scores", "answer_clusters", "question_scores"]

class ScoreError(DedError):
    """Scoring cannot proceed; the message says what to run or set."""


def materialize(con, name: str, sql_name: str | None = None, **params: Any) -> None:
    """CREATE TEMP TABLE `name` AS the query of sql/score/<sql_name>.sql with its $params bound."""
    materialize_sql_file(con, f"score/{sql_name or name}", name, **params)


def sql_params(params: Any) -> dict[str, Any]:
    sp = params.score
    student = params.student.model if params.student else None
    return {"verifiers": list(sp.verifiers), "student": student, "chars_per_token": float(sp.chars_per_token),
            "band_hard": float(sp.band_hard), "band_easy": float(sp.band_easy)}


def run_sql_scores(con, params: Any) -> None:
    """Materialize the SQL chain (before model_scores, which needs the student scores too)."""
    p = sql_params(params)
    for name in SQL_CHAIN:
        materialize(con, name, **p)


def limo_scores(lake: Lake, n_tokens: pl.DataFrame, batch_size: int = 20_000) -> pl.DataFrame:
    """LIMO traits and score of every trajectory (reasoning text, else the response)."""
    parts = []
    total = lake.count("trajectories")
    with progress(total=total, desc="score: LIMO rule score", unit="traj") as bar:
        for b in lake.scan("trajectories", columns=["trajectory_id", "reasoning", "response"], batch_size=batch_size):
            df = pl.from_arrow(b)
            text = df.select(pl.coalesce("reasoning", "response").alias("t")).to_series()
            parts.append(pl.concat([df.select("trajectory_id"), limo_features(text)], how="horizontal"))
            bar.advance(b.num_rows)
    if not parts:
        return pl.DataFrame(schema={"trajectory_id": pl.Utf8, "limo_score": pl.Float64})
    feats = pl.concat(parts).join(n_tokens, on="trajectory_id", how="left")
    feats = feats.with_columns(pl.col("n_tokens").cast(pl.Float64).fill_null(pl.col("limo_words")).alias("limo_length"))
    return feats.with_columns(limo_score(feats)).drop("n_tokens", "limo_length")


def student_scores(lake: Lake, params: Any, ts: pl.DataFrame) -> pa.Table:
    """Entropy and RSR under the student for the configured trajectories, reusing earlier results.
    Off: the earlier results still valid (same scoring model and settings, same text), not none."""
    cfg = params.score.student_scores
    if not cfg.enabled:
        return carried_scores(lake, params, ts)
    _name, path = scoring_model(params)
    if params.compute.engine == "ray":  # the student on the cluster's actors, the same forwards (ded/compute)
        make = lambda: RayStudentScorer(params, path, **scorer_kwargs(cfg))
    else:
        make = lambda: StudentScorer(path, **scorer_kwargs(cfg))
    return score_trajectories(lake, params, ts, make)


def main(params: Any, lake: Lake | None = None, **overrides: Any) -> dict[str, Any]:
    """Compute and write trajectory_scores, question_scores and model_scores; return a summary."""
    if overrides:
        params = with_overrides(params, "score", **overrides)
    lake = lake or open_lake(params)
    if not lake.exists("trajectories"):
        raise ScoreError(f"lake {lake.root} has no trajectories; run `ded ingest` or `ded generate` first")
    if not lake.exists("verdicts"):
        raise ScoreError(f"lake {lake.root} has no verdicts; run `ded verify` first "
                         f"(or trust imported labels with score.verifiers: [imported])")
    input_versions = lake.versions(INPUTS)
    con = connect(lake, read_only=False)
    con.execute("SET enable_progress_bar = false")  # our own bars report progress
    run_sql_scores(con, params)
    ts = pl.from_arrow(con.table("trajectory_scores").order("trajectory_id").to_arrow_table())

    extra_cols = []
    if params.score.limo:
        extra_cols.append(limo_scores(lake, ts.select("trajectory_id", "n_tokens")))
    stu = student_scores(lake, params, ts)
    con.register("student_scores", stu)
    materialize(con, "model_scores", **sql_params(params))
    if stu.num_rows:
        extra_cols.append(pl.from_arrow(stu))
    for cols in extra_cols:
        ts = ts.join(cols, on="trajectory_id", how="left")

    qs = con.table("question_scores").order("question_id").to_arrow_table()
    ms = con.table("model_scores").order("model, domain, band").to_arrow_table()
    lake.overwrite("trajectory_scores", ts.to_arrow())
    lake.overwrite("question_scores", qs)
    lake.overwrite("model_scores", ms)
    summary = summarize(con)
    summary["input_versions"] = input_versions
    write_receipt("score", lake, OUTPUTS, params, extra={"input_versions": input_versions, "summary": summary})
    return summary


def summarize(con) -> dict[str, Any]:
    """Counts worth printing: what was scored and what could not be decided (sql/score/summary.sql)."""
    return run_sql_file(con, "score/summary").to_pylist()[0]
