"""`dvc repro` of the demo profile (CI-sized) in a temporary clone of the repository, end to end.

The clone is what `git clone` gives a user (every tracked file, .dvc/config, the committed demo sources, a
git repository for DVC), built from the working tree so uncommitted edits are tested too.

Checks the outputs, the demo's planted facts (the planted best teacher is chosen, no wrong trajectory
reaches the corpus, questions the student already solves are compressed away), that a no-op repro runs
nothing, and that changing `select.budget` reruns only select, sft, evaluate and report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ded.demo import PLANTED_BEST_TEACHER, STUDENT_SOLVES, write_demo_sources

REPO = Path(__file__).resolve().parents[1]
STAGES = ["ingest", "generate", "verify", "embed", "smoke", "score", "select", "sft", "evaluate", "report"]

pytestmark = pytest.mark.slow


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [f for f in out.decode().split("\0") if f]


def _ci_params(profile: Path) -> dict:
    """The demo profile shrunk for CI: fewer steps and samples; the same stages and settings otherwise."""
    p = yaml.safe_load(profile.read_text())
    p["sft"].update(epochs=1)  # 6 steps on the 24-row corpus: enough to check the model and its metrics
    p["smoke"].update(limit=12, eval_limit=2, n=1, max_tokens=16, sft={"max_steps": 2})
    p["evaluate"].update(n=1, limit=2, max_tokens=16, bootstrap=100)
    p["select"].update(budget=24)
    return p


def _run(args, cwd, env):
    from conftest import run_checked

    return run_checked(args, cwd, env, timeout=900)


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the pipeline test clones the repository's tracked files")
    # dvc is a core dependency: its absence is a broken install, not a reason to skip
    assert shutil.which("dvc") or (Path(sys.executable).parent / "dvc").exists(), "dvc is not installed"
    ws = tmp_path_factory.mktemp("repo")
    for name in _tracked_files():
        src, dst = REPO / name, ws / name
        if src.is_file():  # a tracked file deleted in the working tree is gone from the clone too
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    write_demo_sources(ws / "data" / "demo", seed=0, size="ci")
    (ws / "params.yaml").write_text(yaml.safe_dump(_ci_params(REPO / "pipelines" / "demo.yaml"), sort_keys=False))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DED_PROGRESS": "0", "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ws)}  # the copy's code, as a fresh clone would run it
    git = ["git", "-c", "user.name=ded-test", "-c", "user.email=ded-test@localhost"]
    _run(["git", "init", "-q"], ws, env)
    _run(["git", "add", "-A"], ws, env)
    _run(git + ["commit", "-q", "-m", "clone"], ws, env)
    first = _run(["dvc", "repro"], ws, env)
    return ws, env, first


def test_repro_runs_every_stage_and_writes_the_outputs(workspace):
    ws, _, first = workspace
    ran = _ran(first)
    assert {s for s in STAGES if s != "smoke"} <= ran
    teachers = yaml.safe_load((ws / "params.yaml").read_text())["smoke"]["teachers"]
    assert {f"smoke@{t}" for t in teachers} <= ran
    assert (ws / "corpus" / "train.jsonl").stat().st_size > 0
    assert (ws / "models" / "student" / "config.json").exists()
    assert json.loads((ws / "metrics" / "sft" / "train.json").read_text())["steps"] > 0
    assert sorted(p.name for p in (ws / "metrics" / "eval").glob("*.json")) == ["demo-code.json", "demo-math.json"]
    for stage in STAGES:
        if stage not in ("smoke", "report"):
            assert (ws / "receipts" / f"{stage}.json").exists(), stage
    html = (ws / "reports" / "index.html").read_text()
    assert "demo-math" in html and "<svg" in html and (ws / "reports" / "corpus_card.md").stat().st_size > 0
    for t in teachers:
        assert (ws / "smoke" / t / "receipt.json").exists() and (ws / "smoke" / t / "model").is_dir()


def test_planted_facts_hold(workspace):
    from ded.ids import question_id
    from ded.lake import Lake

    ws, _, _ = workspace
    planted, difficulty = {}, {}
    for path in (ws / "data" / "demo").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if "response" in r:
                planted[(question_id(r["problem"]), r["model"], r["sample_idx"])] = r["metadata"]["planted_correct"]
            elif "difficulty" in r and not path.name.startswith("bench_"):
                difficulty[question_id(r["problem"])] = r["difficulty"]
    trajectories = {r["trajectory_id"]: r for r in Lake(ws / "lake").read(
        "trajectories", columns=["trajectory_id", "question_id", "model", "sample_idx"]).to_pylist()}
    corpus = [json.loads(line) for line in (ws / "corpus" / "train.jsonl").read_text().splitlines()]
    rows = [trajectories[c["trajectory_id"]] for c in corpus]
    assert rows
    assert {r["model"] for r in rows} == {PLANTED_BEST_TEACHER}  # the planted best teacher is chosen
    assert all(planted[(r["question_id"], r["model"], r["sample_idx"])] for r in rows)  # nothing wrong gets in
    kept = {difficulty[r["question_id"]] for r in rows}
    assert min(kept) > STUDENT_SOLVES  # what the student already solves is compressed away
    assert any(d > STUDENT_SOLVES for d in difficulty.values() if d <= 5)


def test_noop_repro_runs_nothing_and_budget_change_reruns_only_what_follows(workspace):
    ws, env, _ = workspace
    assert _ran(_run(["dvc", "repro"], ws, env)) == set()
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["select"]["budget"] = 12
    (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _ran(_run(["dvc", "repro"], ws, env)) == {"select", "sft", "evaluate", "report"}


def test_sweep_gives_the_accuracy_vs_corpus_size_curve(workspace):
    """The documented sweep: a `dvc exp run -S select.budget=N` next to the workspace run, then pareto.py."""
    ws, env, _ = workspace
    git = ["git", "-c", "user.name=ded-test", "-c", "user.email=ded-test@localhost"]
    _run(["git", "add", "-A"], ws, env)
    _run(git + ["commit", "-q", "-m", "baseline run"], ws, env)  # DVC experiments start from a commit
    budget = yaml.safe_load((ws / "params.yaml").read_text())["select"]["budget"]
    ran = _ran(_run(["dvc", "exp", "run", "-S", f"select.budget={budget + 6}"], ws, env))
    assert ran == {"select", "sft", "evaluate", "report"}  # a budget not run before: nothing from the run cache
    out = _run([sys.executable, str(ws / "pipelines" / "pareto.py")], ws, env)
    assert "wrote metrics/pareto.csv" in out and "wrote reports/pareto.svg" in out
    import csv

    rows = list(csv.DictReader((ws / "metrics" / "pareto.csv").open()))
    sizes = {r["benchmark"]: set() for r in rows}
    for r in rows:
        sizes[r["benchmark"]].add(int(r["corpus_size"]))
    assert set(sizes) == {"demo-code", "demo-math"}
    assert all(len(s) == 2 for s in sizes.values()), sizes  # two corpus sizes: the baseline and the experiment
    svg = (ws / "reports" / "pareto.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<polyline") == len({(r["benchmark"], r["model"]) for r in rows})
