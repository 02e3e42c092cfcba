"""Our math verdicts against the verdicts recorded with every shared panel of real responses.

Panels (bench/verify_agreement.py reads them the way `ded ingest` does, so the gold is the source's own
answer the preset stores, not the harness's normal form): the AIME 2024 panel (16 Qwen2.5-Math-harness
files × 30), its checkpoint series (10 × 30), the 8-sample MATH file (100 × 8) and the SkyThought tools
dump (30, its own `correctness`). Bar (issue 14): >= 99% agreement on each panel once the rows where the
recording is pinned wrong are set aside, >= 98.5% raw, and every disagreement pinned here with the
reason ours is right. The recorded verdict is another verifier's judgement, not ground truth.
"""

from __future__ import annotations

import pytest

from bench.verify_agreement import PANELS, grade, load_panel, summarize

CUT_OFF = ("ours: the response opens <|begin_of_thought|> and never closes it (cut off), so it committed to no "
           "answer; the harness took a \\boxed{25} from inside the unfinished reasoning and scored it correct")
FOUR_THIRTY = ("ours: the response answers \\boxed{4:30 \\text{ p.m.}}, the source's answer is \\text{4:30 p.m.}; "
               "the harness compared its own normal forms, gt '4:30p..' (its strip_string mangled 'p.m.') against "
               "pred '4:30', and scored all 8 samples wrong")
THOUSANDS = ("ours: gold '10{,}000' is 10000 ({,} is a LaTeX thousands separator) and the model answered 10000; "
             "the harness compared strings after its normalisation and scored it wrong")
MATH = "qwen25math_math_cot_100_8samples"

# (panel, file, row id, sample) → why we differ from the recording; in every case ours is right
PINNED = {
    ("aime24", "sky-t1-math-wrong-5k-14b", "7", 0): CUT_OFF,
    **{("math_cot_8samples", MATH, "3", k): FOUR_THIRTY for k in range(8)},
    ("math_cot_8samples", MATH, "72", 7): THOUSANDS,
}


@pytest.fixture(scope="module")
def graded(shared_data):
    from ded.verifiers.math import MathPool

    out = {}
    with MathPool(workers=2) as pool:
        for name in PANELS:
            rows = load_panel(name, shared_data)
            out[name] = (rows, grade(rows, pool))
    return out


def test_every_shared_panel_is_graded_in_full(graded):
    assert {k: len(rows) for k, (rows, _res) in graded.items()} == {
        "aime24": 16 * 30, "aime24_ckpt_series": 10 * 30, "math_cot_8samples": 800, "aime24_skythought_tools": 30}
    assert all(r.recorded is not None for rows, _res in graded.values() for r in rows)


def test_agreement_with_the_recorded_verdicts_on_each_panel(graded):
    for name, (rows, res) in graded.items():
        line, diffs = summarize(name, rows, res)
        pinned = sum(tuple(d["key"]) in PINNED for d in diffs)
        assert line["agreement"] >= 0.985, line
        assert (line["agree"] + pinned) / line["n"] >= 0.99, line  # the rest is the recording's error


def test_every_disagreement_is_pinned(graded):
    disagree = {}
    for rows, res in graded.values():
        disagree.update({r.key: (r, v) for r, v in zip(rows, res) if (v["correct"] is True) != bool(r.recorded)})
    assert set(disagree) == set(PINNED), {k: (r.gold, v["extracted"], v["detail"]) for k, (r, v) in disagree.items()
                                          if k not in PINNED or k not in disagree}
    r, v = disagree[("aime24", "sky-t1-math-wrong-5k-14b", "7", 0)]
    assert v["status"] == "no_answer" and "cut off" in v["detail"] and r.recorded is True
    r, v = disagree[("math_cot_8samples", MATH, "3", 0)]
    assert (r.gold, r.gt, r.pred, v["extracted"], v["correct"]) == (
        r"\text{4:30 p.m.}", "4:30p..", "4:30", r"4:30 \text{ p.m.}", True)
    r, v = disagree[("math_cot_8samples", MATH, "72", 7)]
    assert (v["extracted"], v["correct"], r.recorded) == ("10000", True, False)


def test_the_gold_is_the_sources_answer_not_the_harness_normal_form(graded):
    rows, res = graded["math_cot_8samples"]
    by_q = {r.row: r for r in rows}
    # the harness's gt drops the percent sign, units and the `,\!` of the source's answer
    assert (by_q["27"].gold, by_q["27"].gt) == ("198\\%", "198")
    assert (by_q["5"].gold, by_q["5"].gt) == ("100\\text{ square units}", "100")
    assert (by_q["53"].gold, by_q["53"].gt) == ("900,\\!000,\\!000", "900,000,000")
    # ... and those answers still grade as the harness did: 198 for 198\% is right
    assert all(v["correct"] is True for r, v in zip(rows, res) if r.row == "27")


def test_no_verdict_is_undecidable_on_these_files(graded):
    for name, (_rows, res) in graded.items():
        assert all(v["correct"] is not None for v in res), name  # every gold parses; nothing timed out
