"""`ded verify` as a stage: incremental verdicts in the lake, format columns, force, judge, CLI."""

from __future__ import annotations

import json

import pytest

from ded.backends import GenResult
from ded.params import Params, parse_params
from ded.stages.verify import VerifyError, main
from ded.verifiers import VERIFIER_VERSIONS


def _lake_with_work(lake):
    lake.append("questions", [
        {"question_id": "q_math", "domain": "math", "problem": "1/2 as a decimal?", "answer": "0.5"},
        {"question_id": "q_code", "domain": "code", "problem": "echo", "answer": None,
         "tests": json.dumps([{"input": "hi\n", "output": "hi\n", "testtype": "stdin"}])},
    ])
    lake.append("trajectories", [
        {"trajectory_id": "t1", "question_id": "q_math", "model": "m", "sample_idx": 0,
         "response": r"<think>half</think> \boxed{\frac{1}{2}}", "finish_reason": "stop", "n_tokens": 12,
         "gen_params": json.dumps({"max_tokens": 100})},
        {"trajectory_id": "t2", "question_id": "q_math", "model": "m", "sample_idx": 1,
         "response": r"<think>so \boxed{0.5} and then", "finish_reason": "length", "n_tokens": 100,
         "gen_params": json.dumps({"max_tokens": 100})},
        {"trajectory_id": "t3", "question_id": "q_code", "model": "m", "sample_idx": 0,
         "response": "<think>easy</think>\n```python\nprint(input())\n```", "finish_reason": "stop"},
        {"trajectory_id": "t4", "question_id": "q_code", "model": "m", "sample_idx": 1,
         "response": "```python\nprint('no')\n```", "finish_reason": "stop"},
    ])


def _verdicts(lake, verifier=None):
    rows = lake.read("verdicts").to_pylist()
    return {r["trajectory_id"]: r for r in rows if verifier is None or r["verifier"] == verifier}


def test_stage_grades_then_does_nothing_then_force_regrades(lake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # receipts/verify.json lands here
    _lake_with_work(lake)
    s = main(Params(), lake, workers=2, show_progress=False)
    assert s["graded"] == 4
    v = _verdicts(lake)
    assert (v["t1"]["status"], v["t1"]["correct"], v["t1"]["format_ok"]) == ("correct", True, True)
    assert (v["t2"]["status"], v["t2"]["correct"], v["t2"]["format_ok"]) == ("no_answer", False, False)
    assert v["t2"]["finished"] is False and v["t2"]["n_tokens"] == 100
    assert (v["t3"]["verifier"], v["t3"]["status"], v["t3"]["tests_passed"], v["t3"]["tests_total"]) == ("code", "correct", 1, 1)
    assert v["t3"]["format_ok"] is True and v["t4"]["format_ok"] is False  # t4 has no <think>
    assert (v["t4"]["status"], v["t4"]["correct"]) == ("wrong", False)
    assert v["t1"]["verifier_version"] == VERIFIER_VERSIONS["math"]
    assert json.loads((tmp_path / "receipts" / "verify.json").read_text())["tables"]["verdicts"]["rows"] == 4

    version = lake.version("verdicts")
    assert main(Params(), lake, workers=2, show_progress=False)["graded"] == 0
    assert lake.version("verdicts") == version  # nothing new: no commit

    lake.append("trajectories", [{"trajectory_id": "t5", "question_id": "q_math", "model": "m", "sample_idx": 2,
                                  "response": r"\boxed{0.4}", "finish_reason": "stop"}])
    s = main(Params(), lake, workers=2, show_progress=False)
    assert s["graded"] == 1 and _verdicts(lake)["t5"]["status"] == "wrong"

    s = main(Params(), lake, workers=2, force=True, show_progress=False)
    assert s["graded"] == 5 and lake.count("verdicts") == 5  # regraded in place (merge on the key)


def test_new_verifier_version_regrades_only_that_verifier(lake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _lake_with_work(lake)
    main(Params(), lake, workers=1, show_progress=False)
    monkeypatch.setitem(VERIFIER_VERSIONS, "math", "math-test-next")
    s = main(Params(), lake, workers=1, show_progress=False)
    assert s["graded"] == 2 and {r["verifier"] for r in s["by_status"]} == {"math"}


def test_judge_verdicts_store_the_raw_answer(lake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _lake_with_work(lake)
    params = parse_params({"models": [{"name": "judge", "backend": "openai", "model": "j", "base_url": "http://x"}],
                           "verify": {"judge": {"enabled": True, "model": "judge", "domains": ["math"]}}})
    prompts = []

    class FakeBackend:
        def generate(self, reqs):
            for r in reqs:
                prompts.append(r.messages[0]["content"])
                yield GenResult(key=r.key, text="Equal values.\nVERDICT: CORRECT")

    main(params, lake, workers=1, show_progress=False, judge_backend=FakeBackend())
    j = _verdicts(lake, "judge")
    assert set(j) == {"t1", "t2"}
    assert (j["t1"]["status"], j["t1"]["correct"]) == ("correct", True)
    assert "VERDICT: CORRECT" in json.loads(j["t1"]["detail"])["raw"]
    assert (j["t2"]["status"], j["t2"]["correct"]) == ("no_answer", False)  # cut off: nothing to judge
    assert len(prompts) == 1 and "Reference answer:\n0.5" in prompts[0]


def test_missing_tables_name_the_fix(lake):
    with pytest.raises(VerifyError, match="ded ingest"):
        main(Params(), lake)


def test_cli_prints_a_summary_by_status(lake, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ded.cli import app

    monkeypatch.chdir(tmp_path)
    _lake_with_work(lake)
    out = CliRunner().invoke(app, ["--lake", str(lake.root), "verify", "--workers", "1", "--format", "json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["graded"] == 4
    assert {(r["verifier"], r["status"]): r["n"] for r in summary["by_status"]} == {
        ("code", "correct"): 1, ("code", "wrong"): 1, ("math", "correct"): 1, ("math", "no_answer"): 1}
    out = CliRunner().invoke(app, ["--lake", str(lake.root), "verify"])
    assert out.exit_code == 0 and "nothing to verify" in out.output
