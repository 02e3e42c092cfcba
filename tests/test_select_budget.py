"""The budget counts trajectories (examples, as DED's 0.8k) and is met exactly, with P > 1 per question.

Regression: on the demo with `select.budget: 48` the budget step read "71 in, -10 dropped, 81 out".
Farthest-P picked one trajectory twice when a question's traces were identical (all distances 0:
argmax over np.triu(d, 1) is the diagonal cell), and the duplicate id multiplied rows in the chain.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from lake_builder import LakeBuilder

from ded.params import parse_params
from ded.scorers.diversity import farthest_p
from ded.selectors.blocks import SelectionContext, SetStep, run_chain
from ded.stages import score, select

ROOT = Path(__file__).resolve().parents[1]


def test_farthest_p_identical_items_never_repeat():
    # all copies: one pick stands for them (never one item twice, never two copies), the rest name it
    for n, p in ((3, 2), (5, 4), (2, 2), (6, 3)):
        picks = farthest_p(np.zeros((n, n)), p)
        assert picks.order == [0], (n, p, picks.order)
        assert picks.duplicate_of == {i: 0 for i in range(1, n)}
    # a zero block among distinct items: the farthest pair first, and the block's copy is never added
    d = np.array([[0, 0, 0.9], [0, 0, 0.5], [0.9, 0.5, 0]])
    assert farthest_p(d, 2).order == [0, 2]
    three = farthest_p(d, 3)
    assert three.order == [0, 2] and three.duplicate_of == {1: 0}
    # n <= p (no choice to make): still no copies
    assert farthest_p(d, 5).order == [0, 2]
    # min_sep: a near-copy (0.05 away) is dropped like an exact one
    near = np.array([[0, 0.05, 0.9], [0.05, 0, 0.8], [0.9, 0.8, 0]])
    assert farthest_p(near, 3).order == [0, 1, 2]  # n <= p: index order
    assert farthest_p(near, 3, min_sep=0.1).order == [0, 2]
    assert farthest_p(near, 3, min_sep=0.1).duplicate_of == {1: 0}


def test_chain_rejects_a_step_that_returns_an_id_twice_or_a_dead_one():
    cand = pl.DataFrame({"trajectory_id": ["a", "b", "c"], "question_id": ["q", "q", "q"]})
    twice = SetStep("twice", lambda alive, ctx: pl.DataFrame({"trajectory_id": ["a", "a"]}), "bug")
    with pytest.raises(ValueError, match="twice returned 1 trajectory ids more than once"):
        run_chain(cand, [twice])
    stray = SetStep("stray", lambda alive, ctx: pl.DataFrame({"trajectory_id": ["z"]}), "bug")
    with pytest.raises(ValueError, match="stray returned 1 trajectory ids that were not alive"):
        run_chain(cand, [stray])


def _lake_identical_traces(lake, n_math=8, n_code=6, per_q=4):
    """Each question has `per_q` correct traces from one teacher; odd questions' traces are identical
    (farthest-P sees an all-zero distance matrix), even ones are distinct."""
    b = LakeBuilder()
    for dom, n in (("math", n_math), ("code", n_code)):
        for i in range(n):
            q = b.add_question(f"{dom} question {i}: compute {i} * 3.", domain=dom, answer=str(3 * i))
            for k in range(per_q):
                text = "Same steps every time, word for word." if i % 2 else f"Path {k}: " + "step " * (k + 1) * 5
                b.add(q, "good", reasoning=text, n_tokens=300 + k)
    b.write(lake)


def _params(tmp_path, **sel):
    s = {"budget": 10, "p": 3, "diversity": "none", "domain_mix": {"math": 0.5, "code": 0.5},
         "export": {"out_dir": str(tmp_path / "corpus"), "hf_dataset": False}, **sel}
    return parse_params({"score": {"verifiers": ["math"]}, "select": s})


def _check_consistent(lake, m):
    """Manifest, selection rows and train.jsonl agree; every step's in - dropped = out."""
    for s in m["steps"]:
        assert s["dropped"] >= 0 and s["in"] - s["dropped"] == s["out"], s
    sel = pl.from_arrow(lake.read("selection", filter=f"run_id = '{m['run_id']}'"))
    assert sel["trajectory_id"].is_unique().all()
    kept = sel.filter(pl.col("kept"))
    assert kept.height == m["rows"] == m["steps"][-1]["out"]
    assert dict(kept.group_by("domain").len().iter_rows()) == m["by_domain"]
    assert sorted(kept["rank"].to_list()) == list(range(1, m["rows"] + 1))
    drops = dict(sel.filter(~pl.col("kept")).group_by("dropped_by").len().iter_rows())
    assert drops == {s["step"]: s["dropped"] for s in m["steps"] if s["dropped"]}
    return sel


@pytest.mark.parametrize("budget,mix,expect", [(10, {"math": 0.5, "code": 0.5}, {"math": 5, "code": 5}),
                                               (17, {"math": 0.7, "code": 0.3}, {"math": 12, "code": 5}),
                                               (7, {"math": 1.0}, {"math": 7})])
def test_budget_counts_trajectories_exactly_with_p_over_1(lake, tmp_path, budget, mix, expect):
    _lake_identical_traces(lake)
    score.main(_params(tmp_path), lake)
    m = select.main(_params(tmp_path, budget=budget, domain_mix=mix), lake)
    assert m["rows"] == budget and m["by_domain"] == expect and m["shortfall"] == 0
    sel = _check_consistent(lake, m)
    # P = 3 per question survives farthest-P, so the budget spans several questions, each with <= 3 rows;
    # a question whose traces are all identical keeps one of them (half the questions: 8 math, 6 code)
    per_q = sel.filter(pl.col("kept")).group_by("question_id").len()["len"]
    assert per_q.max() <= 3 and m["questions"] == per_q.len() > 1
    fp = next(s for s in m["steps"] if s["step"] == "farthest_p")
    assert fp["out"] == sum((3 + 1) * {"math": 8, "code": 6}[d] // 2 for d in mix)  # distinct x P + copies x 1
    lines = (tmp_path / "corpus" / "train.jsonl").read_text().splitlines()
    assert len(lines) == budget and len({json.loads(x)["trajectory_id"] for x in lines}) == budget


def test_budget_above_supply_is_a_loud_shortfall(lake, tmp_path, caplog):
    _lake_identical_traces(lake)
    score.main(_params(tmp_path), lake)
    with caplog.at_level(logging.WARNING):
        m = select.main(_params(tmp_path, budget=100), lake)
    # 7 questions x min(4, P=3) distinct traces + 7 questions x 1 (their 4 traces are copies) = 28 rows
    # exist; never more than that, never one trace twice, never two copies of a text
    assert m["rows"] == 28 and m["shortfall"] == 72
    assert "fewer than the budget of 100" in caplog.text
    _check_consistent(lake, m)


def test_demo_sources_budget_48(lake, tmp_path):
    """The committed demo sources under the demo profile: no repeats, no copies, and the budget met. The
    demo's teacher words its samples consistently but never byte for byte alike (when it repeated itself
    word for word, each question had one distinct trace: 36 rows, a shortfall of 12; before farthest-P
    dropped copies, 23 of the 48 were copies). Farthest-P keeps 2 per question where 2 survive
    compression, and the budget takes 48 of them, 24 per domain."""
    from conftest import load_demo_lake

    params = load_demo_lake(lake)
    assert params.select.budget == 48 and params.select.p == 2
    # diversity none: k-center needs `ded embed` (a sentence model); the bug was in farthest-P
    m = select.main(params, lake, diversity="none",
                    export=params.select.export.model_copy(update={"out_dir": str(tmp_path / "corpus"),
                                                                    "hf_dataset": False}))
    assert m["rows"] == 48 and m["by_domain"] == {"code": 24, "math": 24} and m["shortfall"] == 0
    sel = _check_consistent(lake, m)
    fp = next(s for s in m["steps"] if s["step"] == "farthest_p")
    # p = 2 of the 3 samples per question kept: at most 2 per question, and never a copy
    assert fp["out"] < fp["in"] and m["diversity"]["farthest_p"]["copies_dropped"] == 0
    per_q = pl.from_arrow(lake.read("selection", filter=f"run_id = '{m['run_id']}'")).filter(
        pl.col("dropped_by").is_null() | (pl.col("dropped_by") == "budget")).group_by("question_id").len()
    assert per_q["len"].max() <= 2
    per_q = sel.filter(pl.col("kept")).group_by("question_id").len()["len"]
    assert per_q.max() == 2 and per_q.sum() == 48 and m["questions"] == (per_q >= 1).sum()
    texts_of = {r["trajectory_id"]: r["reasoning"] or r["response"]
                for r in lake.read("trajectories", columns=["trajectory_id", "reasoning", "response"]).to_pylist()}
    # farthest-P kept min(P, distinct texts) per question (what it kept is kept or dropped by the budget)
    seen = sel.filter(pl.col("kept") | pl.col("dropped_by").is_in(["farthest_p", "budget"]))
    picked = pl.col("kept") | (pl.col("dropped_by") == "budget")
    for qid, ids, n in seen.group_by("question_id").agg("trajectory_id", picked.sum().alias("n")).iter_rows():
        assert n == min(2, len({texts_of[t] for t in ids})), qid


def _no_two_kept_copies(lake, sel, texts_of):
    kept = sel.filter(pl.col("kept"))
    for qid, ids in kept.group_by("question_id").agg("trajectory_id").iter_rows():
        texts = [texts_of[t] for t in ids]
        assert len(set(texts)) == len(texts), (qid, ids)


def test_copies_dropped_in_every_question_and_named(lake, tmp_path, caplog):
    """No two kept rows of a question have the same text, also where a question has <= P survivors,
    and a dropped copy names the kept trajectory it duplicates (`ded select --explain`)."""
    from ded.selectors.explain import explain

    _lake_identical_traces(lake, per_q=3)  # 3 traces, P = 3: no question has more than P candidates
    score.main(_params(tmp_path), lake)
    with caplog.at_level(logging.WARNING):
        m = select.main(_params(tmp_path, budget=100), lake)
    assert "no question has more than select.p=3 candidate trajectories" in caplog.text
    assert "generate.samples" in caplog.text
    sel = _check_consistent(lake, m)
    texts_of = {r["trajectory_id"]: r["reasoning"] for r in lake.read("trajectories").to_pylist()}
    _no_two_kept_copies(lake, sel, texts_of)
    assert m["rows"] == 7 * 3 + 7 * 1 and m["diversity"]["farthest_p"]["copies_dropped"] == 7 * 2
    copy = sel.filter(pl.col("dropped_by") == "farthest_p").row(0, named=True)
    of = json.loads(copy["reasons"])["scores"]["lev_duplicate_of"]
    assert of in sel.filter(pl.col("kept") & (pl.col("question_id") == copy["question_id"]))["trajectory_id"].to_list()
    assert texts_of[of] == texts_of[copy["trajectory_id"]]
    assert f"lev_duplicate_of={of}" in explain(lake, copy["trajectory_id"], m["run_id"])


def test_demo_selection_keeps_no_copies(lake, tmp_path):
    """The demo's committed sources: no two kept rows of a question share their text (before farthest-P
    dropped copies, 23 of 48 were copies)."""
    from conftest import load_demo_lake

    params = load_demo_lake(lake)
    m = select.main(params, lake, diversity="none",
                    export=params.select.export.model_copy(update={"out_dir": str(tmp_path / "corpus"),
                                                                    "hf_dataset": False}))
    sel = _check_consistent(lake, m)
    texts_of = {r["trajectory_id"]: r["reasoning"] or r["response"]
                for r in lake.read("trajectories", columns=["trajectory_id", "reasoning", "response"]).to_pylist()}
    _no_two_kept_copies(lake, sel, texts_of)
    dists = [json.loads(r)["scores"].get("lev_min_dist") for r in sel.filter(pl.col("kept"))["reasons"]]
    assert all(d is None or d > 0 for d in dists)


def test_a_lent_quota_is_said_and_the_rows_still_sum_to_the_budget(caplog):
    """A domain short of rows lends its quota (fill_shortfall) and the log says which domain took how many."""
    from ded.selectors.budget import allocate, budget_step

    alive = pl.DataFrame({"trajectory_id": [f"t{i}" for i in range(12)],
                          "question_id": [f"q{i}" for i in range(12)],
                          "domain": ["code"] * 2 + ["math"] * 10})
    step = budget_step(8, {"math": 0.5, "code": 0.5}, True, lambda f, d, ctx: f["question_id"].to_list(),
                       ["trajectory_id"], "test")
    ctx = SelectionContext()
    with caplog.at_level(logging.WARNING):
        out = step.fn(alive, ctx)
    assert out.height == 8 and ctx.budget["allocated"] == {"math": 6, "code": 2}
    assert "code 2 of 4 had fewer rows than their quota, so math +2 took the rest" in caplog.text
    assert allocate({"math": 4, "code": 4}, {"math": 10, "code": 2}, False) == {"math": 4, "code": 2}
