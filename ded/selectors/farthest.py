"""DED step 4 as a selection step: per question, the P trajectories farthest apart.

Distances are token-level normalized Levenshtein over the reasoning text (the response when a
trace has no reasoning block); see ded/scorers/levenshtein.py for why not character-level.
Questions with at most P survivors keep them all without reading any text.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import polars as pl

from ded.selectors.blocks import SetStep

# Below this many questions a process pool costs more (spawn + imports, ~1 s) than it saves.
POOL_MIN_QUESTIONS = 64


def _job(args: tuple) -> tuple[list[int], list[float]]:
    from ded.scorers.levenshtein import farthest_p_texts

    return farthest_p_texts(*args)


def _map(jobs: Iterator[tuple], workers: int, n: int) -> Iterator[tuple[list[int], list[float]]]:
    """Results in job order (deterministic), on `workers` processes when the work is large enough.

    Processes, not threads: rapidfuzz's single-pair calls hold the GIL. "spawn", not fork: the
    parent runs DuckDB and Polars thread pools, which fork does not copy safely.
    """
    if workers <= 1 or n < POOL_MIN_QUESTIONS:
        yield from map(_job, jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        yield from ex.map(_job, jobs, chunksize=max(1, min(64, n // (workers * 16))))


def farthest_p_step(p: int, max_tokens: int | None, workers: int) -> SetStep:
    def fn(alive: pl.DataFrame, ctx: dict[str, Any]) -> pl.DataFrame:
        from ded.progress import progress

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
            groups = todo.group_by("question_id", maintain_order=True).agg(pl.col("trajectory_id")).rows()
            jobs = (([texts.get(t) for t in ids], p, max_tokens) for _, ids in groups)
            with progress(total=len(groups), desc=f"select: farthest-{p} (Levenshtein)", unit="q") as bar:
                for (qid, ids), (order, near) in zip(groups, _map(jobs, workers, len(groups))):
                    for k, (i, md) in enumerate(zip(order, near)):
                        rows.append({"trajectory_id": ids[i], "pick": k + 1,
                                     "lev_min_dist": None if math.isnan(md) else md})
                    bar.advance(1)
        ctx["farthest_p"] = {"p": p, "questions_over_p": len(big), "questions": sizes.height}
        chosen = pl.DataFrame(rows, schema={"trajectory_id": pl.Utf8, "pick": pl.Int64, "lev_min_dist": pl.Float64})
        return pl.concat([small.cast({"pick": pl.Int64}), chosen])

    return SetStep("farthest_p", fn, f"one of the {p} trajectories of its question farthest apart (Levenshtein)")
