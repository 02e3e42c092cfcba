"""DED step 4 as a selection step: per question, the P trajectories farthest apart.

Distances are token-level normalized Levenshtein over the reasoning text (the response when a
trace has no reasoning block); see ded/scorers/levenshtein.py for why not character-level.
No two kept trajectories of a question are within `min_lev_dist` of each other (default 0: never
two with the same word sequence), also in questions with at most P survivors, so copies do not
fill the corpus: the dropped copy records the kept trajectory it duplicates (`lev_duplicate_of`)
and the budget fills from other questions. A question with one survivor reads no text.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import polars as pl

from ded.progress import progress
from ded.scorers.levenshtein import farthest_picks_texts
from ded.selectors.blocks import SelectionContext, SetStep

log = logging.getLogger(__name__)

# Below this many questions a process pool costs more (spawn + imports, ~1 s) than it saves.
POOL_MIN_QUESTIONS = 64


def _job(args: tuple):
    return farthest_picks_texts(*args)


def _map(jobs: Iterator[tuple], workers: int, n: int) -> Iterator[Any]:
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


def no_choice_warning(p: int, sizes: pl.DataFrame) -> str | None:
    """The warning when farthest-P has no question with more than P candidates (it can then drop
    only exact copies, and picks no 'farthest' subset): DED samples several more than it keeps."""
    if sizes.height == 0 or int(sizes["len"].max()) > p:
        return None
    return (f"select: farthest-P chose nothing: no question has more than select.p={p} candidate trajectories "
            f"(at most {int(sizes['len'].max())} after the filters, over {sizes.height} questions), so every "
            f"trajectory that is not a copy is kept. Sample more per question than P (DED samples several more "
            f"than it keeps, e.g. 8 for P=4): raise the teachers' sampling.n or set generate.samples, then rerun "
            f"`dvc repro`; or lower select.p")


def farthest_p_step(p: int, max_tokens: int | None, workers: int, min_lev_dist: float | None = None) -> SetStep:
    """`min_lev_dist` None: `ctx.min_lev_dist` (what `ded select` sets from select.min_lev_dist), else 0."""

    def fn(alive: pl.DataFrame, ctx: SelectionContext) -> pl.DataFrame:
        sep = float(min_lev_dist if min_lev_dist is not None else ctx.min_lev_dist)

        alive = alive.sort(["question_id", "trajectory_id"])
        sizes = alive.group_by("question_id").len()
        big = sizes.filter(pl.col("len") > p).height
        warning = no_choice_warning(p, sizes)
        if warning:
            log.warning(warning)
        multi = set(sizes.filter(pl.col("len") > 1)["question_id"].to_list())
        single = alive.filter(~pl.col("question_id").is_in(list(multi))).select(
            "trajectory_id", pl.lit(1, dtype=pl.Int64).alias("pick"),
            pl.lit(None, dtype=pl.Float64).alias("lev_min_dist"), pl.lit(None, dtype=pl.Utf8).alias("lev_duplicate_of"),
            pl.lit(True).alias("keep"))
        rows: list[dict[str, Any]] = []
        copies = 0
        if multi:
            todo = alive.filter(pl.col("question_id").is_in(list(multi)))
            texts: dict[str, str] = ctx.texts(todo["trajectory_id"].to_list())
            groups = todo.group_by("question_id", maintain_order=True).agg(pl.col("trajectory_id")).rows()
            jobs = (([texts.get(t) for t in ids], p, max_tokens, sep) for _, ids in groups)
            with progress(total=len(groups), desc=f"select: farthest-{p} (Levenshtein)", unit="q") as bar:
                for (qid, ids), picks in zip(groups, _map(jobs, workers, len(groups))):
                    for k, (i, md) in enumerate(zip(picks.order, picks.min_dist)):
                        rows.append({"trajectory_id": ids[i], "pick": k + 1,
                                     "lev_min_dist": None if math.isnan(md) else md,
                                     "lev_duplicate_of": None, "keep": True})
                    # a copy (distance <= min_lev_dist) of a kept trace: dropped, naming the trace it copies
                    for i, of in picks.duplicate_of.items():
                        rows.append({"trajectory_id": ids[i], "pick": None, "lev_min_dist": None,
                                     "lev_duplicate_of": ids[of], "keep": False})
                        copies += 1
                    bar.advance(1)
        ctx.farthest_p = {"p": p, "min_lev_dist": sep, "questions_over_p": big,
                             "questions": sizes.height, "copies_dropped": copies}
        schema = {"trajectory_id": pl.Utf8, "pick": pl.Int64, "lev_min_dist": pl.Float64,
                  "lev_duplicate_of": pl.Utf8, "keep": pl.Boolean}
        chosen = pl.DataFrame(rows, schema=schema)
        return pl.concat([single.cast(schema), chosen])

    apart = "no copies" if not min_lev_dist else f"none within {min_lev_dist}"
    return SetStep("farthest_p", fn, f"one of the {p} trajectories of its question farthest apart (Levenshtein; {apart})")
