"""`--kind`: inferred from the preset and the fields by default; nothing a source carries is dropped silently."""

import json

import pytest
from typer.testing import CliRunner

from ded.cli import app
from ded.ingest import ingest_paths
from ded.ingest.presets import PRESETS, TRAJECTORY_PRESETS

runner = CliRunner()  # click >= 8.2: result.stdout and result.stderr apart


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def cli(lake, *args):
    r = runner.invoke(app, ["--lake", str(lake), *args])
    assert r.exit_code == 0, (r.output, r.exception)
    return r.stdout, r.stderr


QWEN_ROW = {"idx": 0, "question": "What is 6*7?", "gt": "42", "code": ["6*7 = \\boxed{42}", "\\boxed{41}"],
            "pred": ["42", "41"], "score": [True, False]}
# one minimal row per trajectory-only preset (the shapes tests/test_ingest_presets.py documents)
TRAJ_ROWS = {
    "qwen-math-eval": QWEN_ROW,
    "openr1-math": {"problem": "What is 6*7?", "answer": "42", "generations": ["\\boxed{42}"],
                    "correctness_math_verify": [True]},
    "openthoughts": {"conversations": [{"from": "user", "value": "What is 6*7?"},
                                       {"from": "assistant", "value": "\\boxed{42}"}]},
    "s1k": {"question": "What is 6*7?", "solution": "42", "thinking_trajectories": ["6*7"], "attempt": "42"},
}


def test_every_trajectory_only_preset_is_listed_and_has_a_fixture():
    assert set(TRAJECTORY_PRESETS) == set(TRAJ_ROWS) and set(TRAJECTORY_PRESETS) <= set(PRESETS)


@pytest.mark.parametrize("preset", sorted(TRAJ_ROWS))
def test_a_trajectory_preset_implies_kind_trajectories(lake, tmp_path, preset):
    f = jsonl(tmp_path / "dump.jsonl", [TRAJ_ROWS[preset]])
    out, _ = cli(tmp_path / "lake", "ingest", str(f), "--preset", preset)
    assert "trajectories: 0 inserted" not in out
    assert f"kind: trajectories (preset {preset}" in out
    assert lake.count("trajectories") >= 1 and lake.count("questions") == 1


def test_generic_rows_with_responses_are_ingested_as_trajectories_by_default(lake, tmp_path):
    f = jsonl(tmp_path / "t.jsonl", [{"problem": f"P{i}", "response": f"<think>r</think>{i}", "model": "m"}
                                     for i in range(5)])
    rep = ingest_paths(lake, [f])  # the Python API defaults to auto too
    assert (rep.questions_inserted, rep.trajectories_inserted) == (5, 5)
    assert "kind: trajectories (the records carry responses: response)" in rep.summary()


@pytest.mark.parametrize("preset, row", [
    ("generic", {"problem": "What is 6*7?", "answer": "42"}),
    ("lcb", {"question_content": "Print 1.", "question_id": "1", "public_tests": []}),
    ("rllm", {"problem": "What is 6*7?", "answer": "42"}),
    ("humaneval", {"prompt": "def f():\n", "entry_point": "f", "test": "assert f() is None", "task_id": "H/0"}),
])
def test_question_sets_stay_questions_by_default(lake, tmp_path, preset, row):
    f = jsonl(tmp_path / "q.jsonl", [row])
    rep = ingest_paths(lake, [f], preset=preset)
    assert (rep.questions_inserted, rep.trajectories_inserted, rep.responses_ignored) == (1, 0, 0)
    assert "warning" not in rep.summary().lower()


def test_explicit_kind_questions_warns_with_the_count_and_the_fix(lake, tmp_path):
    rows = [dict(QWEN_ROW, idx=i, question=f"What is {i}*7?") for i in range(3)]
    f = jsonl(tmp_path / "dump.jsonl", rows)
    out, err = cli(tmp_path / "lake", "ingest", str(f), "--preset", "qwen-math-eval", "--kind", "questions")
    assert "questions: 3 inserted" in out
    both = out + err
    assert "warning: 3 record(s) carry responses (field code)" in both and "--kind trajectories" in both
    assert lake.count("questions") == 3 and "trajectories" not in lake.table_names()
    rep = ingest_paths(lake, [f], kind="questions", preset="qwen-math-eval")
    assert rep.responses_ignored == 3 and "--kind trajectories" in rep.summary()


def test_generic_file_with_responses_after_the_first_record_is_not_lost_silently(lake, tmp_path):
    rows = [{"problem": "P0"}] + [{"problem": f"P{i}", "completion": "x"} for i in range(1, 4)]
    rep = ingest_paths(lake, [jsonl(tmp_path / "mixed.jsonl", rows)])
    assert rep.responses_ignored == 3 and "warning: 3 record(s) carry responses (field completion)" in rep.summary()


def test_real_dumps_without_kind(lake, tmp_path, shared_data):
    f = shared_data / "trajectories/qwen25math_math_cot_100_8samples.jsonl"
    out, _ = cli(tmp_path / "lake", "ingest", str(f))
    assert "questions: 100 inserted" in out and "trajectories: 800 inserted" in out, out
    g = shared_data / "trajectories/skythought_evals/aime24/gemma-2-27b-it.jsonl.gz"
    out, _ = cli(tmp_path / "lake", "ingest", str(g), "--preset", "qwen-math-eval")
    assert "trajectories: 30 inserted" in out and "imported verdicts: 30 inserted" in out, out


def test_params_sources_keep_their_explicit_kinds(tmp_path):
    """`ded ingest` with no paths reads params `ingest.sources` (kind given per source)."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    qf = jsonl(tmp_path / "q.jsonl", [{"problem": "P1", "answer": "1"}])
    tf = jsonl(tmp_path / "t.jsonl", [{"problem": "P1", "response": "\\boxed{1}", "model": "m"},
                                      {"problem": "P2", "response": "\\boxed{2}", "model": "m"}])
    params = tmp_path / "params.yaml"
    import yaml

    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["ingest"]["sources"] = [{"path": str(qf), "kind": "questions", "source": "s"},
                              {"path": str(tf), "kind": "trajectories", "source": "s"}]
    params.write_text(yaml.safe_dump(p))
    r = runner.invoke(app, ["--lake", str(tmp_path / "lake"), "--params", str(params), "ingest"])
    assert r.exit_code == 0, r.output
    # P1 was inserted by the first source of the same call: not "already present"
    assert "questions: 2 inserted, 0 already present" in r.stdout
    assert "trajectories: 2 inserted" in r.stdout


def test_skythought_tools_dict_of_responses(lake, tmp_path):
    """A .json dict keyed by problem; responses {"0.0": {content, correctness}} (the SkyThought tools dump)."""
    rec = {"id": 60, "problem": "What is 6*7?", "answer": "42",
           "responses": {"0.0": {"content": "<|begin_of_thought|>6*7<|end_of_thought|>\\boxed{42}", "correctness": True,
                                 "reason": ""}},
           "token_usages": {"0.0": {"completion_tokens": 12, "prompt_tokens": 5}}}
    f = tmp_path / "tools.json"
    f.write_text(json.dumps({rec["problem"]: rec}))
    rep = ingest_paths(lake, [f], model="qwen2.5-32b-instruct")
    assert (rep.questions_inserted, rep.trajectories_inserted, rep.verdicts_inserted) == (1, 1, 1)
    t = lake.read("trajectories").to_pylist()[0]
    assert (t["n_tokens"], json.loads(t["gen_params"]), t["model"]) == (12, {"temperature": 0.0}, "qwen2.5-32b-instruct")


def test_real_skythought_tools_file(lake, shared_data):
    f = shared_data / "trajectories/skythought_evals/aime24/qwen2.5-32b-instruct-skythought-tools.json.gz"
    rep = ingest_paths(lake, [f])
    assert (rep.questions_inserted, rep.trajectories_inserted, rep.verdicts_inserted) == (30, 30, 30)
    assert not rep.rejected
    ok = [v["correct"] for v in lake.read("verdicts").to_pylist()]
    assert sum(ok) / len(ok) == 0.2  # SOURCES.md: acc 0.2
