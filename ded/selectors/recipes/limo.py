"""limo (arXiv 2502.03387): a solve-count window (1-3 of 32 by a strong model) → the best trajectory per
question by the LIMO rule score → top N."""

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
from ded.selectors.recipes import Recipe, RecipeError, Vectors, need


def limo_steps(sp: Any, teachers: list[str] | None, cand: pl.DataFrame, _vectors: Vectors) -> list[Step]:
    need(cand, "limo_score", "run `ded score` with score.limo: true")
    lo, hi = sp.limo.min_correct, sp.limo.max_correct
    if lo > hi:
        raise RecipeError(f"select.limo.min_correct ({lo}) is above max_correct ({hi})")
    weak = list(sp.limo.weak_models)
    first_pass = [] if not weak else [
        RowFilter("weak_attempted", pl.col("weak_attempts") > 0, f"answered at least once by the weak models {weak}"),
        RowFilter("not_easy", pl.col("weak_correct") <= sp.limo.weak_max_correct,
                  f"solved at most {sp.limo.weak_max_correct} times by the weak models {weak} (LIMO's first pass)"),
    ]
    return [
        *base_filters(sp, teachers),
        domain_filter(sp.domain_mix),
        *first_pass,
        RowFilter("solve_window", pl.col("ref_correct").is_between(lo, hi),
                  f"solved {lo}-{hi} times by the reference models"),
        best_per_question("best_rule_score", "limo_score", True, "the highest LIMO rule score of its question"),
        budget_step(sp.budget, sp.domain_mix, sp.fill_shortfall, order_by(["limo_score"], [True]), ["trajectory_id"],
                    f"top {sp.budget} by LIMO rule score, by domain mix {sp.domain_mix}"),
    ]


def _limo_window_hint(sp: Any, reached: pl.DataFrame) -> str:
    """Why LIMO's solve window kept no question, from the solve counts of the questions that reached it."""
    lo, hi = sp.limo.min_correct, sp.limo.max_correct
    refs = list(sp.limo.reference_models)
    who = f"reference models {refs}" if refs else "reference models (select.limo.reference_models: [], so every non-student model)"
    q = reached.group_by("question_id").agg(pl.col("ref_correct").first(), pl.col("ref_attempts").first())
    if q["ref_attempts"].max() == 0:
        return (f"the {who} have no scored trajectories for these questions; name models that answered them "
                f"in select.limo.reference_models (`ded sql \"select model, count(*) from trajectory_scores group by 1\"`)")
    a_lo, a_hi = q["ref_attempts"].min(), q["ref_attempts"].max()
    attempts = f"{a_lo}" if a_lo == a_hi else f"{a_lo}-{a_hi}"
    hist = q.group_by("ref_correct").len().sort("ref_correct")
    c_lo, c_hi = hist["ref_correct"].min(), hist["ref_correct"].max()
    counts = (f"solved {c_lo if c_lo == c_hi else f'{c_lo}-{c_hi}'} times (questions by solve count: "
              + ", ".join(f"{c}: {n}" for c, n in hist.iter_rows()) + ")")
    # the narrowest window from the fewest solves up that holds the budget (LIMO keeps one trajectory a question)
    solved = hist.filter(pl.col("ref_correct") > 0)
    fix = ""
    if solved.height:
        need, total, top = min(sp.budget, int(solved["len"].sum())), 0, None
        for c, n in solved.iter_rows():
            total, top = total + n, c
            if total >= need:
                break
        fix = (f", or fit the window to these counts: select.limo: {{min_correct: {solved['ref_correct'][0]}, "
               f"max_correct: {top}}} keeps the {total} least-solved questions that some answer solves")
    return (f"LIMO's window counts the correct answers of the {who}: each question here got {attempts} attempts "
            f"and was {counts}, none within {lo}-{hi}. LIMO's 1-3 is out of 32 samples of one strong model: set "
            f"select.limo.reference_models to a model with that many samples per question{fix}")


RECIPE = Recipe(
    name="limo", paper="arXiv 2502.03387",
    doc="LIMO: questions solved 1-3 times by reference models, the best trajectory by LIMO's rule score, top N",
    steps=limo_steps, reads=("limo",), needs=("limo_score",), scores=("ref_correct", "limo_score"),
    hints={
        "solve_window": _limo_window_hint,
        "weak_attempted": lambda sp, r: (f"no question has a scored answer by select.limo.weak_models "
                                         f"{list(sp.limo.weak_models)}: generate with them first, or set "
                                         f"select.limo.weak_models: [] to skip LIMO's first pass"),
    },
)
