"""The demo world's planted facts, on the real demo: `dvc repro` of the demo profile in a clone of the repository.

What ded/demo.py plants and why each must hold:
- Fact 1: the smoke tests (a short SFT of the student on each teacher) rank the planted best teacher
  (synthetic-concise, the base's own notation) above the accuracy-best one (synthetic-verbose, right on every
  question, in prose the student never read): their 95% intervals do not overlap, and `select.teacher_metric:
  auto` picks by the smoke scores, so the corpus comes from the planted best teacher although verified accuracy
  ranks it second;
- the student learns: the committed base (data/demo-student) scores ~0 on demo-math (it has never written a
  chat answer or a boxed total), and the student `ded sft` trains on the selected corpus reaches avg@n >= 0.40 (issue 13's target).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ded.demo import ACCURACY_BEST_TEACHER, PLANTED_BEST_TEACHER

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repro(tmp_path_factory):
    from conftest import clone_workspace, run_checked

    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the test clones the repository's tracked files")
    ws = tmp_path_factory.mktemp("demo")
    env = clone_workspace(ws)
    run_checked(["dvc", "repro"], ws, env, timeout=2400)
    return ws


def test_smoke_tests_rank_the_planted_best_teacher_above_the_accuracy_best(repro):
    from ded.lake import Lake

    rows = {r["model"]: r for r in Lake(repro / "lake").read("smoke_results").to_pylist() if r["benchmark"] == "demo-math"}
    best, accurate = rows[PLANTED_BEST_TEACHER], rows[ACCURACY_BEST_TEACHER]
    assert best["score_ci_low"] > accurate["score_ci_high"], (best, accurate)
    teacher = json.loads((repro / "corpus" / "manifest.json").read_text())["teacher"]
    assert teacher["metric"] == "smoke" and teacher["chosen"] == [PLANTED_BEST_TEACHER], teacher
    corpus = [json.loads(line) for line in (repro / "corpus" / "train.jsonl").read_text().splitlines()]
    models = {r["trajectory_id"]: r["model"] for r in Lake(repro / "lake").read(
        "trajectories", columns=["trajectory_id", "model"]).to_pylist()}
    assert {models[c["trajectory_id"]] for c in corpus} == {PLANTED_BEST_TEACHER}


def test_the_student_learns_from_the_selected_corpus(repro):
    doc = json.loads((repro / "metrics" / "eval" / "demo-math.json").read_text())
    m = doc["models"]["demo-student"]["metrics"]
    # the base scores ~0 on demo-math (tests/test_demo.py); issue 13's target is avg@n >= 0.40; measured after
    # SFT on 2 shared cores: 0.54 [0.455, 0.625]
    assert m["avg_at_n"] >= 0.40 and m["avg_at_n_ci"][0] > 0.3, m
