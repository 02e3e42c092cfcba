"""The CI-sized demo `dvc repro` with the lake on S3 (a moto server on 127.0.0.1) and `compute.engine: ray` (a
two-node Ray cluster on 127.0.0.1, ray.cluster_utils) exports the same corpus, byte for byte, as the same
`dvc repro` on a local lake with the local engine.

Each setting is a fresh clone of the repository (tests/conftest.py `clone_workspace`) with the CI-sized
demo sources and its own params.yaml, and runs `dvc repro select`: ingest, generate, verify, embed, the
smoke test, score (student scores on) and select with its export, each stage as DVC runs it (`ded <stage>`
in its own process; on Ray each joins the cluster at `compute.address` and its actors run there). Not sft,
evaluate and report (minutes each, after the corpus, and no Ray path). The smoke test is shrunk to the
planted best teacher and a few steps, and `select.teacher` names that teacher, as tests/conftest.py's
`load_demo_lake` does: three smoke SFTs per run would triple the time and smoke picks that teacher anyway
(tests/test_pipeline.py). Where the actors ran is read back from Ray's own actor table.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray", reason="compute.engine: ray needs the optional extra: pip install -e '.[ray]'")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import clone_workspace, run_checked
from ray_cluster import loopback_cluster
from s3_server import moto_missing, running_s3

REPO = Path(__file__).resolve().parents[1]
STAGES = {"ingest", "generate", "verify", "embed", "smoke@{teacher}", "score", "select"}  # what `dvc repro select` runs
ACTORS = {"Grader": "verify", "EmbedWorker": "embed", "ScoreWorker": "score"}
pytestmark = pytest.mark.skipif(moto_missing() is not None, reason=moto_missing() or "")


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster(nodes=2, cpus=1) as c:  # two raylets on 127.0.0.1, one CPU each
        yield c


@pytest.fixture(scope="module")
def s3():
    with running_s3() as server:
        yield server


def _params(lake: dict, engine: str, address: str | None) -> dict:
    """pipelines/demo.yaml with the lake and engine given, student scoring on, the smoke test shrunk to the
    planted best teacher, and the CI pipeline test's budget (tests/test_pipeline.py)."""
    from ded.demo import PLANTED_BEST_TEACHER

    p = yaml.safe_load((REPO / "pipelines" / "demo.yaml").read_text())
    p["lake"] = lake
    p["compute"].update(engine=engine, address=address, chunk_rows=32)
    p["verify"]["workers"] = 2
    # student scoring on too (the profile leaves it off): on Ray the student runs on actors as well
    p["score"]["student_scores"].update(enabled=True, device="cpu", max_batch_tokens=1024)  # packs of ~4 trajectories
    p["smoke"].update(teachers=[PLANTED_BEST_TEACHER], limit=12, eval_limit=2, n=1, max_tokens=16,
                      sft={"max_steps": 2})
    p["select"].update(teacher=PLANTED_BEST_TEACHER, budget=24, workers=1)
    assert p["select"]["export"]["out_dir"] == "corpus"  # relative: each workspace's own folder, same manifest
    return p


@pytest.fixture(scope="module")
def runs(cluster, s3, tmp_path_factory):
    """Both workspaces after `dvc repro select`: {name: (workspace, params)}, plus "ran" (the stages DVC ran
    per workspace) and "actors" (Ray's actor table after the runs)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the workspace clones the repository's files")
    from ded.demo import write_demo_sources

    tmp = tmp_path_factory.mktemp("demo-ray-s3")
    out: dict = {"ran": {}}
    for name, lake, engine, address in (
            ("local", {"root": str(tmp / "local" / "lake")}, "local", None),
            ("ray", {"root": s3.root("demo/lake"), "storage_options": s3.storage_options}, "ray", cluster.address)):
        ws = tmp / name
        ws.mkdir()
        env = clone_workspace(ws)  # os.environ carries the S3 credentials (running_s3), as a user's shell would
        env.update(OMP_NUM_THREADS="1", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")  # 127.0.0.1 (tests/ray_cluster.py)
        write_demo_sources(ws / "data" / "demo", seed=0, size="ci")
        params = _params(lake, engine, address)
        (ws / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        log = run_checked(["dvc", "repro", "select"], ws, env, timeout=900)
        out["ran"][name] = set(_ran(log))
        out[name] = (ws, ws / "params.yaml")
    from ray._private import state  # the GCS actor table: no dashboard needed

    out["actors"] = [a for a in state.actors().values() if a.get("ActorClassName") in ACTORS]
    return out


def _ran(log: str) -> list[str]:
    import re

    return re.findall(r"Running stage '([^']+)'", log)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_corpus_files_byte_identical(runs):
    (local, _), (remote, _) = runs["local"], runs["ray"]
    for name in ("train.jsonl", "train.parquet"):
        a, b = local / "corpus" / name, remote / "corpus" / name
        assert a.stat().st_size > 0
        assert _sha(a) == _sha(b), name
    rows = (local / "corpus" / "train.jsonl").read_text().splitlines()
    assert len(rows) == 24
    hf = sorted(p.relative_to(local / "corpus") for p in (local / "corpus" / "hf").rglob("*.arrow"))
    assert hf and all(_sha(local / "corpus" / p) == _sha(remote / "corpus" / p) for p in hf)
    ma, mb = (json.loads((d / "corpus" / "manifest.json").read_text()) for d in (local, remote))
    # equal but for the last bits of the teacher ranking's means: DuckDB's parallel AVG sums in thread order,
    # so two local runs differ there too (seen: mean_student_rsr 5.735173046872374 vs ...378); the
    # per-trajectory scores they average are equal exactly (test_ray_run_used_both_nodes_and_the_s3_lake)
    assert not _diff(ma, mb), _diff(ma, mb)


def _diff(a, b, at: str = "") -> list[str]:
    """Where two JSON values differ (paths), floats within 1e-12 relative counted equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _diff(a.get(k), b.get(k), f"{at}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{at}[{i}]")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if math.isclose(a, b, rel_tol=1e-12) else [f"{at}: {a!r} != {b!r}"]
    return [] if a == b else [f"{at}: {a!r} != {b!r}"]


def test_selection_table_identical(runs):
    from ded.lake import open_lake
    from ded.params import load_params

    lakes = {k: open_lake(load_params(runs[k][1]), create=False) for k in ("local", "ray")}
    assert lakes["ray"].root.startswith("s3://")
    cols = ["run_id", "trajectory_id", "recipe", "question_id", "kept", "dropped_by", "rank", "reasons",
            "params_hash", "input_versions"]
    a, b = (sorted(lk.read("selection", columns=cols).to_pylist(), key=lambda r: r["trajectory_id"])
            for lk in (lakes["local"], lakes["ray"]))
    assert a and a == b
    assert sum(r["kept"] for r in a) == 24


def test_dvc_ran_the_stages_and_ray_actors_ran_on_both_nodes(runs, s3):
    """DVC ran every stage up to select in both workspaces; verify, embed and student scoring ran on actors on
    both nodes (Ray's actor table, every actor on 127.0.0.1); the Ray run's receipts name the S3 lake; its
    vectors and student scores are the local run's (the same models on actors)."""
    import numpy as np

    from ded.demo import PLANTED_BEST_TEACHER
    from ded.embeddings.store import load_vectors
    from ded.lake import open_lake
    from ded.params import load_params

    want = {s.format(teacher=PLANTED_BEST_TEACHER) for s in STAGES}
    assert runs["ran"]["local"] == runs["ran"]["ray"] == want
    nodes = {n["NodeID"] for n in ray.nodes()}
    assert len(nodes) == 2
    placed: dict[str, set] = {}
    for a in runs["actors"]:
        placed.setdefault(ACTORS[a["ActorClassName"]], set()).add(a["Address"]["NodeID"])
        assert a["Address"]["IPAddress"] == "127.0.0.1"
    assert placed == {"verify": nodes, "embed": nodes, "score": nodes}
    remote = runs["ray"][0]
    for stage in ("ingest", "verify", "embed", "score", "select"):
        rec = json.loads((remote / "receipts" / f"{stage}.json").read_text())
        assert str(rec["lake"]).startswith("s3://"), stage
    lakes = {k: open_lake(load_params(runs[k][1]), create=False) for k in ("local", "ray")}
    assert lakes["ray"].exists("smoke_results") and lakes["ray"].count("smoke_results") > 0
    (ia, va), (ib, vb) = (load_vectors(lk, pooled=False) for lk in (lakes["local"], lakes["ray"]))
    assert ia == ib and len(ia) == lakes["local"].count("questions")
    np.testing.assert_allclose(va, vb, atol=1e-6)
    cols = ["trajectory_id", "student_tokens", "student_entropy", "student_rsr", "student_surprisal"]
    a, b = (sorted(lk.read("trajectory_scores", columns=cols).to_pylist(), key=lambda r: r["trajectory_id"])
            for lk in (lakes["local"], lakes["ray"]))
    assert a == b and sum(r["student_rsr"] is not None for r in a) > 100
