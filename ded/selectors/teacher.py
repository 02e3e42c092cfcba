"""Teacher choice (DED step 1): benchmark accuracy does not pick the best teacher.

DED fine-tunes the student on each candidate's answers (a smoke test) and keeps the teacher
whose student scores best; it explains the winner by the lower token entropy of its corpus
under the student. RSR (arXiv 2601.14249) is a cheaper proxy that also ranks teachers. So
`auto` ranks by the smoke-test score when the lake has one, else by RSR, else by entropy under
the student, else by accuracy (the weakest signal, used only when nothing else exists).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ded.errors import DedError

# metric → (model_scores column, higher is better)
METRICS = {
    "smoke": ("smoke_score", True),
    "rsr": ("mean_student_rsr", False),
    "entropy": ("mean_student_entropy", False),
    "accuracy": ("accuracy", True),
}
AUTO_ORDER = ["smoke", "rsr", "entropy", "accuracy"]


class TeacherError(DedError):
    """The teacher setting names nothing usable; the message lists the models."""


def resolve_metric(models: pl.DataFrame, metric: str) -> str:
    if metric != "auto":
        return metric
    for m in AUTO_ORDER:
        col = METRICS[m][0]
        if col in models.columns and models[col].is_not_null().any():
            return m
    return "accuracy"


def rank_teachers(model_scores: pl.DataFrame, metric: str = "auto") -> tuple[str, list[dict[str, Any]]]:
    """(metric used, ranking rows best first) over non-student models' overall ('all') rows."""
    m = model_scores.filter((pl.col("domain") == "all") & (pl.col("band") == "all") & ~pl.col("is_student").fill_null(False))
    used = resolve_metric(m, metric)
    col, higher = METRICS[used]
    if col not in m.columns:
        m = m.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    m = m.sort([pl.col(col).is_null(), col, "model"], descending=[False, higher, False])
    ranking = []
    for i, r in enumerate(m.iter_rows(named=True)):
        ranking.append({"rank": i + 1, "model": r["model"], "metric": used, "value": r[col],
                        "accuracy": r.get("accuracy"), "n": r.get("n"),
                        "smoke_score": r.get("smoke_score"), "mean_student_rsr": r.get("mean_student_rsr"),
                        "mean_student_entropy": r.get("mean_student_entropy")})
    return used, ranking


def choose_teachers(setting: str, ranking: list[dict[str, Any]]) -> list[str]:
    names = [r["model"] for r in ranking]
    if not names:
        raise TeacherError("no teacher trajectories are scored; run `ded score` after ingest/generate and verify")
    if setting == "all":
        return names
    if setting == "auto":
        return names[:1]
    if setting not in names:
        raise TeacherError(f"select.teacher={setting!r} is not a scored model; use auto, all or one of {names}")
    return [setting]
