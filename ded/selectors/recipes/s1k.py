"""s1k (arXiv 2501.19393): quality filters → the domains of select.domain_mix → drop what named models solve →
the longest trace per question → sample domains uniformly, and within a domain a question with weight 2^-rank by
reasoning length (s1's Algorithm 1), seeded."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl

from ded.selectors.blocks import (
    RowFilter,
    SelectionContext,
    SetStep,
    Step,
    base_filters,
    best_per_question,
    domain_filter,
)
from ded.selectors.recipes import Recipe, RecipeError, Vectors

log = logging.getLogger(__name__)


def s1k_sample(budget: int, seed: int) -> SetStep:
    """s1's diversity sampling: a uniform domain, then a question with weight 2^-rank by length."""

    def fn(alive: pl.DataFrame, ctx: SelectionContext) -> pl.DataFrame:
        rng = np.random.default_rng(seed)
        pools: dict[str, list[str]] = {}
        s = alive.sort(["s1k_domain", "reasoning_chars", "trajectory_id"], descending=[False, True, False], nulls_last=True)
        for dom, tid in s.select(pl.col("s1k_domain").fill_null("(none)"), "trajectory_id").iter_rows():
            pools.setdefault(dom, []).append(tid)
        picked: list[str] = []
        while len(picked) < budget and pools:
            doms = sorted(pools)
            dom = doms[int(rng.integers(len(doms)))]
            pool = pools[dom]
            w = np.exp2(-np.arange(1, len(pool) + 1, dtype=np.float64))
            i = int(rng.choice(len(pool), p=w / w.sum()))
            picked.append(pool.pop(i))
            if not pool:
                del pools[dom]
        ctx.budget = {"budget": budget, "allocated": {"all": len(picked)}, "shortfall": budget - len(picked)}
        return pl.DataFrame({"trajectory_id": picked, "rank": list(range(1, len(picked) + 1))},
                            schema={"trajectory_id": pl.Utf8, "rank": pl.Int64})

    return SetStep("s1k_sample", fn, f"{budget} drawn: uniform domain, then 2^-rank by reasoning length (seed {seed})")


def s1k_steps(sp: Any, teachers: list[str] | None, cand: pl.DataFrame, _vectors: Vectors) -> list[Step]:
    s1 = sp.model_copy(update={"require_correct": sp.s1k.require_correct})
    # select.domain_mix decides which domains enter (s1 then draws uniformly among its subject domains)
    steps = [*base_filters(s1, teachers), domain_filter(sp.domain_mix)]
    if sp.s1k.solver_models:
        # s1 drops what the solvers answer correctly; a question they never answered cannot be judged hard
        steps.append(RowFilter("solvers_attempted", pl.col("solver_attempts") > 0,
                               f"answered at least once by {sp.s1k.solver_models} (difficulty is judged)"))
        steps.append(RowFilter("not_solved_by_solvers", pl.col("solver_correct") == 0,
                               f"no correct answer from {sp.s1k.solver_models}"))
    steps.append(best_per_question("longest", "reasoning_chars", True, "the longest reasoning of its question"))
    steps.append(s1k_sample(sp.budget, sp.seed))
    return steps


def add_s1k_domain(cand: pl.DataFrame, sp: Any) -> pl.DataFrame:
    """The `s1k_domain` column s1 samples over, from select.s1k.domain_key (a candidates column or metadata.KEY)."""
    key = sp.s1k.domain_key
    if key.startswith("metadata."):
        path = "$." + key.removeprefix("metadata.")
        expr = pl.col("metadata").str.json_path_match(path)
    elif key in cand.columns:
        expr = pl.col(key).cast(pl.Utf8)
    else:
        raise RecipeError(f"select.s1k.domain_key={key!r} is neither a candidates column ({sorted(cand.columns)}) "
                          f"nor metadata.KEY")
    cand = cand.with_columns(expr.alias("s1k_domain"))
    if cand.height:
        missing = cand["s1k_domain"].null_count() / cand.height
        if missing > 0.5:
            log.warning("select.s1k.domain_key=%r is empty for %.0f%% of the candidates: s1k then samples them as one "
                        "'(none)' domain; name a key the questions carry (domain, source, metadata.KEY)",
                        key, 100 * missing)
    if len(set(sp.domain_mix.values())) > 1:
        log.warning("recipe s1k draws domains uniformly (s1's Algorithm 1): select.domain_mix %s decides which "
                    "domains enter, not their shares", dict(sp.domain_mix))
    return cand


RECIPE = Recipe(
    name="s1k", paper="arXiv 2501.19393",
    doc="s1K: quality filters, questions named solvers miss, the longest trace, domains sampled uniformly by length",
    steps=s1k_steps, reads=("s1k",), scores=("solver_correct", "reasoning_chars"), prepare=add_s1k_domain,
    hints={
        "solvers_attempted": lambda sp, r: (f"no question has a scored answer by select.s1k.solver_models "
                                            f"{list(sp.s1k.solver_models)}: generate with them (add them to "
                                            f"generate.models, then ded generate, ded verify, ded score), or set "
                                            f"select.s1k.solver_models: [] to skip s1's difficulty filter"),
        "not_solved_by_solvers": lambda sp, r: (f"{list(sp.s1k.solver_models)} solve every question; name fewer "
                                                f"select.s1k.solver_models"),
    },
)
