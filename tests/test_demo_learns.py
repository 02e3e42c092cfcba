"""The demo world's planted facts, measured end to end in a clone of the repository: the README's `dvc repro`,
then the ablation harness (`dvc repro pipelines/ablate/dvc.yaml`) with the demo profile's own settings on a
CI-sized matrix: `ded`, `random` and DED's three stage ablations at one budget, 3 seeds.

What ded/demo.py plants and why each must hold:
- Fact 1: the smoke tests (a short SFT of the student on each teacher) rank the planted best teacher
  (synthetic-concise, the base's own notation) above the accuracy-best one (synthetic-verbose, right on every
  question, in prose the student never read): their 95% intervals do not overlap, and `select.teacher_metric:
  auto` picks by the smoke scores, so the corpus comes from the planted best teacher although verified accuracy
  ranks it first;
- the student learns: the committed base (data/demo-student) scores ~0 on demo-math (tests/test_demo.py: it has
  never answered a chain of two or more operands in the chat turn), and the student `ded sft` trains on the
  selected corpus reaches avg@n >= 0.40 (issue 13's target);
- Facts 2-4 together: the `ded` corpus trains the student better than the same-size `random` corpus of the
  same teacher (random keeps the teacher's wrong samples, which skip an operand, spends a fifth of its rows on
  one-operand sums the student already answers, and draws copies of a question's samples): the paired 95%
  interval of the difference on demo-math lies above 0;
- every stage-ablation arm (the paper's Table 3 rows) is run, reported in `ablations` and compared with random.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ded.demo import ACCURACY_BEST_TEACHER, PLANTED_BEST_TEACHER

REPO = Path(__file__).resolve().parents[1]
BUDGET = 100
STAGE_ARMS = ["ded-teacher", "ded-correct", "ded-compression"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repro(tmp_path_factory):
    from conftest import clone_workspace, run_checked

    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the test clones the repository's tracked files")
    ws = tmp_path_factory.mktemp("demo")
    env = clone_workspace(ws)
    run_checked(["dvc", "repro"], ws, env, timeout=2400)
    return ws, env


@pytest.fixture(scope="module")
def ablation(repro):
    from conftest import run_checked

    ws, env = repro
    p = yaml.safe_load((ws / "params.yaml").read_text())
    p["ablate"].update(recipes=["ded", "random", *STAGE_ARMS], budgets=[BUDGET], seeds=[0, 1, 2], teachers=["auto"])
    (ws / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    run_checked(["dvc", "repro", "pipelines/ablate/dvc.yaml"], ws, env, timeout=3000)
    return ws, json.loads((ws / "metrics" / "ablate.json").read_text())


def test_smoke_tests_rank_the_planted_best_teacher_above_the_accuracy_best(repro):
    from ded.lake import Lake

    ws, _ = repro
    rows = {r["model"]: r for r in Lake(ws / "lake").read("smoke_results").to_pylist() if r["benchmark"] == "demo-math"}
    best, accurate = rows[PLANTED_BEST_TEACHER], rows[ACCURACY_BEST_TEACHER]
    assert best["score_ci_low"] > accurate["score_ci_high"], (best, accurate)
    teacher = json.loads((ws / "corpus" / "manifest.json").read_text())["teacher"]
    assert teacher["metric"] == "smoke" and teacher["chosen"] == [PLANTED_BEST_TEACHER], teacher
    corpus = [json.loads(line) for line in (ws / "corpus" / "train.jsonl").read_text().splitlines()]
    models = {r["trajectory_id"]: r["model"] for r in Lake(ws / "lake").read(
        "trajectories", columns=["trajectory_id", "model"]).to_pylist()}
    assert {models[c["trajectory_id"]] for c in corpus} == {PLANTED_BEST_TEACHER}
    ms = [r for r in Lake(ws / "lake").read("model_scores").to_pylist()
          if r["domain"] == "all" and r["band"] == "all" and not r["is_student"]]
    assert max(ms, key=lambda r: r["accuracy"])["model"] == ACCURACY_BEST_TEACHER != PLANTED_BEST_TEACHER


def test_the_student_learns_from_the_selected_corpus(repro):
    ws, _ = repro
    doc = json.loads((ws / "metrics" / "eval" / "demo-math.json").read_text())
    m = doc["models"]["demo-student"]["metrics"]
    # the base scores ~0 on demo-math (tests/test_demo.py); measured after SFT on 2 shared cores: 0.54 [0.455, 0.625]
    assert m["avg_at_n"] >= 0.40 and m["avg_at_n_ci"][0] > 0.3, m


def test_ded_beats_random_on_demo_math(ablation):
    _, doc = ablation
    c = next(c for c in doc["comparisons"] if (c["recipe"], c["vs"], c["benchmark"]) == ("ded", "random", "demo-math"))
    assert c["budget"] == BUDGET and c["seeds"] == [0, 1, 2]
    # measured: ded 0.353, random 0.250, difference 0.103 [0.028, 0.175] (100 items, avg@2, 3 seeds)
    assert c["ci_low"] > 0, c


def test_teacher_auto_picks_the_planted_best_teacher_in_every_arm(ablation):
    ws, doc = ablation
    assert {a["teachers_chosen"] for a in doc["arms"]} == {PLANTED_BEST_TEACHER}
    res = json.loads((ws / "ablate" / f"ded-{BUDGET}-0-auto" / "result.json").read_text())
    assert res["teacher_metric"] == "smoke"


def test_every_stage_ablation_arm_is_reported_and_compared(ablation):
    from ded.lake import Lake

    ws, doc = ablation
    rows = Lake(ws / "lake").read("ablations").to_pylist()
    for recipe in ["ded", "random", *STAGE_ARMS]:
        mine = [r for r in rows if r["recipe"] == recipe and r["benchmark"] == "demo-math"]
        assert sorted(r["seed"] for r in mine) == [0, 1, 2], recipe
        assert all(r["corpus_rows"] == BUDGET and r["avg_at_n"] is not None and r["ci_low"] <= r["avg_at_n"] <= r["ci_high"]
                   for r in mine), mine
    compared = {c["recipe"] for c in doc["comparisons"] if c["vs"] == "random" and c["benchmark"] == "demo-math"}
    assert compared == {"ded", *STAGE_ARMS}
    assert {r["stage"] for r in rows} >= {"teacher", "correct", "compression", "diverse"}
    assert (ws / "reports" / "ablate.svg").read_text().startswith("<svg")
