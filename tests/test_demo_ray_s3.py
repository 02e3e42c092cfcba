"""The CI-sized demo pipeline with the lake on S3 (a moto server on 127.0.0.1) and `compute.engine: ray` (a
two-node Ray cluster on this machine, ray.cluster_utils) exports the same corpus, byte for byte, as the
local run on a local lake.

The stages that decide the corpus run through the CLI (`ded ingest`, `verify`, `embed`, `score`, `select`,
which exports `corpus/`), in-process, once per setting. Not `dvc repro`: its sft, evaluate and smoke
stages would cost minutes each and do not touch the corpus, and smoke (which picks the teacher) is
replaced by the planted best teacher in `select.teacher`, as tests/conftest.py's `load_demo_lake` does.
On Ray, `ded verify` grades on one actor per node and `ded embed` encodes on one model actor per node
(ded/compute/); the driver commits to the S3 lake.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray", reason="compute.engine: ray needs the optional extra: pip install -e '.[ray]'")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ray_cluster import loopback_cluster
from s3_server import moto_missing, running_s3

REPO = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "verify", "embed", "score", "select")
pytestmark = pytest.mark.skipif(moto_missing() is not None, reason=moto_missing() or "")


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster(nodes=2, cpus=1) as c:  # two raylets on 127.0.0.1, one CPU each
        yield c


@pytest.fixture(scope="module")
def s3():
    with running_s3() as server:
        yield server


def _params(run: Path, sources: dict[str, Path], lake: dict, engine: str) -> Path:
    """pipelines/demo.yaml on the CI-sized sources, absolute paths, the lake and engine given; the planted
    best teacher (no smoke stage here) and the CI pipeline test's budget (tests/test_pipeline.py)."""
    from ded.demo import PLANTED_BEST_TEACHER

    p = yaml.safe_load((REPO / "pipelines" / "demo.yaml").read_text())
    p["lake"] = lake
    p["compute"].update(engine=engine, chunk_rows=32)
    p["prompts"] = {k: str(REPO / v) for k, v in p["prompts"].items() if isinstance(v, str)}
    for m in p["models"]:
        if m["backend"] == "transformers":
            m["model"] = str(REPO / m["model"])
    for s in p["ingest"]["sources"]:
        s["path"] = str(sources[Path(s["path"]).stem])
    for b in p["benchmarks"].values():
        b["path_or_hub"] = str(sources[Path(b["path_or_hub"]).stem])
    p["verify"]["workers"] = 2
    # student scoring on too (the profile leaves it off): on Ray the student runs on actors as well
    p["score"]["student_scores"].update(enabled=True, device="cpu", max_batch_tokens=1024)  # packs of ~4 trajectories
    p["select"].update(teacher=PLANTED_BEST_TEACHER, budget=24, workers=1)
    assert p["select"]["export"]["out_dir"] == "corpus"  # relative: each run's own folder (cwd), same manifest
    out = run / "params.yaml"
    out.write_text(yaml.safe_dump(p, sort_keys=False))
    return out


def _cli(params: Path, *args: str) -> str:
    from typer.testing import CliRunner

    from ded.cli import app

    r = CliRunner().invoke(app, ["--params", str(params), *args])
    assert r.exit_code == 0, f"ded {' '.join(args)}:\n{r.output}\n{r.exception!r}"
    return r.output


def _run_pipeline(run: Path, params: Path) -> None:
    cwd = os.getcwd()
    os.chdir(run)  # receipts/ land here
    try:
        for stage in STAGES:
            _cli(params, stage)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def runs(cluster, s3, tmp_path_factory):
    from ded.demo import write_demo_sources

    tmp = tmp_path_factory.mktemp("demo-ray-s3")
    sources = {p.stem: p for p in write_demo_sources(tmp / "data", seed=0, size="ci").values()}
    out, where = {}, {}
    for name, lake, engine in (("local", {"root": str(tmp / "local" / "lake")}, "local"),
                               ("ray", {"root": s3.root("demo/lake"), "storage_options": s3.storage_options}, "ray")):
        run = tmp / name
        run.mkdir(exist_ok=True)
        params = _params(run, sources, lake, engine)
        with pytest.MonkeyPatch.context() as mp:
            _record_actors(mp, where)
            _run_pipeline(run, params)
        out[name] = (run, params)
    out["where"] = where
    return out


def _record_actors(mp, where: dict) -> None:
    """Note where each stage's Ray actors ran (node ids), as each engine object is made."""
    from ded.compute import embed_actors, score_actors, verify_actors

    for stage, cls in (("verify", verify_actors.RayGraders), ("embed", embed_actors.RayEncoder)):
        def init(self, params, _real=cls.__init__, _stage=stage):
            _real(self, params)
            where[_stage] = {w["node_id"] for w in self.where()}

        mp.setattr(cls, "__init__", init)

    def load(self, _real=score_actors.RayStudentScorer.load):
        out = _real(self)
        where.setdefault("score", {w["node_id"] for w in self.where()})
        return out

    mp.setattr(score_actors.RayStudentScorer, "load", load)


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


def test_ray_run_used_both_nodes_and_the_s3_lake(runs, s3):
    """verify, embed and student scoring ran on actors on both nodes; the Ray run's receipts name the S3 lake;
    its vectors and student scores are the local run's (the same models on actors)."""
    import numpy as np

    from ded.embeddings.store import load_vectors
    from ded.lake import open_lake
    from ded.params import load_params

    nodes = {n["NodeID"] for n in ray.nodes()}
    assert len(nodes) == 2 and runs["where"] == {"verify": nodes, "embed": nodes, "score": nodes}
    remote = runs["ray"][0]
    rec = json.loads((remote / "receipts" / "verify.json").read_text())
    assert str(rec["lake"]).startswith("s3://")
    lakes = {k: open_lake(load_params(runs[k][1]), create=False) for k in ("local", "ray")}
    (ia, va), (ib, vb) = (load_vectors(lk, pooled=False) for lk in (lakes["local"], lakes["ray"]))
    assert ia == ib and len(ia) == lakes["local"].count("questions")
    np.testing.assert_allclose(va, vb, atol=1e-6)
    cols = ["trajectory_id", "student_tokens", "student_entropy", "student_rsr", "student_surprisal"]
    a, b = (sorted(lk.read("trajectory_scores", columns=cols).to_pylist(), key=lambda r: r["trajectory_id"])
            for lk in (lakes["local"], lakes["ray"]))
    assert a == b and sum(r["student_rsr"] is not None for r in a) > 100
