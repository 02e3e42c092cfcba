"""Math verifier: MATH-500 golds against themselves, equivalent and wrong forms; timeouts; caching."""

from __future__ import annotations

import json
import time

import pytest

from ded.verifiers import grade_many
from ded.verifiers.math import MathPool, grade_math_pairs, quick_check

EQUIVALENT = [  # (gold as MATH-500 writes it, an equivalent form a model may write)
    (r"\frac{1}{2}", "0.5"),
    (r"\left( 3, \frac{\pi}{2} \right)", r"(3,\pi/2)"),
    (r"\frac{14}{3}", "14/3"),
    (r"10\sqrt{2}", r"\sqrt{200}"),
    (r"\dfrac{3}{4}", "0.75"),
    ("x^2+1", "1+x^2"),
    ("[-2,7)", r"[-2, 7)"),
    (r"\{1,2\}", r"\{2,1\}"),
    (r"11\sqrt2", r"11\sqrt{2}"),
    ("90^\\circ", "90"),
    ("10{,}000", "10000"),
    (r"\$18.90", "18.90"),
    ("025", "25"),  # AIME zero-padded gold
    ("204", "x = 204"),
]
WRONG = [(r"\frac{1}{2}", "0.6"), (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi)"), ("025", "52"),
         (r"10\sqrt{2}", r"\sqrt{20}"), ("x^2+1", "x^2-1"), ("[-2,7)", "[-2,7]"), (r"\{1,2\}", r"\{1,3\}")]


@pytest.fixture(scope="module")
def pool():
    with MathPool(workers=2, timeout_s=10) as p:
        yield p


def test_math500_golds_verify_against_themselves_through_math_verify(shared_data, pool):
    golds = [json.loads(line)["answer"] for line in (shared_data / "math500" / "math500_test.jsonl").open()]
    assert len(golds) == 500
    res = pool.check({i: (g, g) for i, g in enumerate(golds)})  # straight to math-verify, no shortcut
    bad = {golds[i]: r for i, r in res.items() if r[0] != "correct"}
    assert not bad, bad


def test_equivalent_forms_pass_and_wrong_values_fail(pool):
    res = grade_math_pairs(EQUIVALENT + WRONG, pool=pool)
    for (g, p), r in zip(EQUIVALENT, res[:len(EQUIVALENT)]):
        assert r[:2] == ("correct", True), (g, p, r)
    for (g, p), r in zip(WRONG, res[len(EQUIVALENT):]):
        assert r[:2] == ("wrong", False), (g, p, r)


def test_full_responses_through_grade_many(pool):
    items = [
        {"domain": "math", "response": r"<think>hmm</think> So it is $\boxed{\dfrac{1}{2}}$.", "answer": "0.5"},
        {"domain": "math", "response": r"<think>long and cut \boxed{25}", "answer": "25"},
        {"domain": "math", "response": "I give up.", "answer": "7"},
        {"domain": "science", "response": "Reasoning...\nAnswer: C", "answer": "C", "choices": "[]"},
        {"domain": "science", "response": "Reasoning...\nAnswer: B", "answer": "C"},
        {"domain": "math", "response": r"\boxed{3}", "answer": r"\frac{1}{2"},
    ]
    res = grade_many(items, show_progress=False, math_pool=pool)
    assert [(r["status"], r["correct"]) for r in res] == [
        ("correct", True), ("no_answer", False), ("no_answer", False), ("correct", True), ("wrong", False),
        ("error", None)]  # an unparseable reference is undecidable, never a silent False
    assert res[0]["extracted"] == r"\dfrac{1}{2}" and res[0]["verifier"] == "math"
    assert "cut off" in res[1]["detail"]


def test_unparseable_prediction_is_wrong_with_its_status(pool):
    (r,) = grade_math_pairs([(r"\frac{1}{2}", r"\frac{1}{")], pool=pool)
    assert r[:2] == ("parse_error", False)


def test_pathological_expression_times_out_without_stalling_the_rest():
    pairs = [("2", r"9^{9^{9^{9}}}")] + [(str(i), rf"\frac{{{2 * i}}}{{2}}") for i in range(1, 9)]
    t0 = time.monotonic()
    with MathPool(workers=2, timeout_s=2.0) as p:
        res = grade_math_pairs(pairs, pool=p)
        assert p.restarts == 1  # the hung worker was killed and replaced
    elapsed = time.monotonic() - t0
    assert res[0] == ("timeout", None, "math-verify exceeded 2 s")
    assert all(r[:2] == ("correct", True) for r in res[1:]), res
    assert elapsed < 20, elapsed  # a hang would never return; this only bounds the limit + respawn


def test_repeated_pairs_are_checked_once():
    seen: list[int] = []

    class CountingPool(MathPool):
        def check(self, pairs, on_result=None):
            seen.append(len(pairs))
            return super().check(pairs, on_result)

    pairs = [(r"\frac{\sqrt{2}}{2}", r"\sqrt{2}/2"), (r"\frac{\sqrt{2}}{2}", r" \sqrt{2} / 2 "),
             (r"\dfrac{\sqrt{2}}{2}", r"\sqrt{2}/2")] * 20
    with CountingPool(workers=1) as p:
        res = grade_math_pairs(pairs, pool=p)
    assert seen == [1] and all(r[1] is True for r in res)


def test_quick_paths_need_no_sympy():
    assert quick_check("025", "25.0")[:2] == ("correct", True)
    assert quick_check("1000", "1,000")[:2] == ("correct", True)
    assert quick_check("7", None)[:2] == ("no_answer", False)
    assert quick_check(r"\frac{1}{2}", r"\dfrac{1}{2}")[:2] == ("correct", True)
    assert quick_check(r"\frac{1}{2}", "0.5")[:2] == ("correct", True)  # exact rationals
    assert quick_check(r"\frac{1}{3}", "0.333333") is None  # a rounding: math-verify decides
    assert quick_check(r"\frac{\sqrt{2}}{2}", r"\sqrt{2}/2") is None  # needs sympy
