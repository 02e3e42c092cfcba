"""Our math verdicts against the scores recorded by the Qwen2.5-Math evaluation harness on real outputs.

Bar (issue 3): >= 98% agreement on each source, every disagreement pinned here with which side is
right and why. The recorded score is another verifier's judgement, not ground truth.
"""

from __future__ import annotations

import ast
import gzip
import json

import pytest

from ded.verifiers import grade_many


def _lit(v):
    return ast.literal_eval(v) if isinstance(v, str) else v


# (source, file or question idx, row idx or sample) → why we differ from the harness, and who is right
PINNED = {
    ("aime24", "sky-t1-math-wrong-5k-14b", "7"):
        "ours: the response opens <|begin_of_thought|> and never closes it (cut off), so it committed to no "
        "answer; the harness took a \\boxed{25} from inside the unfinished reasoning and scored it correct",
    ("math", "72", 7):
        "ours: gold '10{,}000' is 10000 ({,} is a LaTeX thousands separator) and the model answered 10000; "
        "the harness compared strings after its normalisation and scored it wrong",
}


@pytest.fixture(scope="module")
def graded(shared_data):
    items, meta = [], []
    for f in sorted((shared_data / "trajectories" / "skythought_evals" / "aime24").glob("*.jsonl.gz")):
        for line in gzip.open(f, "rt"):  # noqa: SIM115
            r = json.loads(line)
            items.append({"domain": "math", "response": _lit(r["code"])[0], "answer": r["gt"]})
            meta.append((("aime24", f.name.removesuffix(".jsonl.gz"), str(r["idx"])), bool(_lit(r["score"])[0])))
    for line in (shared_data / "trajectories" / "qwen25math_math_cot_100_8samples.jsonl").open():
        r = json.loads(line)
        for k, (code, score) in enumerate(zip(_lit(r["code"]), _lit(r["score"]))):
            items.append({"domain": "math", "response": code, "answer": r["gt"]})
            meta.append((("math", str(r["idx"]), k), bool(score)))
    assert len(items) == 16 * 30 + 800
    return meta, grade_many(items, workers=2, show_progress=False)


def test_agreement_with_the_harness_is_at_least_98_percent_on_each_source(graded):
    meta, res = graded
    for source in ("aime24", "math"):
        rows = [(m, r) for m, r in zip(meta, res) if m[0][0] == source]
        agree = sum((r["correct"] is True) == score for (_k, score), r in rows)
        assert agree / len(rows) >= 0.98, (source, agree, len(rows))


def test_every_disagreement_is_pinned(graded):
    meta, res = graded
    disagree = {key: (score, r) for (key, score), r in zip(meta, res) if (r["correct"] is True) != score}
    assert set(disagree) == set(PINNED), {k: (s, r["extracted"], r["detail"]) for k, (s, r) in disagree.items()}
    assert disagree[("aime24", "sky-t1-math-wrong-5k-14b", "7")][1]["status"] == "no_answer"
    assert disagree[("math", "72", 7)][1]["extracted"] == "10000"


def test_no_verdict_is_undecidable_on_these_files(graded):
    _meta, res = graded
    assert all(r["correct"] is not None for r in res)  # integer and LaTeX golds all parse; nothing timed out
