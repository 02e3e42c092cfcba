"""Every preset takes the source's own reference answer (issue 14): which field, per preset, one test each.

The trap: a row can carry more than one answer-like field, and the wrong one is lossy or not an answer
at all (the Qwen2.5-Math harness's `gt` is its normal form, which deletes characters; GSM8K's `answer` is
the whole solution; MMLU's is an option index; a trajectory's `pred` is the model's answer).
"""

from __future__ import annotations

import gzip
import json

import pytest

from ded.ingest import ingest_paths
from ded.ingest.presets import get_preset

HARNESS = {"idx": 4, "question": "Factor $ab+2a+5b+10$.", "gt_cot": "...", "gt": "(+5)(b+2)", "answer": "(a+5)(b+2)",
           "code": ["... so it is $\\boxed{(a+5)(b+2)}$."], "pred": ["(+5)(b+2)"], "score": [True]}


def parse(preset, rec, kind="trajectories"):
    return get_preset(preset)(rec, kind)


def test_qwen_math_eval_reads_the_sources_answer_and_keeps_the_harness_gt():
    # the harness's strip_string deletes the unit word "a": (a+5)(b+2) -> (+5)(b+2); \cot x -> \cotx
    p = parse("qwen-math-eval", HARNESS)
    assert p.answer == "(a+5)(b+2)"
    assert (p.metadata["harness_gt"], p.metadata["answer_field"]) == ("(+5)(b+2)", "answer")
    p = parse("qwen-math-eval", {**HARNESS, "gt": "\\cotx", "answer": "\\cot x"})
    assert (p.answer, p.metadata["harness_gt"]) == ("\\cot x", "\\cotx")
    col = "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"
    assert parse("qwen-math-eval", {**HARNESS, "gt": "\\begin{pmatrix}12\\end{pmatrix}", "answer": col}).answer == col


def test_qwen_math_eval_without_an_answer_field_keeps_gt_and_says_so():
    rec = {k: v for k, v in HARNESS.items() if k != "answer"}
    p = parse("qwen-math-eval", rec)
    assert (p.answer, p.metadata["answer_field"], p.metadata["harness_gt"]) == ("(+5)(b+2)", "gt:no_answer_field", "(+5)(b+2)")


def test_qwen_math_eval_gsm8k_and_mmlu_rows_whose_answer_is_not_the_final_answer():
    gsm = {**HARNESS, "gt": "72", "answer": "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips.\n#### 72"}
    p = parse("qwen-math-eval", gsm)
    assert (p.answer, p.metadata["answer_field"]) == ("72", "answer:gsm8k_final_line")
    mmlu = {**HARNESS, "gt": "B", "answer": 1}  # the harness: gt = "ABCD"[answer]
    p = parse("qwen-math-eval", mmlu)
    assert (p.answer, p.metadata["answer_field"]) == ("B", "gt:answer_is_option_index")
    aime = {**HARNESS, "gt": "25", "answer": "025"}
    assert parse("qwen-math-eval", aime).answer == "025"  # graded as the integer 25


def test_qwen_math_eval_on_the_real_panels_stores_the_sources_answer(lake, shared_data):
    f = shared_data / "trajectories" / "qwen25math_math_cot_100_8samples.jsonl"
    ingest_paths(lake, [f], kind="trajectories", preset="qwen-math-eval", show_progress=False)
    qs = {q["source_id"]: q for q in lake.read("questions").to_pylist()}
    src = {str(r["idx"]): r for r in map(json.loads, f.open())}
    assert len(qs) == 100 and all(qs[i]["answer"] == src[i]["answer"] for i in src)
    meta = json.loads(qs["3"]["metadata"])
    assert (qs["3"]["answer"], meta["harness_gt"], meta["answer_field"]) == ("\\text{4:30 p.m.}", "4:30p..", "answer")
    for g in sorted((shared_data / "trajectories/skythought_evals").glob("*/*.jsonl.gz")):
        with gzip.open(g, "rt") as fh:
            assert all("answer" in r and "gt" in r for r in map(json.loads, fh)), g  # every harness file has both


def test_generic_prefers_answer_over_gt_and_splits_gsm8k():
    assert parse("generic", {"problem": "P", "gt": "(+5)(b+2)", "answer": "(a+5)(b+2)"}, "questions").answer == "(a+5)(b+2)"
    p = parse("generic", {"question": "Natalia sold clips...", "answer": "48/2 = 24\n48+24 = 72\n#### 72"}, "questions")
    assert (p.answer, p.solution, p.metadata["answer_field"]) == ("72", "48/2 = 24\n48+24 = 72", "answer:gsm8k_final_line")
    # a trajectory row's `pred` (the model's answer) is never the reference
    p = parse("generic", {"problem": "P", "answer": "7", "response": "\\boxed{8}", "pred": "8"})
    assert p.answer == "7"


def test_rllm_reads_answer_and_unwraps_olympiadbench_lists():
    assert parse("rllm", {"problem": "P", "answer": "['\\\\frac{1}{2}']", "solution": "s"}, "questions").answer == "\\frac{1}{2}"
    assert parse("rllm", {"problem": "P", "answer": "204", "solution": "... \\boxed{204}"}, "questions").answer == "204"


def test_openr1_math_reads_answer_not_the_generations():
    p = parse("openr1-math", {"problem": "P", "answer": "1024", "solution": "...", "generations": ["\\boxed{1000}"],
                              "correctness_math_verify": [False]})
    assert p.answer == "1024"


def test_s1k_takes_its_answer_from_the_solution():
    base = {"question": "Q", "cot_type": "math", "thinking_trajectories": ["t"], "attempt": "a"}
    p = parse("s1k", {**base, "solution": "We compute ... so the sum is $\\boxed{\\frac{3}{4}}$."})
    assert (p.answer, p.metadata["answer_field"]) == ("\\frac{3}{4}", "solution:boxed")
    p = parse("s1k", {**base, "solution": "128"})
    assert (p.answer, p.metadata["answer_field"]) == ("128", "solution:short")
    p = parse("s1k", {**base, "solution": "A long proof.\nIt has lines and no final boxed answer."})
    assert p.answer is None and "answer_field" not in p.metadata  # undecidable for the rule verifier


@pytest.mark.parametrize(("preset", "rec"), [
    ("openthoughts", {"conversations": [{"from": "user", "value": "Q"}, {"from": "assistant", "value": "A"}]}),
    ("lcb", {"question_content": "Q", "public_tests": "[]", "question_id": "1"}),
    ("humaneval", {"prompt": "def f():", "entry_point": "f", "test": "def check(c): pass", "task_id": "H/0"}),
])
def test_presets_whose_sources_carry_no_reference_answer_store_none(preset, rec):
    # OpenThoughts' default config has no ground truth; code sources are graded by their tests
    assert parse(preset, rec, "questions").answer is None
