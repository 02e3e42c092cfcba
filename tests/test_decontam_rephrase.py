"""Rephrased-sample decontamination (issue 19): the whole labelled set, the offline verdict rules, and the
LLM judge through a real OpenAI-compatible server on 127.0.0.1 (called for candidate pairs only, cached)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from ded.decontam.rephrase import Rules, is_foreign, verdict
from ded.embeddings import load_encoder

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "data" / "contamination"))
from openai_stub import StubServer

KEEP = ("verbatim", "reworded", "story", "words", "translated")


@pytest.fixture(scope="module")
def encoder():
    return load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu")


@pytest.fixture(scope="module")
def labelled(shared_data, encoder, tmp_path_factory):
    """The whole labelled set (tests/data/contamination: 741 rows) against all 839 items of the four panels,
    with the default params' detectors (DecontamParams, as the real profiles set them)."""
    from build import benchmark_texts, load_set, score_set

    from ded.params import load_params

    dc = load_params(HERE.parent / "pipelines" / "ded-paper.yaml").embed.decontam
    rows = load_set(shared_data)
    bench = benchmark_texts(shared_data)
    res = score_set(rows, bench, tmp_path_factory.mktemp("labelled") / "lake", encoder,
                    n=dc.ngram, min_coverage=dc.min_coverage, embedding_threshold=dc.embedding_threshold,
                    rephrase=dc.rephrase, top_k=dc.top_k, candidate_floor=dc.candidate_floor,
                    question_top_k=dc.question_top_k, question_floor=dc.question_floor)
    print(json.dumps({k: v["recall"] for k, v in res["kinds"].items()}), res["stats"])
    return rows, res


def test_labelled_set_is_whole(labelled):
    rows, res = labelled
    kinds = res["kinds"]
    assert {k: v["rows"] for k, v in kinds.items()} == {
        "verbatim": 62, "reworded": 62, "story": 62, "translated": 62, "words": 59, "renumbered": 62, "negative": 372}
    assert all(r["text"] for r in rows)  # every derived row was rebuilt from the shared data


def test_labelled_set_targets_met(labelled):
    """Issue 19's targets that the offline detectors meet: verbatim, numbers as words and translated >= 0.95,
    renumbered copies >= 0.9 reported as near_duplicate, and no hard negative flagged as contaminated."""
    _, res = labelled
    k = res["kinds"]
    for kind in ("verbatim", "words", "translated"):
        assert k[kind]["recall"] >= 0.95, (kind, k[kind])
    assert k["renumbered"]["recall"] >= 0.9, k["renumbered"]
    assert res["negatives_contaminated"] == [], [f for f in res["negative_flags"] if f["kind"] == "contaminated"]
    # every rephrase row names its detector version; the renumbered copies are reported with both problems
    t = res["lake"].read("contamination").to_pylist()
    assert all(r["detector"] == Rules().version() for r in t if r["method"] == "rephrase")
    from ded.stages.embed import contamination_report

    rep = contamination_report(res["lake"], kind="near_duplicate")
    assert rep and all(r["question"] and r["item"] for r in rep)


def test_labelled_set_reworded_and_story_reach_095(labelled):
    """Issue 19's target for reworded and story-changed copies, on the whole set (rules-3 reach 0.968 and 0.952;
    on half A of the items, where they were fitted, 0.939 and 0.939; half B 1.0 and 0.966: docs/embeddings.md)."""
    _, res = labelled
    k = res["kinds"]
    assert k["reworded"]["recall"] >= 0.95 and k["story"]["recall"] >= 0.95, (k["reworded"], k["story"])
    assert set(k["story"]["recall_by_half"]) == {"A", "B"}  # both halves hold rows of every kind


def test_content_reads_numbers_as_a_rewrite_states_them():
    from ded.decontam.content import compare, content

    # a plain comma between digits reads both ways; the pair is scored by the reading that agrees
    item = content("Sample Output 1: 3. The positive integers 36,100,196 satisfy the condition.")
    s = compare(item, content("For example N = 1 gives 3 (the numbers 36, 100 and 196)."))
    assert s["numbers_cover"] == 1.0 and s["numbers"] == 1.0
    assert "6000000" in content("a prize of 6,000,000 dollars").numbers
    # "a right angle" / "a right triangle" states the 90 of 90^\circ
    assert "90" in content("Triangle $ABC$ has a right angle at $A$.").numbers
    # a story adds counts in words; a changed problem adds them in digits
    base = content("In triangle $ABC$ the circumradius is $13$ and the inradius is $6$. Find $AB\\cdot AC$.")
    story = compare(base, content("A field has three corners; its circle has radius 13, its inner circle radius 6."))
    changed = compare(base, content("In triangle $ABC$ the circumradius is $13$, the inradius is $6$ and $BC = 3$."))
    assert story["numbers_cover"] == 1.0 and story["numbers_added_digits"] == 0
    assert changed["numbers_cover"] == 1.0 and changed["numbers_added_digits"] > 0
    # repeats count: "... + 9 + 10 divided by 9" keeps 9 twice, its "divided by 8" sibling once
    rem = content("What is the remainder when $1 + 2 + 3 + 4 + \\dots + 9 + 10$ is divided by 9?")
    assert compare(rem, content("What is the remainder when $1 + 2 + 3 + 4 + \\dots + 9 + 10$ is divided by 8?"))[
        "numbers_cover"] < 1.0
    # a range implies the numbers it skips
    assert {"5", "6"} <= content("for $n = 2,$ 3, 4, $\\dots,$ 7").implied


def test_verdict_rules():
    same = {"numbers": 1.0, "numbers_shared": 6.0, "math": 0.0, "shape": 0.0, "asked": None}
    assert verdict(same, 0.3) == "contaminated"  # every informative number, whatever the words
    small = {"numbers": 1.0, "numbers_shared": 1.5, "math": 0.0, "shape": 0.0, "asked": None}
    assert verdict(small, 0.9) is None  # "5 and 5 around a table": small numbers need a copy's cosine
    assert verdict(small, 0.96) == "contaminated"
    assert verdict(small, 0.45, foreign=True) == "contaminated"  # a translation: MiniLM cannot read it
    renum = {"numbers": 0.0, "numbers_shared": 0.0, "math": 0.2, "shape": 1.0, "asked": None}
    assert verdict(renum, 0.7) == "near_duplicate" and verdict(renum, 0.5) is None
    # every item number kept, a count added in words (a story): kept; the same count in digits: not
    story = {"numbers": 0.83, "numbers_shared": 2.5, "numbers_cover": 1.0, "numbers_added": 0,
             "numbers_added_digits": 0, "math": 0.22, "shape": 0.2, "asked": None}
    assert verdict(story, 0.57, item_math=29) == "contaminated"
    assert verdict({**story, "numbers_added_digits": 0.5}, 0.57, item_math=29) is None
    # a substantial formula kept verbatim with a low cosine (a story around it)
    formula = {"numbers": 1.0, "numbers_shared": 1.5, "math": 0.76, "shape": 0.74, "asked": 0.0}
    assert verdict(formula, 0.38, item_math=18) == "contaminated" and verdict(formula, 0.38, item_math=6) is None
    # code: shared sample values no other item states
    sample = {"numbers": 0.98, "numbers_shared": 23.5, "numbers_rare": 8.0, "math": 0.1, "shape": 0.1, "asked": None}
    assert verdict(sample, 0.6, code=True) == "contaminated"
    assert verdict({**sample, "numbers_rare": 0.0}, 0.6, code=True) is None
    code = {"numbers": 0.54, "numbers_shared": 4.0, "math": 0.25, "shape": 0.3, "asked": None}
    assert verdict(code, 0.86, code=True) is None and verdict(code, 0.9, code=True) == "contaminated"
    assert is_foreign("Trouver la plus grande partie réelle possible de $z$, où $z$ est un nombre complexe tel que")
    assert not is_foreign("Find the largest possible real part of $z$ where $z$ is a complex number such that")


# ------------------------------------------------------------------ the LLM judge


ITEMS = [
    {"id": "0", "problem": "Find the number of ordered pairs $(x,y)$ of positive integers with $x^2 + y^2 = 2025$."},
    {"id": "1", "problem": "A bag holds 7 red and 11 blue marbles. Two are drawn without replacement. "
                           "What is the probability that both are blue?"},
    {"id": "2", "problem": "Compute the sum of all positive divisors of 864."},
]
REWRITES = {  # question -> item id, known to the judge as "the same problem"
    "How many ordered pairs of positive integers $(x,y)$ satisfy $x^2+y^2=2025$?": "0",
    "In a sack there are 11 blue and 7 red marbles; we draw two at once. Find the chance that both are blue.": "1",
}


def _judge_reply(body: dict) -> str:
    text = body["messages"][-1]["content"]
    item = re.search(r"Problem 1 \(a benchmark test item\):\n(.*?)\n\nProblem 2", text, re.DOTALL).group(1)
    question = re.search(r"Problem 2 \(a training question\):\n(.*?)\n\nReply", text, re.DOTALL).group(1)
    same = any(q == question and ITEMS[int(i)]["problem"] == item for q, i in REWRITES.items())
    return f"They {'ask the same thing' if same else 'differ'}.\nVERDICT: {'SAME' if same else 'DIFFERENT'}"


def test_judge_called_for_candidate_pairs_only_and_cached(tmp_path, monkeypatch, shared_data, encoder):
    from ded.lake import Lake
    from ded.params import parse_params
    from ded.stages.embed import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(it) + "\n" for it in ITEMS))
    pool = [r["problem"] for r in json.loads((shared_data / "math_pool/rllm_math_train.json").read_text())[:40]]
    lake = Lake(tmp_path / "lake")
    qs = [{"question_id": f"q{i:03d}", "problem": t, "source": "math_train"} for i, t in enumerate(pool)]
    qs += [{"question_id": f"r{i}", "problem": t, "source": "rewrite"} for i, t in enumerate(REWRITES)]
    lake.merge("questions", qs)
    with StubServer(reply=_judge_reply) as srv:
        params = parse_params({
            "models": [{"name": "judge", "backend": "openai", "model": "stub-judge", "base_url": srv.url}],
            "benchmarks": {"toy": {"path_or_hub": str(tmp_path / "items.jsonl")}},
            "embed": {"fts": False, "dedup": {"methods": ["exact"]},
                      "decontam": {"min_coverage": 0.6, "embedding_threshold": 0.92, "top_k": 3, "question_top_k": 1,
                                   "judge": "judge"}}})
        first = main(params, lake, encoder=encoder)
        c = first["contamination"]
        calls = srv.calls
        judged = {(r["question_id"], r["item_id"]) for r in lake.read("decontam_judgements").to_pylist()}
        # one call per candidate pair, and candidates are far fewer than all pairs
        assert calls == c["candidates"] == c["judge"]["called"] == len(judged) and c["judge"]["cached"] == 0
        assert 0 < c["candidates"] < len(qs) * len(ITEMS) // 2
        # every prompt the server saw was a candidate pair's, on the versioned template
        assert all("VERDICT: SAME" in b["messages"][-1]["content"] for b in srv.bodies)
        rows = {(r["question_id"], r["item_id"]): r for r in lake.read("contamination").to_pylist()}
        for i, (q, item) in enumerate(REWRITES.items()):
            r = rows[(f"r{i}", item)]
            assert r["kind"] == "contaminated" and r["judge"] == "judge" and r["judge_verdict"] == "same", r
        assert all(r["judge_verdict"] in ("same", "different") and r["judge"] == "judge" for r in rows.values())
        assert {k for k, r in rows.items() if r["kind"] == "contaminated"} == {(f"r{i}", it) for i, it in enumerate(REWRITES.values())}
        # a rerun (forced: the stage would be a no-op) asks the judge nothing: the verdicts come from the cache
        srv.reset_counts()
        again = main(params, lake, encoder=encoder, force=True)
        assert srv.calls == 0 and again["contamination"]["judge"]["cached"] == c["candidates"]
        assert {(r["question_id"], r["item_id"]): r["judge_verdict"] for r in lake.read("contamination").to_pylist()} \
            == {k: r["judge_verdict"] for k, r in rows.items()}
        # a new question: only its own candidate pairs go to the judge
        lake.merge("questions", [{"question_id": "new", "problem": "Sum every positive divisor of 864.", "source": "x"}])
        third = main(params, lake, encoder=encoder)
        assert 0 < srv.calls == third["contamination"]["judge"]["called"] <= len(ITEMS)
        assert all("Sum every positive divisor of 864." in b["messages"][-1]["content"] for b in srv.bodies)


def test_judge_must_name_a_model():
    from ded.params import ParamsError, parse_params

    with pytest.raises((ParamsError, ValueError), match="not a model in `models`"):
        parse_params({"embed": {"decontam": {"judge": "gpt-judge"}}})


def test_pairs_under_the_floors_get_no_verdict_from_any_rule():
    """`Rules.floors` is what lets second_opinion skip comparing a pair: below the number, cosine and n-gram
    floors no rule may fire, whatever the other scores, for math and code items, English or not."""
    from ded.decontam.content import compare_numbers, content, numbers_bound
    from ded.decontam.rephrase import Rules, verdict

    r = Rules()
    num, cos, ng = r.floors()
    rng = np.random.default_rng(0)
    for _ in range(2000):
        s = {"numbers": rng.uniform(0, num - 1e-9), "numbers_shared": rng.uniform(0, 40),
             "numbers_cover": rng.uniform(0, 1), "numbers_added": float(rng.integers(0, 2)),
             "numbers_added_digits": float(rng.integers(0, 2)), "numbers_rare": rng.uniform(0, 30),
             "math": rng.uniform(0, 1), "shape": rng.uniform(0, 1)}
        c, g = rng.uniform(-1, cos - 1e-9), rng.uniform(0, ng - 1e-9)
        for code in (False, True):
            assert verdict(dict(s), c, None, r, ngram=g, code=code, foreign=True, item_math=50) is None
    # the weight bound holds: a Jaccard never exceeds min/max of the two weights
    texts = ["Find 12 + 345 and 6,000.", "What is 12 times 345?", "Sum of 7, 8 and 9 is 24.", "one two 3", "no numbers"]
    for a in texts:
        for b in texts:
            assert compare_numbers(content(a), content(b))["numbers"] <= numbers_bound(content(a), content(b)) + 1e-12
