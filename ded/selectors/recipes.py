"""The recipes, each a chain of named steps built from the shared blocks.

- ded (arXiv 2508.09883): correct, format_ok, n_tokens <= 16k, not contaminated, not a duplicate
  → compression (drop what the student already solves) → farthest-P per question (Levenshtein)
  → budget with a domain mix, questions in k-center order over their embeddings.
- limo (arXiv 2502.03387): a solve-count window (1-3 of 32 by a strong model) → the best
  trajectory per question by the LIMO rule score → top N.
- s1k (arXiv 2501.19393): quality filters → the domains of select.domain_mix → drop what named models solve → the longest trace per
  question → sample domains uniformly, and within a domain a question with weight 2^-rank by
  reasoning length (s1's Algorithm 1), seeded.
- rsr (arXiv 2601.14249): per question the trajectory with the lowest RSR under the student → top N.
- random (ded/selectors/random.py): the baseline: the same teachers, budget and domain mix, rows drawn
  uniformly (seeded), no curation.

`select.stage` cuts the ded chain after one of DED's steps (the paper's Table 3 rows, at equal budget):
teacher (the chosen teacher's rows only), correct (+ correct, format, finished, length), compression
(+ drop what the student solves), diverse (+ farthest-P: the whole recipe, the default).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from ded.errors import DedError
from ded.selectors.blocks import (
    RowFilter,
    SetStep,
    Step,
    base_filters,
    best_per_question,
    domain_filter,
)
from ded.selectors.budget import budget_step, kcenter_order, order_by
from ded.selectors.farthest import farthest_p_step

RECIPES = ("ded", "limo", "s1k", "rsr", "random")
DED_STAGES = ("teacher", "correct", "compression", "diverse")
# the filters of base_filters that DED step 2 adds ("+correct"); the others (teacher, hygiene) are in every row
QUALITY_FILTERS = ("correct", "format_ok", "finished", "max_tokens")


class RecipeError(DedError):
    """A recipe cannot run on this lake; the message says which score or stage is missing."""


def _need(cand: pl.DataFrame, column: str, fix: str) -> None:
    if column not in cand.columns or cand[column].is_null().all():
        raise RecipeError(f"this recipe needs trajectory_scores.{column}, which is empty; {fix}")


def ded_steps(sp: Any, teachers: list[str], vectors: Callable[[list[str]], dict[str, np.ndarray]] | None) -> list[Step]:
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
        order = kcenter_order(vectors, difficulty, lambda d, ctx: ctx["budget"]["allocated"][d])
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


def limo_steps(sp: Any, teachers: list[str], cand: pl.DataFrame) -> list[Step]:
    _need(cand, "limo_score", "run `ded score` with score.limo: true")
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


def rsr_steps(sp: Any, teachers: list[str], cand: pl.DataFrame) -> list[Step]:
    _need(cand, "student_rsr", "run `ded score --student-scores` (or set score.student_scores.enabled: true) to score "
                               "every teacher trajectory under the student, then `ded select --recipe rsr` again")
    return [
        *base_filters(sp, teachers),
        domain_filter(sp.domain_mix),
        RowFilter("has_rsr", pl.col("student_rsr").is_not_null(), "scored under the student"),
        best_per_question("lowest_rsr", "student_rsr", False, "the lowest RSR of its question"),
        budget_step(sp.budget, sp.domain_mix, sp.fill_shortfall, order_by(["student_rsr"], [False]), ["trajectory_id"],
                    f"top {sp.budget} by lowest RSR, by domain mix {sp.domain_mix}"),
    ]


def s1k_sample(budget: int, seed: int) -> SetStep:
    """s1's diversity sampling: a uniform domain, then a question with weight 2^-rank by length."""

    def fn(alive: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
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
        ctx["budget"] = {"budget": budget, "allocated": {"all": len(picked)}, "shortfall": budget - len(picked)}
        return pl.DataFrame({"trajectory_id": picked, "rank": list(range(1, len(picked) + 1))},
                            schema={"trajectory_id": pl.Utf8, "rank": pl.Int64})

    return SetStep("s1k_sample", fn, f"{budget} drawn: uniform domain, then 2^-rank by reasoning length (seed {seed})")


def s1k_steps(sp: Any, teachers: list[str], cand: pl.DataFrame) -> list[Step]:
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


_EMPTY_HINTS: dict[str, Callable[[Any, pl.DataFrame], str]] = {
    "solve_window": _limo_window_hint,
    "weak_attempted": lambda sp, r: (f"no question has a scored answer by select.limo.weak_models "
                                     f"{list(sp.limo.weak_models)}: generate with them first, or set "
                                     f"select.limo.weak_models: [] to skip LIMO's first pass"),
    "solvers_attempted": lambda sp, r: (f"no question has a scored answer by select.s1k.solver_models "
                                        f"{list(sp.s1k.solver_models)}: generate with them (add them to "
                                        f"generate.models, then ded generate, ded verify, ded score), or set "
                                        f"select.s1k.solver_models: [] to skip s1's difficulty filter"),
    "teacher": lambda sp, r: (f"no candidate is by the chosen teachers; pick others with --teacher NAME or "
                              f"--teacher all (models here: {sorted(r['model'].unique().to_list())})"),
    "correct": lambda sp, r: "no trusted verdict is correct: check score.verifiers (`ded verify`, then `ded score`)",
    "domain_mix": lambda sp, r: (f"no candidate is in the domains of select.domain_mix {sorted(sp.domain_mix)}; "
                                 f"domains here: {sorted(r['domain'].unique().to_list())}"),
    "compression": lambda sp, r: (f"the student solves every remaining question above select.student_pass_max "
                                  f"({sp.student_pass_max}); raise it"),
    "not_solved_by_solvers": lambda sp, r: f"{list(sp.s1k.solver_models)} solve every question; name fewer select.s1k.solver_models",
}


def empty_hint(sp: Any, step: str, reached: pl.DataFrame) -> str:
    """How to fix a selection that `step` emptied; `reached` holds the candidates that step dropped."""
    fn = _EMPTY_HINTS.get(step)
    return fn(sp, reached) if fn else "loosen that step's settings under `select` in params.yaml"


def build_steps(sp: Any, teachers: list[str], cand: pl.DataFrame,
                vectors: Callable[[list[str]], dict[str, np.ndarray]] | None) -> list[Step]:
    if sp.recipe == "ded":
        return ded_steps(sp, teachers, vectors)
    if sp.recipe == "limo":
        return limo_steps(sp, teachers, cand)
    if sp.recipe == "s1k":
        return s1k_steps(sp, teachers, cand)
    if sp.recipe == "rsr":
        return rsr_steps(sp, teachers, cand)
    if sp.recipe == "random":
        from ded.selectors.random import random_steps

        return random_steps(sp, teachers)
    raise RecipeError(f"unknown recipe {sp.recipe!r}; choose one of {RECIPES}")
