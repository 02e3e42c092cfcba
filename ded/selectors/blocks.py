"""Shared blocks of the recipes: a chain of named steps that each say keep or drop, and why.

A recipe is a list of steps run over a candidates frame (one row per trajectory considered):

- `RowFilter(name, keep_expr)`: a per-row predicate. It is evaluated on *every* row, so a row's
  reasons show each filter it passes or fails, not only the first one that dropped it.
- `SetStep(name, fn)`: a choice among the rows still alive (farthest-P, best per question, the
  budget cut). `fn(alive, ctx)` returns the kept rows' trajectory_id plus any columns it wants
  recorded (distances, pick order, rank). It may also return rows it drops, to record why: then a
  boolean `keep` column says which rows it keeps (farthest-P names the kept trace a dropped one copies).

`dropped_by` is the first step that dropped a row; the per-step counts (in, dropped, out) go to
the manifest, the console and the selection table's reasons, like datatrove's filter stats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl


@dataclass(frozen=True)
class RowFilter:
    name: str
    keep: pl.Expr
    why: str


@dataclass
class SelectionContext:
    """What the steps of one chain share: what `ded select` hands them, and what they record for the manifest."""

    texts: Callable[[list[str]], dict[str, str]] | None = None  # trajectory_id -> text (farthest-P's distances)
    min_lev_dist: float = 0.0  # farthest-P: traces this close are copies (select.min_lev_dist)
    budget: dict[str, Any] | None = None  # the budget cut: quotas, available, allocated, shortfall
    farthest_p: dict[str, Any] | None = None  # farthest-P's counts (per domain under mix_mode per_domain)
    kcenter: dict[str, Any] = field(default_factory=dict)  # per domain: centers, radius
    per_domain: dict[str, Any] | None = None  # mix_mode per_domain: each domain's own run

    def manifest_diversity(self) -> dict[str, Any]:
        """The `diversity` record of the manifest: what the diversity steps did, when they ran."""
        return {k: v for k, v in (("farthest_p", self.farthest_p), ("kcenter", self.kcenter)) if v}


@dataclass(frozen=True)
class SetStep:
    name: str
    fn: Callable[[pl.DataFrame, SelectionContext], pl.DataFrame]
    why: str


Step = RowFilter | SetStep


@dataclass
class ChainResult:
    frame: pl.DataFrame
    counts: list[dict[str, Any]] = field(default_factory=list)
    filter_columns: list[str] = field(default_factory=list)

    @property
    def kept(self) -> pl.DataFrame:
        return self.frame.filter(pl.col("kept")).sort("rank")


def pass_col(name: str) -> str:
    return f"pass_{name}"


def run_chain(cand: pl.DataFrame, steps: list[Step], ctx: SelectionContext | None = None) -> ChainResult:
    """Apply `steps` in order; every row ends with kept, dropped_by and one pass_<step> column per step."""
    ctx = ctx if ctx is not None else SelectionContext()  # steps record what they did here (budget, distances)
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"step names must be unique: {names}")
    df = cand.with_columns(pl.lit(None, dtype=pl.Utf8).alias("dropped_by"))
    counts: list[dict[str, Any]] = []
    for step in steps:
        alive_before = df.filter(pl.col("dropped_by").is_null()).height
        col = pass_col(step.name)
        if isinstance(step, RowFilter):
            df = df.with_columns(step.keep.fill_null(False).alias(col))
        else:
            alive = df.filter(pl.col("dropped_by").is_null())
            kept = step.fn(alive, ctx)
            if "trajectory_id" not in kept.columns:
                raise ValueError(f"step {step.name} must return trajectory_id")
            # A repeated id would multiply rows in the join below (the demo's budget once read
            # "71 in, -10 dropped, 81 out"); an id that was not alive would resurrect a dropped row.
            if kept["trajectory_id"].is_duplicated().any():
                dup = kept.filter(pl.col("trajectory_id").is_duplicated())["trajectory_id"].unique().sort().to_list()
                raise ValueError(f"step {step.name} returned {len(dup)} trajectory ids more than once (e.g. {dup[:3]})")
            stray = kept.filter(~pl.col("trajectory_id").is_in(alive["trajectory_id"].implode()))
            if stray.height:
                raise ValueError(f"step {step.name} returned {stray.height} trajectory ids that were not alive "
                                 f"(e.g. {stray['trajectory_id'].head(3).to_list()})")
            if "keep" in kept.columns:  # rows it drops come with their own columns (why), keep = false
                kept = kept.with_columns(pl.col("keep").fill_null(False).alias(col)).drop("keep")
            else:
                kept = kept.with_columns(pl.lit(True).alias(col))
            extra = [c for c in kept.columns if c not in ("trajectory_id", col)]
            clash = [c for c in extra if c in df.columns]
            if clash:
                df = df.drop(clash)
            df = df.join(kept, on="trajectory_id", how="left")
            # Rows already dropped were not considered by this step: null, not false.
            df = df.with_columns(
                pl.when(pl.col("dropped_by").is_null()).then(pl.col(col).fill_null(False)).otherwise(None).alias(col)
            )
        df = df.with_columns(
            pl.when(pl.col("dropped_by").is_null() & ~pl.col(col).fill_null(True))
            .then(pl.lit(step.name)).otherwise(pl.col("dropped_by")).alias("dropped_by")
        )
        alive_after = df.filter(pl.col("dropped_by").is_null()).height
        counts.append({"step": step.name, "why": step.why, "in": alive_before,
                       "dropped": alive_before - alive_after, "out": alive_after})
    df = df.with_columns(pl.col("dropped_by").is_null().alias("kept"))
    if "rank" not in df.columns:
        df = df.with_columns(pl.lit(None, dtype=pl.Int64).alias("rank"))
    df = df.with_columns(pl.when(pl.col("kept")).then(pl.col("rank")).otherwise(None).cast(pl.Int64).alias("rank"))
    return ChainResult(df, counts, [pass_col(n) for n in names])


# -- row filters shared by the recipes ------------------------------------------------------
def base_filters(sp: Any, teachers: list[str] | None) -> list[Step]:
    """Teacher, correctness, format, length, contamination and duplicate filters (DED step 2)."""
    steps: list[Step] = []
    if teachers is not None:
        steps.append(RowFilter("teacher", pl.col("model").is_in(teachers), f"model is a chosen teacher {teachers}"))
    if sp.require_correct:
        steps.append(RowFilter("correct", pl.col("correct") == True, "trusted verdict is correct"))
    if sp.require_format:
        steps.append(RowFilter("format_ok", pl.col("format_ok") == True, "strictly paired <think>…</think>"))
    if sp.require_finished:
        steps.append(RowFilter("finished", pl.col("finished") == True, "not cut off, no open reasoning block"))
    steps.append(RowFilter("max_tokens", pl.col("n_tokens") <= sp.max_tokens, f"n_tokens <= {sp.max_tokens}"))
    if sp.drop_contaminated:
        steps.append(RowFilter("not_contaminated", ~pl.col("contaminated"), "question not matched against a benchmark"))
    if getattr(sp, "drop_benchmark_near_duplicates", False):
        steps.append(RowFilter("not_benchmark_near_duplicate", ~pl.col("benchmark_near_duplicate"),
                               "question is not a benchmark item with its numbers changed"))
    if sp.drop_duplicates:
        steps.append(RowFilter("not_duplicate", ~pl.col("is_duplicate"), "question is its duplicate group's representative"))
    return steps


def domain_filter(mix: dict[str, float]) -> RowFilter:
    listed = sorted(d for d, s in mix.items() if s > 0)
    return RowFilter("domain_mix", pl.col("domain").is_in(listed), f"domain in the mix {listed}")


def best_per_question(name: str, by: str, descending: bool, why: str) -> SetStep:
    """Keep one trajectory per question: the best by `by` (ties: smallest trajectory_id)."""

    def fn(alive: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
        if alive.height == 0:
            return alive.select("trajectory_id")
        s = alive.filter(pl.col(by).is_not_null()).sort([by, "trajectory_id"], descending=[descending, False])
        return s.group_by("question_id", maintain_order=True).first().select("trajectory_id")

    return SetStep(name, fn, why)
