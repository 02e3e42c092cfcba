"""DED step 4 as a selection step: per question, the P trajectories farthest apart.

Distances are token-level normalized Levenshtein over the reasoning text (the response when a
trace has no reasoning block); see ded/scorers/levenshtein.py for why not character-level.
Questions with at most P survivors keep them all without reading any text.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ded.selectors.blocks import SetStep


def farthest_p_step(p: int, max_tokens: int | None, workers: int) -> SetStep:
    def fn(alive: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
        from ded.progress import progress
        from ded.scorers.diversity import farthest_p
        from ded.scorers.levenshtein import distance_matrix

        alive = alive.sort(["question_id", "trajectory_id"])
        sizes = alive.group_by("question_id").len()
        big = set(sizes.filter(pl.col("len") > p)["question_id"].to_list())
        small = alive.filter(~pl.col("question_id").is_in(list(big))).select(
            "trajectory_id",
            (pl.col("trajectory_id").cum_count().over("question_id")).cast(pl.Int64).alias("pick"),
            pl.lit(None, dtype=pl.Float64).alias("lev_min_dist"))
        rows: list[dict[str, Any]] = []
        if big:
            todo = alive.filter(pl.col("question_id").is_in(list(big)))
            texts: dict[str, str] = ctx["texts"](todo["trajectory_id"].to_list())
            groups = todo.group_by("question_id", maintain_order=True).agg(pl.col("trajectory_id"))
            with progress(total=groups.height, desc=f"select: farthest-{p} (Levenshtein)", unit="q") as bar:
                for qid, ids in groups.iter_rows():
                    d = distance_matrix([texts.get(t) for t in ids], max_tokens=max_tokens, workers=workers)
                    picks = farthest_p(d, p)
                    for k, (i, md) in enumerate(zip(picks.order, picks.min_dist)):
                        rows.append({"trajectory_id": ids[i], "pick": k + 1,
                                     "lev_min_dist": None if md != md else md})
                    bar.advance(1)
        ctx["farthest_p"] = {"p": p, "questions_over_p": len(big), "questions": sizes.height}
        chosen = pl.DataFrame(rows, schema={"trajectory_id": pl.Utf8, "pick": pl.Int64, "lev_min_dist": pl.Float64})
        return pl.concat([small.cast({"pick": pl.Int64}), chosen])

    return SetStep("farthest_p", fn, f"one of the {p} trajectories of its question farthest apart (Levenshtein)")
