"""ded (arXiv 2508.09883): correct, format_ok, n_tokens <= 16k, not contaminated, not a duplicate
→ compression (drop what the student already solves) → farthest-P per question (Levenshtein) → budget with a
domain mix, questions in k-center order over their embeddings.

`select.stage` cuts the chain after one of DED's steps (the paper's Table 3 rows, at equal budget): teacher
(the chosen teacher's rows only), correct (+ correct, format, finished, length), compression (+ drop what the
student solves), diverse (+ farthest-P: the whole recipe, the default).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ded.selectors.blocks import RowFilter, Step, base_filters, domain_filter
from ded.selectors.budget import budget_step, kcenter_order, order_by
from ded.selectors.farthest import farthest_p_step
from ded.selectors.recipes import Recipe, RecipeError, Vectors

DED_STAGES = ("teacher", "correct", "compression", "diverse")
# the filters of base_filters that DED step 2 adds ("+correct"); the others (teacher, hygiene) are in every row
QUALITY_FILTERS = ("correct", "format_ok", "finished", "max_tokens")


def ded_steps(sp: Any, teachers: list[str] | None, cand: pl.DataFrame, vectors: Vectors) -> list[Step]:
    keep_missing = sp.missing_student == "keep"
    compression = RowFilter(
        "compression",
        (pl.col("student_pass_rate") <= sp.student_pass_max)
        | (pl.col("student_pass_rate").is_null() & pl.lit(keep_missing)),
        f"student pass rate <= {sp.student_pass_max}"
        + (" (questions without student rollouts kept)" if keep_missing else ""),
    )
    stage = getattr(sp, "stage", "diverse")
    upto = DED_STAGES.index(stage)
    # Before compression the budget must not prefer hard questions (hardest-first would do compression's
    # work under another name): the stage ablations teacher and correct order questions by id (a hash:
    # neutral to difficulty), and k-center starts from the first of them.
    neutral = upto < DED_STAGES.index("compression")
    difficulty = order_by([], []) if neutral else order_by(["student_pass_rate", "teacher_pass_rate"], [False, False])
    hard = "the first question by id" if neutral else "the hardest question"
    if sp.diversity == "kcenter":
        if vectors is None:
            raise RecipeError("select.diversity: kcenter needs question embeddings; run `ded embed` or set select.diversity: none")
        order = kcenter_order(vectors, difficulty, lambda d, ctx: ctx.budget["allocated"][d])
        how = f"k-center over question embeddings, seeded with {hard}"
    else:
        order, how = difficulty, ("question id order (neutral to difficulty)" if neutral
                                  else "hardest first (student, then teacher pass rate)")
    filters = base_filters(sp, teachers)
    if upto < DED_STAGES.index("correct"):
        filters = [f for f in filters if f.name not in QUALITY_FILTERS]
    return [
        *filters,
        domain_filter(sp.domain_mix),
        *([compression] if upto >= DED_STAGES.index("compression") else []),
        *([farthest_p_step(sp.p, sp.levenshtein_max_tokens, sp.workers, sp.min_lev_dist)] if stage == "diverse" else []),
        budget_step(sp.budget, sp.domain_mix, sp.fill_shortfall, order,
                    ["pick", "trajectory_id"] if stage == "diverse" else ["sample_idx", "trajectory_id"],
                    f"within the budget of {sp.budget} by domain mix {sp.domain_mix}; questions by {how}"),
    ]


RECIPE = Recipe(
    name="ded", paper="arXiv 2508.09883",
    doc="DED: correct and well-formed, not solved by the student, farthest-P traces per question, k-center order",
    steps=ded_steps, scores=("pick", "lev_min_dist", "lev_duplicate_of", "question_order"),
    hints={"compression": lambda sp, r: (f"the student solves every remaining question above "
                                         f"select.student_pass_max ({sp.student_pass_max}); raise it")},
)
