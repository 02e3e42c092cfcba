"""The demo world's planted facts, measured by the ablation harness (ded/demo.py says why each must hold).

A clone of the repository runs `dvc repro pipelines/ablate/dvc.yaml` with the demo profile's own settings
(its SFT and evaluation, the real `data/demo` world) on a small matrix: `ded` and `random` at one budget, 3
seeds. Asserted, as the world plants them:

- the `ded` corpus trains the student better than the same-size `random` corpus on demo-math: the paired 95%
  interval of the difference lies above 0 (planted facts 2-4: correctness, compression and distinct
  trajectories, and random has none of them);
- `teacher: auto` picks the planted best teacher in every arm, and it is not the accuracy-best teacher
  (planted fact 1: the smoke tests rank the teachers, not verified accuracy).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import ded.demo

# The demo world now plants its facts and its student learns (tests/test_demo_learns.py: smoke tests separate the
# teachers, `auto` picks the planted best, the student goes from ~0 to avg@n ~0.25 on demo-math), but at ~0.25 a
# 3-seed ded-vs-random difference at one budget has not yet been measured above 0 with its paired interval;
# until the demo student is stronger (issue 13's target is 0.40) this ablation is not asserted.
pytest.skip("ded vs random on the demo is not yet measured significant: the demo student reaches avg@n ~0.25, "
            "below issue 13's 0.40 (tests/test_demo_learns.py asserts what the world plants today)",
            allow_module_level=True)
ACCURACY_BEST_TEACHER, PLANTED_BEST_TEACHER = ded.demo.ACCURACY_BEST_TEACHER, ded.demo.PLANTED_BEST_TEACHER

REPO = Path(__file__).resolve().parents[1]
BUDGET = 100

pytestmark = pytest.mark.slow


def _run(args, cwd, env):
    from conftest import run_checked

    return run_checked(args, cwd, env, timeout=3000)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the ablation test clones the repository's tracked files")
    ws = tmp_path_factory.mktemp("repo")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file():
            (ws / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, ws / name)
    p = yaml.safe_load((REPO / "pipelines" / "demo.yaml").read_text())
    p["ablate"].update(recipes=["ded", "random"], budgets=[BUDGET], seeds=[0, 1, 2], teachers=["auto"])
    (ws / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DED_PROGRESS": "0", "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ws)}
    git = ["git", "-c", "user.name=ded-test", "-c", "user.email=ded-test@localhost"]
    _run(["git", "init", "-q"], ws, env)
    _run(["git", "add", "-A"], ws, env)
    _run(git + ["commit", "-q", "-m", "clone"], ws, env)
    _run(["dvc", "repro", "pipelines/ablate/dvc.yaml"], ws, env)
    return ws, json.loads((ws / "metrics" / "ablate.json").read_text())


def test_ded_beats_random_on_demo_math(workspace):
    _, doc = workspace
    c = next(c for c in doc["comparisons"] if (c["recipe"], c["vs"], c["benchmark"]) == ("ded", "random", "demo-math"))
    assert c["budget"] == BUDGET and c["seeds"] == [0, 1, 2]
    assert c["ci_low"] > 0, c


def test_teacher_auto_picks_the_planted_best_teacher_not_the_accuracy_best(workspace):
    from ded.lake import Lake

    ws, doc = workspace
    assert PLANTED_BEST_TEACHER != ACCURACY_BEST_TEACHER
    assert {a["teachers_chosen"] for a in doc["arms"]} == {PLANTED_BEST_TEACHER}
    ms = [r for r in Lake(ws / "lake").read("model_scores").to_pylist()
          if r["domain"] == "all" and r["band"] == "all" and not r["is_student"]]
    assert max(ms, key=lambda r: r["accuracy"])["model"] == ACCURACY_BEST_TEACHER
    res = json.loads((ws / "ablate" / f"ded-{BUDGET}-0-auto" / "result.json").read_text())
    assert res["teacher_metric"] == "smoke"
