"""question_scores.contaminated counts only real hits: kind 'contaminated' (or no kind), not 'near_duplicate'.

A near-duplicate is a benchmark item with its numbers changed (ded/decontam): a different problem.
It is exposed as benchmark_near_duplicate / near_duplicate_of and dropped only with
`select.drop_benchmark_near_duplicates: true`.
"""

from __future__ import annotations

import polars as pl
from lake_builder import LakeBuilder

from ded.params import parse_params
from ded.stages import score, select


def _params(tmp_path, **sel):
    s = {"budget": 100, "p": 4, "diversity": "none", "domain_mix": {"math": 1.0},
         "export": {"out_dir": str(tmp_path / "corpus"), "hf_dataset": False}, **sel}
    return parse_params({"score": {"verifiers": ["math"]}, "select": s})


def _build(lake, with_kind: bool = True):
    b = LakeBuilder()
    q = {name: b.add_question(f"Question {name}: what is 2 + {i}?", answer=str(2 + i))
         for i, name in enumerate(["clean", "hit", "near", "both", "untyped"])}
    for qid in q.values():
        b.add(qid, "good", reasoning="Two plus the number, added.")
    b.write(lake)
    rows = [("hit", "aime24", "contaminated"), ("near", "math500", "near_duplicate"),
            ("both", "aime24", "near_duplicate"), ("both", "math500", "contaminated"), ("untyped", "lcb", None)]
    data = [{"question_id": q[n], "benchmark": bm, "item_id": f"{bm}-1", "method": "ngram", "score": 1.0,
             **({"kind": kind} if with_kind else {})} for n, bm, kind in rows]
    lake.append("contamination", data)
    return q


def _scores(lake):
    return {r["question_id"]: r for r in pl.from_arrow(lake.read("question_scores")).to_dicts()}


def test_near_duplicate_is_not_contaminated(lake, tmp_path):
    q = _build(lake)
    score.main(_params(tmp_path), lake)
    s = _scores(lake)
    got = {n: (s[qid]["contaminated"], s[qid]["contaminated_by"], s[qid]["benchmark_near_duplicate"],
               s[qid]["near_duplicate_of"]) for n, qid in q.items()}
    assert got == {
        "clean": (False, None, False, None),
        "hit": (True, "aime24", False, None),
        "near": (False, None, True, "math500"),
        "both": (True, "math500", True, "aime24"),
        "untyped": (True, "lcb", False, None),  # a row with a null kind still counts
    }


def test_contamination_without_kind_column_counts_every_row(lake, tmp_path):
    q = _build(lake, with_kind=False)
    score.main(_params(tmp_path), lake)
    s = _scores(lake)
    assert all(s[q[n]]["contaminated"] for n in ("hit", "near", "both", "untyped"))
    assert not s[q["clean"]]["contaminated"] and not any(r["benchmark_near_duplicate"] for r in s.values())


def test_select_keeps_near_duplicates_unless_asked(lake, tmp_path):
    q = _build(lake)
    score.main(_params(tmp_path), lake)
    m = select.main(_params(tmp_path), lake)
    kept = set(pl.from_arrow(lake.read("selection", filter=f"run_id = '{m['run_id']}' AND kept"))["question_id"])
    assert kept == {q["clean"], q["near"]}
    m = select.main(_params(tmp_path, drop_benchmark_near_duplicates=True), lake)
    sel = pl.from_arrow(lake.read("selection", filter=f"run_id = '{m['run_id']}'"))
    assert set(sel.filter(pl.col("kept"))["question_id"]) == {q["clean"]}
    near = sel.filter(pl.col("question_id") == q["near"]).row(0, named=True)
    assert near["dropped_by"] == "not_benchmark_near_duplicate"
