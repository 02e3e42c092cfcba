"""Teacher choice (DED step 1): benchmark accuracy does not pick the best teacher.

DED fine-tunes the student on each candidate's answers (a smoke test) and keeps the teacher
whose student scores best; it explains the winner by the lower token entropy of its corpus
under the student. RSR (arXiv 2601.14249) is a cheaper proxy that also ranks teachers. So
`auto` ranks by the smoke-test score when it separates the candidates, else by RSR, else by
entropy under the student, else by accuracy (the weakest signal, used only when nothing else
exists). A metric no candidate has (RSR without student scores) is passed over; one whose values
do not separate the candidates (equal for all, e.g. a tiny student that scores 0 in every smoke
test, or present for one candidate only) is skipped with a warning that says which metric, why,
and which metric was used. Ties within the metric used are broken by the later metrics of that
order, and by the model name last.
"""

from __future__ import annotations

import logging
from typing import Any

import polars as pl

from ded.errors import DedError

log = logging.getLogger(__name__)

# metric → (model_scores column, higher is better)
METRICS = {
    "smoke": ("smoke_score", True),
    "rsr": ("mean_student_rsr", False),
    "entropy": ("mean_student_entropy", False),
    "accuracy": ("accuracy", True),
}
AUTO_ORDER = ["smoke", "rsr", "entropy", "accuracy"]
# Values closer than this are a tie: the means are over the same items, so a real difference is larger.
SPREAD_TOL = 1e-9


class TeacherError(DedError):
    """The teacher setting names nothing usable; the message lists the models."""


def metric_state(models: pl.DataFrame, metric: str) -> tuple[bool, str | None]:
    """(can this metric rank the candidates?, why not) over the candidates' overall rows.

    Why not: None when no candidate has a value (a score nobody computed, e.g. RSR without student
    scores); a reason when values exist but do not separate two or more candidates: every value the
    same (no spread: the order would be the model names'), or only one candidate has one.
    """
    col = METRICS[metric][0]
    vals = models[col].cast(pl.Float64).drop_nulls().drop_nans() if col in models.columns else pl.Series(col, [], pl.Float64)
    if vals.len() == 0:
        return False, None
    if models.height < 2:
        return True, None
    if vals.len() == 1:
        return False, f"only one of the {models.height} candidates has a {col}"
    lo, hi = float(vals.min()), float(vals.max())
    if hi - lo <= SPREAD_TOL:
        return False, f"{col} is {lo:.4g} for every candidate (no spread)"
    return True, None


def resolve_metric(models: pl.DataFrame, metric: str) -> str:
    """The metric `rank_teachers` ranks by. `auto`: the first of AUTO_ORDER that separates the
    candidates (accuracy when none does); a metric passed over although it had values is logged as a
    warning (which, why, and what was used). An explicit metric is kept, with a warning when it
    cannot separate the candidates."""
    if metric != "auto":
        ok, why = metric_state(models, metric)
        if not ok and models.height >= 2:
            later = AUTO_ORDER[AUTO_ORDER.index(metric) + 1:]
            log.warning("teacher ranking: select.teacher_metric: %s cannot rank the teachers: %s; ties are "
                        "broken by %s (set select.teacher_metric: auto to rank by the first metric that "
                        "separates them)", metric, why or f"no candidate has a {METRICS[metric][0]}",
                        " then ".join([*later, "model name"]))
        return metric
    skipped: list[str] = []
    for m in AUTO_ORDER:
        ok, why = metric_state(models, m)
        if ok:
            used, tail = m, ""
            break
        if why:
            skipped.append(f"{m} skipped: {why}")
    else:
        used, tail = "accuracy", "; no metric separates the candidates, so ties are broken by model name"
    if skipped or tail:
        log.warning("teacher ranking (select.teacher_metric: auto, order %s): %s; ranked by %s%s",
                    " > ".join(AUTO_ORDER), "; ".join(skipped) or "nothing to rank by", used, tail)
    return used


def rank_teachers(model_scores: pl.DataFrame, metric: str = "auto") -> tuple[str, list[dict[str, Any]]]:
    """(metric used, ranking rows best first) over non-student models' overall ('all') rows.

    Ties within the metric are broken by the later metrics of AUTO_ORDER, then by the model name.
    """
    m = model_scores.filter((pl.col("domain") == "all") & (pl.col("band") == "all") & ~pl.col("is_student").fill_null(False))
    used = resolve_metric(m, metric)
    for name in METRICS.values():
        if name[0] not in m.columns:
            m = m.with_columns(pl.lit(None, dtype=pl.Float64).alias(name[0]))
    keys: list[Any] = []
    desc: list[bool] = []
    for k in [used, *AUTO_ORDER[AUTO_ORDER.index(used) + 1:]]:
        col, higher = METRICS[k]
        keys.append(pl.col(col).cast(pl.Float64).fill_nan(None))
        desc.append(higher)
    m = m.sort([*keys, pl.col("model")], descending=[*desc, False], nulls_last=True)
    col = METRICS[used][0]
    ranking = []
    for i, r in enumerate(m.iter_rows(named=True)):
        ranking.append({"rank": i + 1, "model": r["model"], "metric": used, "value": r[col],
                        "accuracy": r.get("accuracy"), "n": r.get("n"),
                        "smoke_score": r.get("smoke_score"), "smoke_ci_low": r.get("smoke_ci_low"),
                        "smoke_ci_high": r.get("smoke_ci_high"), "mean_student_rsr": r.get("mean_student_rsr"),
                        "mean_student_entropy": r.get("mean_student_entropy")})
    return used, ranking


NO_SIGNAL_FIX = ("run DED's smoke tests (`ded smoke`, teachers in smoke.teachers; then `ded score`) or score every "
                 "teacher trajectory under the student (score.student_scores.enabled: true, then `ded score`) for RSR "
                 "and token entropy")


def accuracy_fallback_warning(setting: str, metric_setting: str, used: str, ranking: list[dict[str, Any]]) -> str | None:
    """The warning for `select.teacher: auto` choosing by verified accuracy because no student signal ranks the
    candidates (None when another metric ranked them, the metric was asked for by name, or there is no choice).

    DED's point is that benchmark accuracy does not pick the best teacher, so this fallback is never silent: it
    names what was missing and how to get a student signal."""
    if setting != "auto" or metric_setting != "auto" or used != "accuracy" or len(ranking) < 2:
        return None
    have = [k for k in ("smoke_score", "mean_student_rsr", "mean_student_entropy")
            if any(r.get(k) is not None and r.get(k) == r.get(k) for r in ranking)]
    what = ("no candidate has a smoke-test score, an RSR or an entropy under the student" if not have
            else f"the student signals present ({', '.join(have)}) do not separate the candidates")
    return (f"select.teacher: auto chose {ranking[0]['model']!r} by verified accuracy alone: {what}, and DED "
            f"(arXiv 2508.09883) finds that accuracy does not pick the teacher the student learns best from. "
            f"To rank by the student, {NO_SIGNAL_FIX}; or name the teacher (select.teacher: NAME)")


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
