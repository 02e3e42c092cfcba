"""The budget cut: order questions, then fill each domain's quota exactly.

Quotas split the budget by `domain_mix` with the largest-remainder method (so they sum to the
budget exactly). Questions of a domain come in a given order (k-center over question embeddings
for DED, a score for LIMO/RSR); each question brings its surviving trajectories in their own pick
order, and the last question of a domain may be cut partway so the quota is met to the row.
A domain short of rows lends its unused quota to the other domains of the mix
(`fill_shortfall`); what remains unmet is reported as a shortfall, loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from ded.scorers.diversity import kcenter_iter
from ded.selectors.blocks import SelectionContext, SetStep

log = logging.getLogger(__name__)


def quotas(budget: int, mix: dict[str, float]) -> dict[str, int]:
    """Integer quotas summing to `budget`, proportional to `mix` (largest remainder; ties by name)."""
    mix = {d: float(s) for d, s in mix.items() if s > 0}
    if not mix:
        raise ValueError("select.domain_mix needs at least one domain with a positive share, e.g. {math: 1.0}")
    total = sum(mix.values())
    raw = {d: budget * s / total for d, s in mix.items()}
    q = {d: int(np.floor(v)) for d, v in raw.items()}
    left = budget - sum(q.values())
    for d in sorted(raw, key=lambda d: (-(raw[d] - q[d]), d))[:left]:
        q[d] += 1
    return q


def allocate(want: dict[str, int], have: dict[str, int], fill: bool) -> dict[str, int]:
    """Final rows per domain: min(want, have), then unused quota to domains with rows left."""
    got = {d: min(want[d], have.get(d, 0)) for d in want}
    if fill:
        spare = sum(want.values()) - sum(got.values())
        for d in sorted(want, key=lambda d: (-want[d], d)):
            extra = min(spare, have.get(d, 0) - got[d])
            got[d] += extra
            spare -= extra
    return got


OrderFn = Callable[[pl.DataFrame, str, dict[str, Any]], list[str]]


def plan_quotas(alive: pl.DataFrame, budget: int, mix: dict[str, float], fill: bool,
                ctx: SelectionContext) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(quotas, rows available, rows allocated) per domain for a budget cut, recorded in ctx.budget: the
    largest-remainder quotas of the mix, a shortfall lent to other domains under `fill`."""
    want = quotas(budget, mix)
    have = dict(alive.group_by("domain").len().iter_rows()) if alive.height else {}
    got = allocate(want, have, fill)
    ctx.budget = {"budget": budget, "quotas": want, "available": {d: have.get(d, 0) for d in want},
                     "allocated": got, "shortfall": budget - sum(got.values())}
    return want, have, got


def budget_step(budget: int, mix: dict[str, float], fill: bool, order_questions: OrderFn,
                traj_order: list[str], why: str) -> SetStep:
    """The final cut. `order_questions(qframe, domain, ctx)` returns that domain's question ids in
    preference order; `traj_order` sorts a question's trajectories (e.g. ["pick", "trajectory_id"])."""

    def fn(alive: pl.DataFrame, ctx: SelectionContext) -> pl.DataFrame:
        want, have, got = plan_quotas(alive, budget, mix, fill, ctx)
        short = {d: (have.get(d, 0), want[d]) for d in want if have.get(d, 0) < want[d]}
        lent = {d: got[d] - want[d] for d in want if got[d] > want[d]}
        if short and lent:
            log.warning("domain mix not met as asked: %s had fewer rows than their quota, so %s took the rest "
                        "(select.fill_shortfall: true; false keeps the quotas and reports a shortfall)",
                        ", ".join(f"{d} {n} of {w}" for d, (n, w) in sorted(short.items())),
                        ", ".join(f"{d} +{n}" for d, n in sorted(lent.items())))
        if 0 < ctx.budget["shortfall"] < budget:  # nothing at all: the stage's error says why, once
            log.warning("recipe found %d rows, fewer than the budget of %d (shortfall %d; by domain: %s)",
                        sum(got.values()), budget, ctx.budget["shortfall"], ctx.budget["available"])
        out, rank = [], 0
        for d in sorted(want, key=lambda d: (-want[d], d)):
            sub = alive.filter(pl.col("domain") == d)
            if got[d] == 0 or sub.height == 0:
                continue
            qids = order_questions(sub, d, ctx)
            pos = {q: i for i, q in enumerate(qids)}
            sub = sub.filter(pl.col("question_id").is_in(list(pos)))
            sub = sub.with_columns(pl.col("question_id").replace_strict(pos, return_dtype=pl.Int64).alias("_qpos"))
            sub = sub.sort(["_qpos", *traj_order]).head(got[d])
            n = sub.height
            out.append(sub.select("trajectory_id", "_qpos").with_columns(
                pl.int_range(rank + 1, rank + n + 1, dtype=pl.Int64).alias("rank"),
                (pl.col("_qpos") + 1).alias("question_order")).drop("_qpos"))
            rank += n
        if not out:
            return pl.DataFrame(schema={"trajectory_id": pl.Utf8, "rank": pl.Int64, "question_order": pl.Int64})
        return pl.concat(out)

    return SetStep("budget", fn, why)


def order_by(columns: list[str], descending: list[bool]) -> OrderFn:
    """Questions ordered by their first row's values of `columns` (ties: question_id)."""

    def fn(sub: pl.DataFrame, domain: str, ctx: SelectionContext) -> list[str]:
        q = sub.group_by("question_id").agg([pl.col(c).first() for c in columns])
        return q.sort([*columns, "question_id"], descending=[*descending, False], nulls_last=True)["question_id"].to_list()

    return fn


def kcenter_order(vectors: Callable[[list[str]], dict[str, np.ndarray]], seed_order: OrderFn,
                  limit: Callable[[str, dict[str, Any]], int]) -> OrderFn:
    """k-center over question embeddings, seeded with the first question of `seed_order`.

    Centers are drawn lazily until their questions bring `limit(domain)` rows (the domain's quota):
    with P rows per question that is ~quota / P centers, not one per row. The rest of the questions
    follow in `seed_order` (the budget cut never reaches them).
    """
    def fn(sub: pl.DataFrame, domain: str, ctx: SelectionContext) -> list[str]:
        base = seed_order(sub, domain, ctx)
        vecs = vectors(base)
        missing = [q for q in base if q not in vecs]
        if missing:
            raise LookupError(f"{len(missing)} of {len(base)} candidate {domain} questions have no embedding "
                              f"(e.g. {missing[:3]}); run `ded embed` first or set select.diversity: none")
        rows = dict(sub.group_by("question_id").len().iter_rows())
        need = limit(domain, ctx)
        mat = np.stack([vecs[q] for q in base])
        head, got, radius = [], 0, None
        for i, d in kcenter_iter(mat, first=0):
            head.append(base[i])
            got += rows[base[i]]
            radius = d
            if got >= need:
                break
        chosen = set(head)
        ctx.kcenter[domain] = {"centers": len(head), "radius": radius if len(head) > 1 else None}
        return head + [q for q in base if q not in chosen]

    return fn
