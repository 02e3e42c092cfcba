"""rsr (arXiv 2601.14249): per question the trajectory with the lowest RSR under the student → top N."""

from __future__ import annotations

from typing import Any

import polars as pl

from ded.selectors.blocks import (
    RowFilter,
    Step,
    base_filters,
    best_per_question,
    domain_filter,
)
from ded.selectors.budget import budget_step, order_by
from ded.selectors.recipes import Recipe, Vectors, need


def rsr_steps(sp: Any, teachers: list[str] | None, cand: pl.DataFrame, _vectors: Vectors) -> list[Step]:
    need(cand, "student_rsr", "run `ded score --student-scores` (or set score.student_scores.enabled: true) to score "
                               "every teacher trajectory under the student, then `ded select --recipe rsr` again")
    return [
        *base_filters(sp, teachers),
        domain_filter(sp.domain_mix),
        RowFilter("has_rsr", pl.col("student_rsr").is_not_null(), "scored under the student"),
        best_per_question("lowest_rsr", "student_rsr", False, "the lowest RSR of its question"),
        budget_step(sp.budget, sp.domain_mix, sp.fill_shortfall, order_by(["student_rsr"], [False]), ["trajectory_id"],
                    f"top {sp.budget} by lowest RSR, by domain mix {sp.domain_mix}"),
    ]


RECIPE = Recipe(
    name="rsr", paper="arXiv 2601.14249",
    doc="RSR: per question the trajectory the student finds least surprising for its rank (lowest RSR), top N",
    steps=rsr_steps, needs=("student_rsr",), scores=("student_rsr", "student_entropy"),
)
