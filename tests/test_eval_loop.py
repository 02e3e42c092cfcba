"""The evaluation loop end to end with a scripted backend: resume by fingerprint, n raised later, grading of
reasoning models' outputs, GPQA shuffle through the prompt, LiveCodeBench window and public-tests notes."""

import csv
import json
import re

import pytest

from ded.backends.base import Backend, GenResult
from ded.benchmarks import gpqa
from ded.lake import Lake
from ded.params import parse_params
from ded.stages.evaluate import main


class ScriptedBackend(Backend):
    """Answers each request with `answer(user_text, sample_idx)`; counts what it was asked."""

    name = "scripted"

    def __init__(self, answer):
        super().__init__(None)
        self.answer, self.calls = answer, []

    def generate(self, requests):
        for r in requests:
            self.calls.append((r.messages[-1]["content"], r.sample_idx))
            yield GenResult(key=r.key, text=self.answer(r.messages[-1]["content"], r.sample_idx),
                            completion_tokens=7, sample_idx=r.sample_idx)


def base_params(tmp_path, benchmarks, **evaluate):
    return parse_params({
        "models": [{"name": "student", "backend": "transformers", "model": "none/never-loaded"}],
        "student": {"model": "student"},
        "benchmarks": benchmarks,
        "evaluate": {"metrics_dir": str(tmp_path / "metrics"), "bootstrap": 500, "grade_workers": 1, **evaluate},
    })


def test_math_avg_pass_resume_and_raising_n(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # receipts/ goes here
    lines = (shared_data / "aime24" / "qwen25math_aime24_test.jsonl").read_text().splitlines()
    golds = {json.loads(x)["problem"].strip(): str(int(json.loads(x)["answer"])) for x in lines}
    order = {}

    def answer(text, i):
        gold = next(g for p, g in golds.items() if p[:200] in text)
        k = order.setdefault(gold, len(order))  # items in the order first asked (sorted item ids)
        if i == 0 or (i == 3 and k < 2):
            return f"<think>work</think>\nSo the answer is $\\boxed{{{gold}}}$."
        if i == 2:
            return f"<think>cut off while guessing \\boxed{{{gold}}}"  # unclosed: no answer
        return f"<think>work</think>\n\\boxed{{{int(gold) + 1}}}"

    bench = {"aime24": {"path_or_hub": str(shared_data / "aime24" / "qwen25math_aime24_test.jsonl")}}
    lake = Lake(tmp_path / "lake")
    be = ScriptedBackend(answer)
    main(base_params(tmp_path, bench, n=2, limit=4), lake, backend=be)
    assert len(be.calls) == 8
    out = main(base_params(tmp_path, bench, n=4, limit=4), lake, backend=be)
    assert len(be.calls) == 16 and sorted(i for _, i in be.calls[8:]) == [2, 2, 2, 2, 3, 3, 3, 3]
    m = out["aime24"]["student"]["metrics"]
    # items 0,1: samples 0 and 3 right (2/4); items 2,3: sample 0 only (1/4)
    assert m["avg_at_n"] == pytest.approx((0.5 + 0.5 + 0.25 + 0.25) / 4)
    assert m["pass_at_k"]["2"] == pytest.approx((2 * (1 - 1 / 6) + 2 * (1 - 3 / 6)) / 4)
    assert m["pass_at_k"]["4"] == 1.0 and m["undecided_samples"] == 0
    again = main(base_params(tmp_path, bench, n=4, limit=4), lake, backend=be)
    assert len(be.calls) == 16 and again["aime24"]["student"]["metrics"]["avg_at_n"] == m["avg_at_n"]
    rows = lake.read("eval_samples").to_pylist()
    assert len(rows) == 16 and len({r["run_id"] for r in rows}) == 1
    unclosed = [r for r in rows if r["sample_idx"] == 2]
    assert all(r["status"] == "no_answer" and r["correct"] is False and not r["closed"] for r in unclosed)
    doc = json.loads((tmp_path / "metrics" / "aime24.json").read_text())
    entry = doc["models"]["student"]
    assert entry["grading"]["no_answer"]["unclosed_reasoning"] == 4 and entry["this_run"]["generated"] == 0
    assert entry["sampling"] == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 16384} and entry["seed"] == 0
    assert json.loads((tmp_path / "receipts" / "evaluate.json").read_text())["tables"]["eval_samples"]["rows"] == 16
    # a verifier fix bumps its version: the next run regrades every sample and generates nothing
    import ded.verifiers
    import ded.verifiers.math

    monkeypatch.setitem(ded.verifiers.VERIFIER_VERSIONS, "math", "math-next")
    monkeypatch.setattr(ded.verifiers.math, "VERSION", "math-next")  # what the math verifier stamps on results
    regraded = main(base_params(tmp_path, bench, n=4, limit=4), lake, backend=be)["aime24"]["student"]
    assert regraded["this_run"]["graded"] == 16 and regraded["this_run"]["generated"] == 0 and len(be.calls) == 16
    assert {r["verifier_version"] for r in lake.read("eval_samples").to_pylist()} == {"math-next"}


GPQA_ROWS = [
    {"Record ID": f"rec{i}", "Question": f"Question number {i}: which is right?", "Correct Answer": f"right {i}",
     "Incorrect Answer 1": f"wrong {i}a", "Incorrect Answer 2": f"wrong {i}b", "Incorrect Answer 3": f"wrong {i}c",
     "High-level domain": "Physics", "Subdomain": "x"} for i in range(12)
]


def test_gpqa_options_are_shuffled_in_the_prompt_and_letters_graded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "gpqa_diamond.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(GPQA_ROWS[0]))
        w.writeheader()
        w.writerows(GPQA_ROWS)
    bench = {"gpqa": {"path_or_hub": str(path), "domain": "science"}}
    shown = []

    def pick_right(text, _i):
        opts = dict(re.findall(r"^([A-D])\) (.*)$", text, re.MULTILINE))
        shown.append(opts)
        return "<think>compare</think>\nAnswer: " + next(k for k, v in opts.items() if v.startswith("right"))

    lake = Lake(tmp_path / "lake")
    out = main(base_params(tmp_path, bench, n=1), lake, backend=ScriptedBackend(pick_right))
    assert out["gpqa"]["student"]["metrics"]["avg_at_n"] == 1.0
    right_letters = [next(k for k, v in o.items() if v.startswith("right")) for o in shown]
    assert len(set(right_letters)) >= 3  # not always A (the stored order)
    expected = {r["Record ID"]: gpqa.shuffled(r["Record ID"], [r["Correct Answer"], r["Incorrect Answer 1"],
                r["Incorrect Answer 2"], r["Incorrect Answer 3"]], r["Correct Answer"], 0)[1] for r in GPQA_ROWS}
    # a model that always says A scores exactly the share of items whose shuffled correct letter is A
    out = main(base_params(tmp_path, bench, n=1, seed=0, temperature=0.0), lake,
               backend=ScriptedBackend(lambda t, i: "Answer: A"))
    assert out["gpqa"]["student"]["metrics"]["avg_at_n"] == pytest.approx(
        sum(v == "A" for v in expected.values()) / 12)
    # a model that boxes the right option's text instead of its letter is read through the option text
    out = main(base_params(tmp_path, bench, n=1, seed=0, temperature=0.1), lake,
               backend=ScriptedBackend(lambda t, i: "<think>x</think>\n\\boxed{" + re.search(r"right \d+", t).group() + "}"))
    assert out["gpqa"]["student"]["metrics"]["avg_at_n"] == 1.0


SOLUTION_3612 = """class Solution:
    def hasIncreasingSubarrays(self, nums: List[int], k: int) -> bool:
        run = [1] * len(nums)  # length of the strictly increasing run ending at i
        for i in range(1, len(nums)):
            if nums[i] > nums[i - 1]:
                run[i] = run[i - 1] + 1
        return any(run[a + k - 1] >= k and run[a + 2 * k - 1] >= k for a in range(len(nums) - 2 * k + 1))"""


def test_livecodebench_window_difficulty_and_public_tests_note(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bench = {"lcb": {"path_or_hub": str(shared_data / "lcb" / "lcb_v5_test_2408_2501_joined.jsonl"),
                     "domain": "code"}}
    be = ScriptedBackend(lambda t, i: "<think>plan</think>\n```python\n"
                         + (SOLUTION_3612 if "hasIncreasingSubarrays" in t else "print(0)") + "\n```")
    out = main(base_params(tmp_path, bench, n=1, lcb_start="2024-10-01", lcb_end="2024-12-01",
                           lcb_difficulties=["easy"], limit=3), Lake(tmp_path / "lake"), backend=be)
    e = out["lcb"]["student"]
    assert e["metrics"]["items"] == 3 and list(e["by_difficulty"]) == ["easy"]
    assert any("public tests only" in n for n in e["notes"])
    assert e["dropped_items"]["before 2024-10-01"] > 0 and e["dropped_items"]["difficulty hard"] > 0
    # the one right program (LeetCode 3612, a functional test through its starter code) passes; the rest fail
    assert e["metrics"]["avg_at_n"] == pytest.approx(1 / 3)
    assert e["grading"]["correct"]["samples"] == 1 and set(e["grading"]) - {"correct"} <= {"wrong", "error"}
    assert all("python" in c[0] for c in be.calls)  # the shared code template framed each prompt


def test_real_transformers_backend_tiny_model(tiny_model_dir, tmp_path, monkeypatch):
    """The loop through get_backend with the tiny offline model: samples land, graded, and a rerun adds none."""
    monkeypatch.chdir(tmp_path)
    bench_file = tmp_path / "mini.jsonl"
    bench_file.write_text("".join(json.dumps({"id": f"m{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i)})
                                  + "\n" for i in range(3)))
    params = parse_params({
        "models": [{"name": "tiny", "backend": "transformers", "model": str(tiny_model_dir),
                    "sampling": {"temperature": 0.7, "max_tokens": 8}}],
        "student": {"model": "tiny"},
        "benchmarks": {"mini": {"path_or_hub": str(bench_file)}},
        "evaluate": {"n": 2, "metrics_dir": str(tmp_path / "metrics"), "bootstrap": 200, "grade_workers": 1},
    })
    lake = Lake(tmp_path / "lake")
    e = main(params, lake)["mini"]["tiny"]
    rows = lake.read("eval_samples").to_pylist()
    assert len(rows) == 6 and e["this_run"]["generated"] == 6
    assert all(r["graded_at"] is not None and r["status"] for r in rows)
    assert all(r["n_tokens"] is None or r["n_tokens"] <= 8 for r in rows)
    v = lake.version("eval_samples")
    e2 = main(params, lake)["mini"]["tiny"]
    assert e2["this_run"] == {"generated": 0, "skipped": 6, "errors": 0, "graded": 0, "tokens_per_s": None}
    assert lake.version("eval_samples") == v


def test_cli_import_grades_outside_outputs_and_report_shows_them(tmp_path, monkeypatch):
    """`ded evaluate --import` grades a JSONL of responses; `ded report` then shows the run with its interval."""
    from typer.testing import CliRunner

    from ded.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bench.jsonl").write_text("".join(
        json.dumps({"id": f"q{i}", "problem": f"What is {i} times 3?", "answer": str(3 * i)}) + "\n" for i in range(4)))
    (tmp_path / "p.yaml").write_text(json.dumps({
        "benchmarks": {"mini": {"path_or_hub": "bench.jsonl"}},
        "evaluate": {"metrics_dir": "metrics", "bootstrap": 200, "grade_workers": 1}}))
    # two samples per item by problem text; item q3 has one unclosed think (no answer) and one wrong answer
    recs = [{"problem": f"What is {i} times 3?", "response": f"<think>x</think>\\boxed{{{3 * i}}}"}
            for i in range(3) for _ in range(2)]
    recs += [{"item_id": "q3", "response": "<think>never closed \\boxed{9}"},
             {"item_id": "q3", "response": "\\boxed{10}"}]
    (tmp_path / "out.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    base = ["--lake", "lake", "--params", "p.yaml"]
    res = CliRunner().invoke(app, base + ["evaluate", "--import", "out.jsonl", "-m", "outside", "-b", "mini"])
    assert res.exit_code == 0, res.output
    assert "0.7500" in res.output and "mini" in res.output
    doc = json.loads((tmp_path / "metrics" / "mini.json").read_text())["models"]["outside"]
    assert doc["metrics"]["avg_at_n"] == 0.75 and doc["grading"]["no_answer"]["unclosed_reasoning"] == 1
    res = CliRunner().invoke(app, base + ["report", "-o", "rep"])
    assert res.exit_code == 0, res.output
    card = (tmp_path / "rep" / "corpus_card.md").read_text()
    assert "| mini | outside | 4 | 2 | 0.75 |" in card
    res = CliRunner().invoke(app, base + ["evaluate", "--import", "out.jsonl", "-m", "outside"])
    assert res.exit_code != 0 and "exactly one --benchmark" in res.output


def test_openai_backend_against_a_local_server_with_failures(tmp_path, monkeypatch):
    """The loop through the `openai` backend and a real HTTP server on 127.0.0.1 (tests/openai_stub.py) that
    fails each prompt's first request with a 500: every sample lands once, a rerun sends nothing."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from openai_stub import StubServer, fail_first

    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"id": f"m{i}", "problem": f"What is {i} + 1?",
                                                          "answer": str(i + 1)}) + "\n" for i in range(5)))
    with StubServer(script=fail_first(1, status=500)) as srv:
        params = parse_params({
            "models": [{"name": "served", "backend": "openai", "model": "stub-model", "base_url": srv.url,
                        "options": {"max_retries": 3, "backoff_s": 0.01}}],
            "student": {"model": "served"},
            "benchmarks": {"b": {"path_or_hub": "b.jsonl"}},
            "evaluate": {"n": 3, "metrics_dir": "metrics", "bootstrap": 200, "grade_workers": 1},
        })
        lake = Lake(tmp_path / "lake")
        e = main(params, lake)["b"]["served"]
        assert e["this_run"]["generated"] == 15 and e["this_run"]["errors"] == 0 and e["missing_samples"] == 0
        calls = srv.calls
        assert calls == 2 * 5  # one n=3 request per prompt (the backend groups samples), failed once, retried
        e2 = main(params, lake)["b"]["served"]
        assert srv.calls == calls and e2["this_run"]["skipped"] == 15
    rows = lake.read("eval_samples").to_pylist()
    assert len(rows) == 15 and all(r["status"] in ("wrong", "no_answer", "correct") for r in rows)


def test_a_retrained_local_model_gets_new_samples_and_an_unchanged_one_none(tmp_path, monkeypatch):
    """`ded sft` rewrites models/student in place: same path, new weights. Its samples must not be reused."""
    monkeypatch.chdir(tmp_path)
    bench_file = tmp_path / "mini.jsonl"
    bench_file.write_text("".join(json.dumps({"id": f"m{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i)})
                                  + "\n" for i in range(3)))
    model = tmp_path / "models" / "student"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"hidden_size": 8}')
    weights = model / "model.safetensors"
    weights.write_bytes(b"w" * (3 << 20))  # over 1 MiB: identified by its size and edges
    params = base_params(tmp_path, {"mini": {"path_or_hub": str(bench_file)}}, n=2, model_path=str(model))
    lake = Lake(tmp_path / "lake")
    right = ScriptedBackend(lambda t, i: "\\boxed{" + str(2 * int(re.search(r"(\d+) \+", t).group(1))) + "}")
    first = main(params, lake, backend=right)["mini"]["student"]
    assert first["this_run"]["generated"] == 6 and first["metrics"]["avg_at_n"] == 1.0

    unchanged = ScriptedBackend(lambda t, i: "\\boxed{-1}")
    again = main(params, lake, backend=unchanged)["mini"]["student"]
    assert unchanged.calls == [] and again["this_run"]["generated"] == 0 and again["run_id"] == first["run_id"]
    assert again["metrics"]["avg_at_n"] == 1.0

    with weights.open("r+b") as fh:  # retrained: same path, same size, other bytes at the end
        fh.seek((3 << 20) - 4)
        fh.write(b"new!")
    wrong = ScriptedBackend(lambda t, i: "\\boxed{-1}")
    retrained = main(params, lake, backend=wrong)["mini"]["student"]
    assert len(wrong.calls) == 6 and retrained["this_run"]["generated"] == 6
    assert retrained["run_id"] != first["run_id"] and retrained["metrics"]["avg_at_n"] == 0.0
    assert lake.count("eval_samples") == 12  # the old model's samples are kept under their own run_id


def test_model_identity_hashes_local_directories_only(tmp_path):
    from ded.evaluation.model_identity import model_identity

    assert model_identity("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text("{}")
    a = model_identity(str(d))
    assert a.startswith(f"{d}@sha256:") and model_identity(str(d)) == a
    (d / "config.json").write_text('{"x": 1}')
    assert model_identity(str(d)) != a
