"""`ded verify` on Ray: one grading actor per node, each holding that node's math worker pool and sandbox
servers (one per core: the same MathPool and SandboxPool, so the same isolation, as the local engine).

An actor grades a chunk with the very `grade_many` the local engine calls, so verdicts are identical on the
same input; the driver turns results into verdict rows and commits them. A killed actor is restarted by
Ray (`max_restarts`) and its unfinished chunk retried there (`max_task_retries`): grading is a pure
function of the row, so a retry cannot double a verdict, and the lake merge on (trajectory_id, verifier)
could not either. When retries run out, what was graded is committed and the next run grades the rest.
"""

from __future__ import annotations

import os
from typing import Any

from ded.compute import cluster_nodes, connect
from ded.params import VerifyParams
from ded.verifiers import grade_many
from ded.verifiers.math import MathPool
from ded.verifiers.sandbox import Limits

CHUNKS_PER_ACTOR = 8  # per batch (chunk_size)

# what an actor needs of a pending row (the response and the question's reference); the rest stays on the driver
ITEM_KEYS = ("domain", "response", "answer", "tests", "starter_code", "entry_point", "question_missing",
             "question_id", "choices")


class Grader:
    """One node's verifier machinery: MathPool(cores) plus a SandboxPool of `cores` servers per call."""

    def __init__(self, verify: dict, cores: int):
        self.cfg = VerifyParams(**verify)
        self.cores = cores
        c = self.cfg
        self.limits = Limits(timeout_s=c.code_timeout_s, memory_mb=c.memory_mb, max_procs=c.max_procs,
                             file_size_mb=c.file_size_mb, max_output_bytes=c.max_output_mb << 20,
                             namespaces=c.namespaces)
        self.pool = MathPool(cores, c.math_timeout_s)
        self.pool.start()

    def where(self) -> dict:
        import ray

        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(), "cores": self.cores}

    def grade_at(self, index: int, items: list[dict]) -> tuple[int, list[dict]]:
        """`grade` of chunk `index`, returned with its index (chunks come back in the order they finish)."""
        return index, self.grade(items)

    def grade(self, items: list[dict]) -> list[dict]:
        c = self.cfg
        return grade_many(items, workers=self.cores, timeout_s=c.math_timeout_s, show_progress=False,
                          float_tol=c.float_tol, stop_at_first_failure=c.stop_at_first_failure, limits=self.limits,
                          uid_base=c.sandbox_uid_base, math_pool=self.pool)


class RayGraders:
    """The cluster's graders: `grade(chunks)` yields (chunk, results) for each chunk as it finishes.

    Completion order, not submission order: with ordered results an actor that finished its chunk early
    would wait, idle, until every earlier chunk was collected."""

    def __init__(self, params: Any):
        cfg = params.compute
        self.ray = ray = connect(cfg.address)
        from ray.util import ActorPool
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(Grader)
        self.actors = []
        for node in cluster_nodes(ray):
            cores = cfg.cores_per_node or node["cpus"]
            # soft affinity: a restarted actor may move when its node is gone
            self.actors.append(remote.options(
                num_cpus=min(cores, node["cpus"]), max_restarts=cfg.max_restarts, max_task_retries=cfg.max_task_retries,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["node_id"], soft=True),
            ).remote(params.verify.model_dump(), cores))
        self.pool = ActorPool(self.actors)

    def where(self) -> list[dict]:
        return self.ray.get([a.where.remote() for a in self.actors])

    def chunk_size(self, rows: int, most: int) -> int:
        """Rows per actor call for a batch of `rows`: at most `most`, and small enough that each actor gets
        CHUNKS_PER_ACTOR chunks, because the batch is committed when its last chunk is back and an actor
        with nothing left idles until then (with k chunks per actor, at most ~1/k of the batch's time)."""
        return max(1, min(most, -(-rows // (CHUNKS_PER_ACTOR * max(1, len(self.actors))))))

    def grade(self, chunks: list[list[dict]]):
        items = ((i, [{k: r.get(k) for k in ITEM_KEYS} for r in chunk]) for i, chunk in enumerate(chunks))
        for i, results in self.pool.map_unordered(lambda a, v: a.grade_at.remote(*v), items):
            yield chunks[i], results

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []
