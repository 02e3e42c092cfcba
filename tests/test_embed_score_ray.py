"""`compute.engine: ray` for `ded embed` and student scoring, on a real two-node Ray cluster on this machine.

One model per actor, one actor per node; the driver chunks, plans and commits. On the same small input (the
CI-sized demo sources) the vectors and the student scores equal the local engine's, and the lake gets as
many commits as the local run gives it (one per embed.commit_every texts, not one per chunk). A model actor
killed mid-embed, or a student actor killed mid-scoring, is restarted by Ray and its chunk retried: nothing
doubled, nothing lost, the local engine's results.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="compute.engine: ray needs the optional extra: pip install -e '.[ray]'")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ray_cluster import loopback_cluster

REPO = Path(__file__).resolve().parents[1]
STUDENT_COLS = ["trajectory_id", "student_model", "student_text_hash", "student_tokens", "student_entropy",
                "student_rsr", "student_surprisal", "student_scorer"]


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster(nodes=2, cpus=1) as c:  # two raylets on 127.0.0.1, one CPU each
        yield c


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    from ded.demo import write_demo_sources

    return write_demo_sources(tmp_path_factory.mktemp("ci-demo"), seed=0, size="ci")


def _params(engine: str, **student):
    from ded.params import load_params

    p = load_params(REPO / "pipelines" / "demo.yaml")
    prompts = {k: str(REPO / v) for k, v in p.prompts.model_dump().items() if isinstance(v, str)}
    models = [m.model_copy(update={"model": str(REPO / m.model)}) if m.backend == "transformers" else m
              for m in p.models]
    ss = p.score.student_scores.model_copy(update={"enabled": True, "device": "cpu", **student})
    return p.model_copy(update={
        "prompts": p.prompts.model_copy(update=prompts), "models": models,
        # small batches and chunks: several actor calls per commit, and commits of several chunks
        "embed": p.embed.model_copy(update={"batch_size": 8, "commit_every": 64, "trajectories": True,
                                            "max_chunks": 4, "fts": False}),
        "score": p.score.model_copy(update={"student_scores": ss}),
        "verify": p.verify.model_copy(update={"workers": 2, "tokenizer": str(REPO / p.model("demo-student").model)}),
        "compute": p.compute.model_copy(update={"engine": engine, "chunk_rows": 16})})


def _lake(root: Path, sources: dict):
    from ded.ingest import ingest_paths
    from ded.lake import Lake

    lake = Lake(root)
    ingest_paths(lake, [sources["math_questions"], sources["code_questions"]], kind="questions", source="demo",
                 show_progress=False)
    ingest_paths(lake, [p for n, p in sorted(sources.items()) if n.startswith("teacher_") or n == "student"],
                 kind="trajectories", source="demo", show_progress=False)
    return lake


def _embedded(lake, params):
    from ded.embeddings.model import load_encoder
    from ded.stages.embed import embed_tables

    if params.compute.engine == "ray":
        from ded.compute.embed_actors import RayEncoder

        enc = RayEncoder(params)
        try:
            where = enc.where()
            stats = embed_tables(lake, params, enc)
        finally:
            enc.close()
    else:
        where, stats = None, embed_tables(lake, params, load_encoder(params.embed.model, "cpu"))
    return stats, where


def _vectors(lake, table):
    t = lake.read(table, columns=["id", "chunk", "vector", "embedding_model", "text_hash"])
    t = t.sort_by([("id", "ascending"), ("chunk", "ascending")])
    from ded.embeddings.store import vectors_numpy

    keys = list(zip(*(t.column(c).to_pylist() for c in ("id", "chunk", "embedding_model", "text_hash"))))
    return keys, vectors_numpy(t.column("vector"))


def test_embed_on_ray_actors_equals_local(cluster, sources, tmp_path):
    local, remote = _lake(tmp_path / "local", sources), _lake(tmp_path / "ray", sources)
    st_local, _ = _embedded(local, _params("local"))
    st_ray, where = _embedded(remote, _params("ray"))
    assert len({w["node_id"] for w in where}) == 2 and all(w["cores"] == 1 for w in where)
    for table in ("question_vectors", "trajectory_vectors"):
        assert st_ray[table]["embedded"] == st_local[table]["embedded"] == st_local[table]["seen"] > 0
        assert st_ray[table]["chunks"] == st_local[table]["chunks"]
        (ka, va), (kb, vb) = _vectors(local, table), _vectors(remote, table)
        assert ka == kb
        np.testing.assert_allclose(vb, va, rtol=0, atol=1e-6)  # equal bit for bit here: the same batches
        # one commit per commit_every texts on both engines (plus the empty table's creation)
        assert remote.version(table) == local.version(table)
    again, _ = _embedded(remote, _params("ray"))  # incremental on Ray too: nothing new, nothing embedded
    assert all(s["embedded"] == 0 for s in again.values())


def _student_scores(lake, params):
    from ded.stages import score, verify

    verify.main(params.model_copy(update={"compute": params.compute.model_copy(update={"engine": "local"})}),
                lake, show_progress=False)
    score.main(params, lake)
    t = lake.read("trajectory_scores", columns=STUDENT_COLS).to_pylist()
    return sorted((r for r in t if r["student_rsr"] is not None), key=lambda r: r["trajectory_id"])


def test_student_scores_on_ray_actors_equal_local(cluster, sources, tmp_path, monkeypatch):
    """Every teacher trajectory scored under the demo student on each engine. max_batch_tokens 128 makes each
    lake batch several forwards (packed groups, and trajectories longer than that scored alone in segments)."""
    from ded.compute import score_actors

    monkeypatch.chdir(tmp_path)  # receipts/
    made: list = []
    real_load = score_actors.RayStudentScorer.load

    def spy(self):
        out = real_load(self)
        if self not in made:
            made.append(self)
            self.seen_where = self.where()
        return out

    monkeypatch.setattr(score_actors.RayStudentScorer, "load", spy)
    local = _student_scores(_lake(tmp_path / "local", sources), _params("local", max_batch_tokens=128))
    remote = _student_scores(_lake(tmp_path / "ray", sources), _params("ray", max_batch_tokens=128))
    assert made and len({w["node_id"] for w in made[0].seen_where}) == 2
    assert local and len(local) == len(remote)
    assert all(r["student_tokens"] > 0 for r in local)
    assert any(r["student_tokens"] > 128 for r in local)  # the segmented path ran
    assert remote == local  # the same forwards on the actors: the same sums, exactly


def test_killed_student_actor_mid_scoring_loses_and_doubles_nothing(cluster, sources, tmp_path, monkeypatch):
    """SIGKILL one student actor once the first forward's results are back and others are still out: Ray
    restarts it (the student reloads) and retries its forward; every trajectory is scored once, exactly as by
    the local engine, and a new actor process did the rest."""
    import os
    import signal

    from ded.compute import model_actors, score_actors

    monkeypatch.chdir(tmp_path)  # receipts/
    params = _params("ray", max_batch_tokens=128)  # dozens of forwards per lake batch: some are out at the kill
    seen: dict = {"killed": [], "after": None, "chunks": 0, "results": 0}
    real_run, real_close = model_actors.ActorPoolRunner.run, score_actors.RayStudentScorer.close

    def run(self, method, chunks):
        seen["chunks"] += len(chunks)
        for item in real_run(self, method, chunks):
            seen["results"] += 1
            if method == "score_at" and not seen["killed"]:
                pid = self.where()[0]["pid"]
                os.kill(pid, signal.SIGKILL)
                seen["killed"].append((pid, seen["results"], len(chunks)))
            yield item

    def close(self):
        if self.runner is not None and seen["after"] is None:
            seen["after"] = self.where()
        real_close(self)

    monkeypatch.setattr(model_actors.ActorPoolRunner, "run", run)
    monkeypatch.setattr(score_actors.RayStudentScorer, "close", close)
    remote = _student_scores(_lake(tmp_path / "ray", sources), params)
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    local = _student_scores(_lake(tmp_path / "local", sources), _params("local", max_batch_tokens=128))
    assert seen["killed"], "no student forward came back: nothing was killed"
    pid, done_at_kill, n_chunks = seen["killed"][0]
    assert done_at_kill < n_chunks, "killed after the last forward: not mid-run"
    assert pid not in {w["pid"] for w in seen["after"]}  # the restarted actor is a new process
    assert local and remote == local  # one score per trajectory, the local engine's, exactly
    assert len({r["trajectory_id"] for r in remote}) == len(remote)


def test_plan_is_the_local_scorers_forwards():
    from ded.compute.score_actors import plan

    items = [([0] * n, s) for n, s in [(10, 3), (40, 5), (25, 2), (1, 0), (90, 10), (30, 29), (30, 30)]]
    groups = plan(items, 50, "packed")
    assert sorted(i for g in groups for i in g) == list(range(len(items)))
    assert [4] in groups and [3] in groups and [6] in groups  # too long for one forward; nothing to score; start=end
    for g in groups:
        if len(g) > 1:
            assert sum(len(items[i][0]) for i in g) <= 50
            assert [len(items[i][0]) for i in g] == sorted((len(items[i][0]) for i in g), reverse=True)


def test_killed_embed_actor_mid_run_loses_and_doubles_nothing(cluster, sources, tmp_path):
    """SIGKILL one model actor after the first trajectory commit: Ray restarts it (the model reloads) and retries
    its chunk; the run finishes with one row per (id, chunk) and the local engine's vectors."""
    import os
    import signal
    import threading
    import time

    from ded.compute.embed_actors import RayEncoder
    from ded.stages.embed import embed_tables

    local = _lake(tmp_path / "local", sources)
    _embedded(local, _params("local"))
    remote = _lake(tmp_path / "ray", sources)
    params = _params("ray")
    enc = RayEncoder(params)
    pid = enc.where()[0]["pid"]
    killed: list[int] = []

    def killer():
        end = time.monotonic() + 120
        while time.monotonic() < end:
            n = remote.count("trajectory_vectors") if remote.exists("trajectory_vectors") else 0
            if n > 0:
                os.kill(pid, signal.SIGKILL)
                killed.append(n)
                return
            time.sleep(0.02)

    t = threading.Thread(target=killer)
    t.start()
    try:
        embed_tables(remote, params, enc)
        after = enc.where()
    finally:
        t.join()
        enc.close()
    assert killed, "the actor was not killed (no trajectory commit seen?)"
    assert killed[0] < local.count("trajectory_vectors"), "killed only after the last commit: not mid-run"
    assert pid not in {w["pid"] for w in after}  # a restarted actor did the rest
    for table in ("question_vectors", "trajectory_vectors"):
        assert remote.duplicate_keys(table) == 0
        (ka, va), (kb, vb) = _vectors(local, table), _vectors(remote, table)
        assert ka == kb
        np.testing.assert_allclose(vb, va, rtol=0, atol=1e-6)
