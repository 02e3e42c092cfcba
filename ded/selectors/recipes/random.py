"""The `random` recipe: the baseline every other recipe is measured against (`ded ablate`, docs/ablation.md).

Same teacher pool, same budget, same domain mix as the recipe it is compared with, and nothing else: the
chosen teachers' trajectories (select.teacher), minus the hygiene that no baseline may skip (questions
matched against a benchmark, duplicate questions), then a uniform draw of rows within each domain's quota
(the budget step's quotas, fill_shortfall included), seeded by `select.seed`. No correctness, format,
length, difficulty or diversity filter: the question "does this selection beat a random corpus of the
same size?" needs the random corpus to be what the pool gives without curation.

Users can select it on its own (`select.recipe: random`, `ded select --recipe random`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ded.selectors.blocks import (
    RowFilter,
    SelectionContext,
    SetStep,
    Step,
    domain_filter,
)
from ded.selectors.budget import plan_quotas
from ded.selectors.recipes import Recipe, Vectors


def random_steps(sp: Any, teachers: list[str] | None, _cand: pl.DataFrame | None = None,
                 _vectors: Vectors = None) -> list[Step]:
    """teacher → not contaminated → not a duplicate → domain mix → a seeded uniform draw of rows per quota."""
    steps: list[Step] = []
    if teachers is not None:
        steps.append(RowFilter("teacher", pl.col("model").is_in(teachers), f"model is a chosen teacher {teachers}"))
    if sp.drop_contaminated:
        steps.append(RowFilter("not_contaminated", ~pl.col("contaminated"), "question not matched against a benchmark"))
    if sp.drop_duplicates:
        steps.append(RowFilter("not_duplicate", ~pl.col("is_duplicate"), "question is its duplicate group's representative"))
    steps.append(domain_filter(sp.domain_mix))
    steps.append(random_budget(sp.budget, sp.domain_mix, sp.fill_shortfall, sp.seed))
    return steps


def random_budget(budget: int, mix: dict[str, float], fill: bool, seed: int) -> SetStep:
    """Each domain's quota (the budget step's largest-remainder quotas, shortfall lent under `fill`) filled
    with rows drawn uniformly without replacement: a seeded permutation of the domain's sorted ids."""

    def fn(alive: pl.DataFrame, ctx: SelectionContext) -> pl.DataFrame:
        want, _, got = plan_quotas(alive, budget, mix, fill, ctx)
        ids, rank = [], []
        for d in sorted(want, key=lambda d: (-want[d], d)):
            pool = sorted(alive.filter(pl.col("domain") == d)["trajectory_id"].to_list())
            rng = np.random.default_rng([seed, *d.encode()])  # per domain: a domain's draw ignores the others'
            pick = [pool[i] for i in rng.permutation(len(pool))[: got[d]]]
            ids += pick
            rank += range(len(rank) + 1, len(rank) + len(pick) + 1)
        return pl.DataFrame({"trajectory_id": ids, "rank": rank}, schema={"trajectory_id": pl.Utf8, "rank": pl.Int64})

    return SetStep("budget", fn, f"{budget} rows drawn uniformly at random (seed {seed}) by domain mix {mix}")


RECIPE = Recipe(
    name="random", paper="baseline",
    doc="the baseline: the same teachers, budget and domain mix, rows drawn uniformly (seeded), no curation",
    steps=random_steps,
)
