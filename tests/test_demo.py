"""The demo sources: deterministic, and their planted facts hold (checked by running the code)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import Counter

import pytest

from ded.demo import (
    ACCURACY_BEST_TEACHER,
    PLANTED_BEST_TEACHER,
    STUDENT,
    STUDENT_SOLVES,
    TEACHERS,
    demo_items,
    write_demo_sources,
)
from ded.scorers.levenshtein import token_distance
from ded.text import split_reasoning


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def ci_sources(tmp_path_factory):
    return write_demo_sources(tmp_path_factory.mktemp("demo"), seed=0, size="ci")


def test_same_seed_same_bytes_other_seed_other_problems(ci_sources, tmp_path):
    again = write_demo_sources(tmp_path / "again", seed=0, size="ci")
    assert set(again) == set(ci_sources)
    for name, path in ci_sources.items():
        assert path.read_bytes() == again[name].read_bytes(), name
    other = write_demo_sources(tmp_path / "other", seed=1, size="ci")
    assert other["math_questions"].read_bytes() != ci_sources["math_questions"].read_bytes()


def test_unknown_size_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown demo size 'huge'.*ci"):
        write_demo_sources(tmp_path, size="huge")


def test_questions_graded_and_benchmark_disjoint():
    train, bench = demo_items(0, "demo")
    assert Counter(i["difficulty"] for i in train if i["domain"] == "math") == {d: 60 for d in range(1, 6)}
    assert all(len(i["ops"]) == i["difficulty"] and int(i["answer"]) == i["start"] + sum(i["ops"]) < 100
               for i in train if i["domain"] == "math")
    assert Counter(i["difficulty"] for i in train if i["domain"] == "code") == {d: 4 for d in range(1, 6)}
    assert len({i["problem"] for i in train}) == len(train)
    assert bench and not {b["problem"] for b in bench} & {i["problem"] for i in train}


def _boxed(text):
    m = re.findall(r"\\boxed\{(-?\d+)\}", text)
    return m[-1] if m else None


def _run_code(code, test):
    if test["testtype"] == "functional":
        args = [json.loads(line) for line in test["input"].splitlines()]
        prog = f"{code}\nimport json\nprint(json.dumps(Solution().countGreater(*{args!r})))"
        stdin = ""
    else:
        prog, stdin = code, test["input"]
    out = subprocess.run([sys.executable, "-c", prog], input=stdin, capture_output=True, text=True, timeout=20,
                         check=False)
    return out.stdout.strip() == test["output"].strip()


def test_planted_labels_match_the_truth(ci_sources):
    """A trajectory is planted correct iff its boxed answer equals the reference / its code passes all tests."""
    questions = {q["problem"]: q for name in ("math_questions", "code_questions") for q in _rows(ci_sources[name])}
    code_checked = Counter()
    for name in [n for n in ci_sources if n.startswith("teacher_")] + ["student"]:
        for row in _rows(ci_sources[name]):
            q = questions[row["problem"]]
            reasoning, final, closed = split_reasoning(row["response"])
            assert reasoning and row["metadata"]["synthetic"] is True
            if not closed:
                assert row["metadata"]["planted_correct"] is False and row["finish_reason"] == "length"
                continue
            if q["domain"] == "math":
                assert (_boxed(final) == q["answer"]) == row["metadata"]["planted_correct"], row
            elif code_checked[(q["id"], row["metadata"]["planted_correct"])] < 1:  # one program of each kind
                code_checked[(q["id"], row["metadata"]["planted_correct"])] += 1
                code = re.search(r"```python\n(.*?)```", final, re.DOTALL).group(1)
                passed = [_run_code(code, t) for t in q["tests"]]
                assert all(passed) if row["metadata"]["planted_correct"] else not all(passed), (q["id"], code)
    assert sum(code_checked.values()) >= 10


def _word_entropy(texts):
    counts = Counter(w for t in texts for w in t.split())
    n = sum(counts.values())
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def test_teacher_styles_differ_as_planted(tmp_path):
    src = write_demo_sources(tmp_path, size="demo")
    acc, length, entropy = {}, {}, {}
    for model in TEACHERS:
        rows = _rows(src[f"teacher_{model}"])
        assert {r["model"] for r in rows} == {model}
        acc[model] = sum(r["metadata"]["planted_correct"] for r in rows) / len(rows)
        length[model] = sum(len(r["response"]) for r in rows) / len(rows)
        entropy[model] = _word_entropy(r["response"] for r in rows)
    best, accurate = PLANTED_BEST_TEACHER, ACCURACY_BEST_TEACHER
    # Fact 1: the planted best teacher is not the most accurate one, but it is shorter and more consistent
    assert acc[accurate] == max(acc.values()) == 1.0 and acc["synthetic-sloppy"] < acc[best] < acc[accurate]
    assert length[accurate] > 1.5 * length[best]
    assert entropy[best] < entropy[accurate]
    # Fact 4: consistent, not copied: no two samples of a question alike (farthest-P keeps no copies, so a
    # teacher that repeats itself word for word gives one row per question), yet closer to each other than
    # the verbose teacher's samples
    by_q = {m: {} for m in TEACHERS}
    for model in TEACHERS:
        for r in _rows(src[f"teacher_{model}"]):
            by_q[model].setdefault(r["problem"], []).append(split_reasoning(r["response"])[0])
    assert all(len(set(v)) == len(v) == 3 for v in by_q[best].values())
    pairs = {m: [token_distance(v[i], v[j]) for v in by_q[m].values() for i in range(3) for j in range(i)]
             for m in (best, accurate)}
    assert min(pairs[best]) > 0
    spread = {m: sum(d) / len(d) for m, d in pairs.items()}  # mean distance of two samples of a question
    assert spread[best] < spread[accurate], spread  # 0.46 and 0.61 on the demo
    student = _rows(src["student"])
    easy = [r["metadata"]["planted_correct"] for r in student if r["metadata"]["difficulty"] <= STUDENT_SOLVES]
    hard = [r["metadata"]["planted_correct"] for r in student if r["metadata"]["difficulty"] > STUDENT_SOLVES]
    assert all(easy) and sum(hard) / len(hard) < 0.3
    assert {r["model"] for r in student} == {STUDENT}


def test_committed_demo_sources_are_the_generators_output(tmp_path):
    """data/demo (what `dvc repro` ingests on a fresh clone) is exactly `python -m ded.demo data/demo`."""
    from pathlib import Path

    committed = Path(__file__).resolve().parents[1] / "data" / "demo"
    fresh = write_demo_sources(tmp_path, seed=0, size="demo")
    assert sorted(p.name for p in committed.iterdir()) == sorted(p.name for p in fresh.values())
    for path in fresh.values():
        assert (committed / path.name).read_bytes() == path.read_bytes(), (
            f"data/demo/{path.name} is stale: regenerate it with `python -m ded.demo data/demo`")


def test_wrong_concise_chains_leave_one_operand_out(tmp_path):
    """Fact 2: the planted best teacher's wrong samples are a systematic slip (one operand skipped, the chain
    one line short), so training on them teaches the slip: the correctness filter has work to do."""
    train, _ = demo_items(0, "ci")
    src = write_demo_sources(tmp_path, size="ci")
    items = {i["problem"]: i for i in train if i["domain"] == "math"}
    wrong = 0
    for r in _rows(src[f"teacher_{PLANTED_BEST_TEACHER}"]):
        item = items.get(r["problem"])
        if item is None:
            continue
        chain = [line for line in split_reasoning(r["response"])[0].splitlines() if " = " in line]
        if r["metadata"]["planted_correct"]:  # a skipped operand 0 still lands on the total
            assert len(chain) == item["difficulty"] or (len(chain) == item["difficulty"] - 1 and 0 in item["ops"])
        else:
            wrong += 1
            assert len(chain) == item["difficulty"] - 1
            assert int(_boxed(r["response"])) in {int(item["answer"]) - v for v in item["ops"]}
    assert wrong


def test_the_committed_student_base_is_the_builders_and_never_read_a_benchmark_problem():
    """data/demo-student is what `python -m ded.demo_student` builds from this code (tiny.json's spec); its
    pretraining draws leave every demo benchmark problem out, and its chat transcripts are of the easy band only
    (one operand: what the student rollouts say it solves)."""
    import random
    from pathlib import Path

    from ded import demo_student
    from ded.demo import STUDENT_BASE

    base = Path(__file__).resolve().parents[1] / STUDENT_BASE
    assert demo_student.is_current(base), (
        f"{STUDENT_BASE} is stale: rebuild it with `python -m ded.demo_student` (about 7 CPU minutes)")
    bench = {b["problem"] for size in ("demo", "ci") for b in demo_items(0, size)[1]}
    rng = random.Random(0)
    chat = demo_student._chat(demo_student.build_tokenizer())
    docs = [demo_student.pretraining_doc(rng, bench, chat) for _ in range(3000)]
    chats = [d for d in docs if d.startswith("<|im_start|>")]
    assert 0.15 < len(chats) / len(docs) < 0.35
    assert not any(p in d for d in docs for p in bench)
    for d in chats:  # the easy band in the chat turn: one operand, one chain line, its boxed total
        problem = re.search(r"<\|im_start\|>user\n(.*?)\n", d).group(1)
        assert len(re.findall(r" \+ [a-e]\d = ", d)) == STUDENT_SOLVES == len(re.findall(r" [a-e]\d", problem))
        assert re.search(r"</think>\n\nThe answer is \\boxed\{\d+\}<\|im_end\|>", d)
    raw = [d for d in docs if d not in chats]
    assert not any(re.search(r"boxed\{\d", d) or "<think>" in d or "<|im_start|>" in d for d in raw)


def test_the_committed_base_solves_the_easy_band_in_the_chat_turn_and_not_the_benchmark():
    """Fact 3 is about the real base, not only the synthetic student rollouts: greedy answers of
    data/demo-student in the chat turn solve the training pool's one-operand problems (what compression
    removes) and almost none of demo-math (difficulty 2-5: what SFT must teach)."""
    from pathlib import Path

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ded.demo import STUDENT_BASE
    from ded.prompts import render_messages

    base = Path(__file__).resolve().parents[1] / STUDENT_BASE
    tok, model = AutoTokenizer.from_pretrained(base), AutoModelForCausalLM.from_pretrained(base).eval()
    train, bench = demo_items(0, "demo")

    def solved(items):
        prompts = [tok.apply_chat_template(render_messages(i), add_generation_prompt=True, tokenize=False) for i in items]
        batch = tok(prompts, return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=48, do_sample=False, pad_token_id=tok.pad_token_id)
        texts = tok.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        return [_boxed(t.split("</think>")[-1]) == i["answer"] for t, i in zip(texts, items)]

    easy = [i for i in train if i["domain"] == "math" and i["difficulty"] <= STUDENT_SOLVES]
    hard = [b for b in bench if b["domain"] == "math"][:40]
    assert hard and min(b["difficulty"] for b in hard) > STUDENT_SOLVES
    assert sum(solved(easy)) >= 0.9 * len(easy)
    assert sum(solved(hard)) <= 0.05 * len(hard)
