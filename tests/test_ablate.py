"""A CI-sized demo ablation through DVC, in a temporary clone of the repository (like tests/test_pipeline.py).

`dvc repro pipelines/ablate/dvc.yaml` runs the main stages the arms need (ingest … score), one stage per arm
and the aggregate; a second repro runs nothing; adding seeds runs only the new arms; adding DED's stage
ablations and running `ded ablate` (no DVC) runs only those and reuses the rest. Checks: every stage-ablation
arm is reported, the `ablations` table (through `ded sql`) and metrics/ablate.json have the documented shape,
the SVG and the report section exist, and the pipeline's own corpus/ and receipts/select.json are untouched.
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

from ded.demo import write_demo_sources

REPO = Path(__file__).resolve().parents[1]
STAGE_ARMS = ["ded-teacher", "ded-correct", "ded-compression", "ded"]

pytestmark = pytest.mark.slow


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, check=True).stdout
    return [f for f in out.decode().split("\0") if f]


def _ci_params(profile: Path) -> dict:
    """The demo profile shrunk for CI (as tests/test_pipeline.py shrinks it), with a small ablation."""
    p = yaml.safe_load(profile.read_text())
    p["smoke"].update(limit=12, eval_limit=2, n=1, max_tokens=16, sft={"max_steps": 2})
    p["evaluate"].update(bootstrap=100)
    p["ablate"].update(recipes=["ded", "random"], budgets=[12], seeds=[0], teachers=["auto"], bootstrap=200,
                       sft={"epochs": 1, "max_steps": 2}, evaluate={"n": 1, "limit": 3, "max_tokens": 16})
    return p


def _run(args, cwd, env):
    from conftest import run_checked

    return run_checked(args, cwd, env, timeout=1200)


def _ran(output: str) -> set[str]:
    return {s.split(":", 1)[-1] for s in re.findall(r"Running stage '([^']+)'", output)}


def _edit(ws: Path, **ablate) -> None:
    p = yaml.safe_load((ws / "params.yaml").read_text())
    p["ablate"].update(ablate)
    (ws / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the ablation test clones the repository's tracked files")
    assert shutil.which("dvc") or (Path(sys.executable).parent / "dvc").exists(), "dvc is not installed"
    ws = tmp_path_factory.mktemp("repo")
    for name in _tracked_files():
        src, dst = REPO / name, ws / name
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    write_demo_sources(ws / "data" / "demo", seed=0, size="ci")
    (ws / "params.yaml").write_text(yaml.safe_dump(_ci_params(REPO / "pipelines" / "demo.yaml"), sort_keys=False))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DED_PROGRESS": "0", "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ws)}
    git = ["git", "-c", "user.name=ded-test", "-c", "user.email=ded-test@localhost"]
    _run(["git", "init", "-q"], ws, env)
    _run(["git", "add", "-A"], ws, env)
    _run(git + ["commit", "-q", "-m", "clone"], ws, env)
    runs = {"first": _run(["dvc", "repro", "pipelines/ablate/dvc.yaml"], ws, env)}
    runs["noop"] = _run(["dvc", "repro", "pipelines/ablate/dvc.yaml"], ws, env)
    _edit(ws, seeds=[0, 1, 2])
    runs["seeds"] = _run(["dvc", "repro", "pipelines/ablate/dvc.yaml"], ws, env)
    _edit(ws, recipes=["ded", "random", "ded-teacher", "ded-correct", "ded-compression"])
    runs["stages"] = _run(["ded", "ablate"], ws, env)
    return ws, env, runs


def test_dvc_runs_each_arm_once_and_only_the_new_arms(workspace):
    _, _, runs = workspace
    first = _ran(runs["first"])
    assert {"ingest", "verify", "embed", "score", "arm@ded-12-0-auto", "arm@random-12-0-auto", "aggregate"} <= first
    assert not {"select", "sft", "evaluate", "report"} & first  # the pipeline's own selection is not run
    assert _ran(runs["noop"]) == set()
    assert _ran(runs["seeds"]) == {f"arm@{r}-12-{s}-auto" for r in ("ded", "random") for s in (1, 2)} | {"aggregate"}
    assert "ran 9 arms, reused 6" in runs["stages"]


def test_arms_leave_the_pipeline_corpus_and_receipts_alone(workspace):
    ws, _, _ = workspace
    assert not (ws / "corpus").exists() and not (ws / "receipts" / "select.json").exists()
    for r in ("ded", "random"):
        arm = ws / "ablate" / f"{r}-12-0-auto"
        assert (arm / "corpus" / "train.jsonl").stat().st_size > 0 and (arm / "select.json").exists()
        assert not (arm / "model").exists()  # ablate.keep_models: false


def test_ablations_table_through_ded_sql(workspace):
    ws, env, _ = workspace
    out = _run(["ded", "sql", "select * from ablations order by arm, benchmark", "--format", "json"], ws, env)
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]  # JSON lines
    assert len(rows) == 5 * 3 * 2  # arms x benchmarks
    assert {r["recipe"] for r in rows} == {"ded", "random", *STAGE_ARMS}
    assert {r["seed"] for r in rows} == {0, 1, 2} and {r["budget"] for r in rows} == {12}
    assert {r["benchmark"] for r in rows} == {"demo-math", "demo-code"}
    stages = {r["recipe"]: r["stage"] for r in rows}
    assert stages == {"ded-teacher": "teacher", "ded-correct": "correct", "ded-compression": "compression",
                      "ded": "diverse", "random": None}
    for r in rows:
        assert r["corpus_rows"] == 12 and r["corpus_tokens"] > 0 and r["teachers_chosen"]
        assert 0 <= r["ci_low"] <= r["avg_at_n"] <= r["ci_high"] <= 1
        assert r["sft_tokens_per_s"] > 0 and r["wall_s"] > 0 and r["items"] == 3
        assert r["selection_run"].startswith("sel_") and r["eval_run"]
    assert len({r["selection_run"] for r in rows}) == 15  # every arm its own selection run


def test_metrics_json_has_the_documented_shape_and_every_stage_arm(workspace):
    ws, _, _ = workspace
    doc = json.loads((ws / "metrics" / "ablate.json").read_text())
    assert {"comparisons", "arms", "curves", "cost"} <= set(doc)
    comps = doc["comparisons"]
    for c in comps:
        assert {"recipe", "vs", "budget", "benchmark", "diff", "ci_low", "ci_high"} <= set(c)
        assert c["ci_low"] <= c["diff"] <= c["ci_high"] and c["seeds"] == [0, 1, 2]
    vs_random = {(c["recipe"], c["benchmark"]) for c in comps if c["vs"] == "random"}
    assert vs_random == {(r, b) for r in STAGE_ARMS for b in ("demo-math", "demo-code")}  # every stage arm reported
    steps = {(c["recipe"], c["vs"]) for c in comps if c["vs"] != "random"}
    assert steps == {("ded-correct", "ded-teacher"), ("ded-compression", "ded-correct"), ("ded", "ded-compression")}
    assert len(doc["arms"]) == 30 and doc["cost"]["sft_runs"] == 15
    # each stage arm's selection really is the ded chain cut after its step
    for r, last in (("ded-teacher", "domain_mix"), ("ded-correct", "domain_mix"), ("ded-compression", "compression"),
                    ("ded", "farthest_p")):
        res = json.loads((ws / "ablate" / f"{r}-12-0-auto" / "result.json").read_text())
        names = [s["step"] for s in res["steps"]]
        assert names[-2] == last and names[-1] == "budget", (r, names)
        assert ("correct" in names) == (r != "ded-teacher")


def test_svg_and_report_section(workspace):
    ws, env, _ = workspace
    import xml.dom.minidom

    svg = (ws / "reports" / "ablate.svg").read_text()
    xml.dom.minidom.parseString(svg)
    assert svg.count("<polyline") == 2 * 5  # one line per recipe per benchmark panel
    _run(["ded", "report"], ws, env)
    html = (ws / "reports" / "index.html").read_text()
    assert "Ablation: recipes against random" in html and "ded-compression" in html
