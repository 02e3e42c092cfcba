"""`ded generate` with `compute.engine: ray` for a local engine (transformers), on a two-node Ray cluster on
127.0.0.1: one model per actor, the local engine's batches, the driver commits.

With the tiny model and seeded sampling, the rows equal the local engine's (every column but created_at);
a rerun requests nothing; an actor SIGKILLed mid-run is restarted and its batch retried, or, with no restarts
allowed, the run fails after committing what came back and the rerun generates only what is missing. Either
way: one row per (question, sample), the local engine's.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="compute.engine: ray needs the optional extra: pip install -e '.[ray]'")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ray_cluster import loopback_cluster

from ded.ids import question_id
from ded.lake import Lake
from ded.params import parse_params
from ded.stages.generate import main

# 24 requests: 6 batches of 4 (commits of 4 rows), more than the two actors hold at once, so an actor killed
# after the first batch is back still has a batch to run, or is handed one
QUESTIONS, SAMPLES = 12, 2


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster(nodes=2, cpus=1) as c:  # two raylets on 127.0.0.1, one CPU each
        yield c


def _params(model: Path, engine: str, **compute):
    return parse_params({
        "models": [{"name": "tiny", "backend": "transformers", "model": str(model), "options": {"batch_size": 4},
                    "sampling": {"temperature": 0.8, "top_p": 0.95, "max_tokens": 12, "n": SAMPLES, "seed": 5}}],
        "generate": {"models": ["tiny"], "commit_rows": 4},
        "compute": {"engine": engine, "chunk_rows": 4, **compute}})


def _lake(root: Path) -> Lake:
    lake = Lake(root)
    # prompts of different lengths: the length sort decides which rows share a batch
    lake.merge("questions", [{"question_id": question_id(p), "domain": "math", "source": "test", "problem": p}
                             for p in (f"Compute {i} times {i}." + " Show the steps." * i for i in range(QUESTIONS))])
    return lake


def _rows(lake: Lake) -> list[dict]:
    rows = lake.read("trajectories").to_pylist()
    for r in rows:
        r.pop("created_at")
    return sorted(rows, key=lambda r: r["trajectory_id"])


@pytest.fixture(scope="module")
def local_rows(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gen-local")
    cwd = os.getcwd()
    os.chdir(tmp)  # receipts/
    try:
        lake = _lake(tmp / "lake")
        main(_params(tiny_model_dir, "local"), lake, echo=lambda s: None)
    finally:
        os.chdir(cwd)
    rows = _rows(lake)
    assert len(rows) == QUESTIONS * SAMPLES
    return rows


def _spy_runner(monkeypatch, kill_after: int | None = None) -> dict:
    """Record where the generation actors ran; with `kill_after`, SIGKILL actor 0 once that many batches are back."""
    from ded.compute import generate_actors, model_actors

    seen: dict = {"where": [], "killed": [], "batches": 0}
    real_start, real_run = generate_actors.RayGenerateBackend.start, model_actors.ActorPoolRunner.run

    def start(self):
        fresh = self.runner is None
        runner = real_start(self)
        if fresh:
            seen["where"].append(runner.where())
        return runner

    def run(self, method, chunks):
        seen["batches"] = len(chunks)
        for i, item in enumerate(real_run(self, method, chunks), 1):
            if kill_after is not None and i == kill_after and not seen["killed"]:
                pid = self.where()[0]["pid"]
                os.kill(pid, signal.SIGKILL)
                seen["killed"].append(pid)
            yield item

    monkeypatch.setattr(generate_actors.RayGenerateBackend, "start", start)
    monkeypatch.setattr(model_actors.ActorPoolRunner, "run", run)
    return seen


def test_ray_rows_equal_local_and_rerun_requests_nothing(cluster, tiny_model_dir, local_rows, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = _spy_runner(monkeypatch)
    lake = _lake(tmp_path / "lake")
    out = main(_params(tiny_model_dir, "ray"), lake, echo=lambda s: None)
    assert out["models"]["tiny"]["generated"] == QUESTIONS * SAMPLES
    assert out["models"]["tiny"]["commits"] == QUESTIONS * SAMPLES // 4  # the driver's commits, as locally
    nodes = {n["NodeID"] for n in ray.nodes()}
    assert len(seen["where"]) == 1 and {w["node_id"] for w in seen["where"][0]} == nodes
    assert len(nodes) == 2 and seen["batches"] == QUESTIONS * SAMPLES // 4  # the local engine's batches of 4
    got = _rows(lake)
    assert got == local_rows
    assert {r["sample_idx"] for r in got} == set(range(SAMPLES)) and len({r["response"] for r in got}) > 1
    again = main(_params(tiny_model_dir, "ray"), lake, echo=lambda s: None)
    assert again["models"]["tiny"]["generated"] == 0 and again["models"]["tiny"]["skipped"] == QUESTIONS * SAMPLES
    assert len(seen["where"]) == 1  # nothing missing: no actors started


@pytest.mark.parametrize("restarts", [3, 0], ids=["ray-restarts-the-actor", "no-restarts-then-rerun"])
def test_killed_generation_actor_loses_and_doubles_nothing(cluster, tiny_model_dir, local_rows, tmp_path, monkeypatch,
                                                           restarts):
    """SIGKILL actor 0 when the first batch is back. With restarts, Ray reloads the model and retries the
    batch it held; without, the run fails after committing what came back, and a rerun (restarts allowed)
    generates exactly the missing rows."""
    from ded.compute import ComputeError

    monkeypatch.chdir(tmp_path)
    seen = _spy_runner(monkeypatch, kill_after=1)
    lake = _lake(tmp_path / "lake")
    params = _params(tiny_model_dir, "ray", max_restarts=restarts, max_task_retries=restarts)
    try:
        first = main(params, lake, echo=lambda s: None)["models"]["tiny"]["generated"]
    except ComputeError as e:  # retries exhausted (restarts 0): the rerun must finish the job
        assert restarts == 0, f"Ray should have restarted the actor and retried: {e}"
        assert "rerun `ded generate`" in str(e)
        first = lake.count("trajectories")
    assert seen["killed"], "no batch came back: nothing was killed"
    if restarts:
        assert first == QUESTIONS * SAMPLES
    else:
        assert 0 < first < QUESTIONS * SAMPLES  # the batches back before the failure are committed
        again = main(_params(tiny_model_dir, "ray"), lake, echo=lambda s: None)["models"]["tiny"]
        assert again["generated"] == QUESTIONS * SAMPLES - first and again["skipped"] == first
    assert lake.duplicate_keys("trajectories") == 0
    assert _rows(lake) == local_rows
