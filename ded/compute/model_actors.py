"""Model actor pools on Ray (`ded embed`, student scoring): one model per actor, the driver plans and commits.

Placement: one actor per GPU when the stage's device asks for one (`cuda...`, or `auto` on a cluster that has
GPUs), else one actor per node holding that node's CPUs (`compute.cores_per_node`, default all). Each actor
loads its model once and runs the very function the local engine runs on the chunks it is sent; the driver
cuts the work into chunks, collects results in completion order and reassembles them in input order, so
what the driver writes is what the local engine writes. A killed actor is restarted and its chunk retried
(`compute.max_restarts`, `max_task_retries`): scoring and embedding are pure functions of the text.
"""

from __future__ import annotations

from typing import Any

from ded.compute import ComputeError, cluster_nodes, connect


def slots(ray: Any, cfg: Any, device: str) -> list[dict]:
    """Where the model actors go: [{node_id, num_cpus, num_gpus}], one per GPU or one per node."""
    nodes = cluster_nodes(ray)
    gpus = {n["NodeID"]: int((n.get("Resources") or {}).get("GPU", 0)) for n in ray.nodes() if n.get("Alive")}
    want_gpu = device.startswith("cuda") or (device == "auto" and any(gpus.values()))
    if device.startswith("cuda") and not any(gpus.values()):
        raise ComputeError(f"device {device!r} asks for a GPU but the Ray cluster has none (`ray status`); "
                           "set the stage's device to cpu or auto")
    out = []
    for node in nodes:
        cores = min(cfg.cores_per_node or node["cpus"], node["cpus"])
        if want_gpu:
            n = gpus.get(node["node_id"], 0)
            out += [{"node_id": node["node_id"], "num_cpus": max(1, cores // max(n, 1)), "num_gpus": 1}] * n
        else:
            out.append({"node_id": node["node_id"], "num_cpus": cores, "num_gpus": 0})
    return out


class ActorPoolRunner:
    """Actors of class `cls` (one per slot), each built with `args`; `run(method, chunks)` yields
    (index, result) per chunk as it finishes."""

    def __init__(self, params: Any, cls: type, device: str, *args: Any):
        cfg = params.compute
        self.ray = ray = connect(cfg.address)
        from ray.util import ActorPool
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = ray.remote(cls)
        self.actors = []
        for s in slots(ray, cfg, device):
            self.actors.append(remote.options(
                num_cpus=s["num_cpus"], num_gpus=s["num_gpus"], max_restarts=cfg.max_restarts,
                max_task_retries=cfg.max_task_retries,
                # soft affinity: a restarted actor may move when its node is gone
                scheduling_strategy=NodeAffinitySchedulingStrategy(s["node_id"], soft=True),
            ).remote(*args, s["num_cpus"]))
        self.pool = ActorPool(self.actors)

    def where(self) -> list[dict]:
        return self.ray.get([a.where.remote() for a in self.actors])

    def call_one(self, method: str, *args: Any) -> Any:
        return self.ray.get(getattr(self.actors[0], method).remote(*args))

    def run(self, method: str, chunks: list[Any]):
        """(index, result) of `actor.<method>(index, chunk)` for every chunk, in completion order."""
        yield from self.pool.map_unordered(lambda a, v: getattr(a, method).remote(*v), enumerate(chunks))

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
        self.actors = []


def where(cores: int) -> dict:
    """What an actor reports of itself (tests and `ded ... --format json` show it)."""
    import os

    import ray

    return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(), "cores": cores}
