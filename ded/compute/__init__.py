"""Where the per-row stages run: `compute.engine: local` (this process and its worker pools) or `ray`.

On `ray`, `ded verify` grades on Ray actors, one per node (`ded.compute.verify_actors`); the driver reads
the pending rows, hands chunks out through Ray's ActorPool, and commits each batch to the lake itself (one
Lance commit per `verify.batch_rows`, never one per row). `ded embed` (`embed_actors`) and student scoring
(`score_actors`) run one model per actor (`model_actors`: one per node, or one per GPU) on the local engine's
batches, so their results are the local engine's; the driver commits them. `ded generate` with a local engine
(`generate_actors`) does the same with the backend's own batches, the driver resuming by fingerprint. Ray schedules, restarts and
retries; nothing here does. `ded score`'s SQL and `ded select` stay DuckDB on one node (docs/scale-out.md).
"""

from __future__ import annotations

from typing import Any

from ded.errors import DedError

RAY_INSTALL = "pip install -e '.[ray]'"


class ComputeError(DedError):
    """The compute engine cannot run; the message says what to do."""


def import_ray():
    """Ray, or a ComputeError with the install command."""
    try:
        import ray
    except ImportError:
        raise ComputeError(f"compute.engine: ray needs Ray on this machine and on every node: {RAY_INSTALL}") from None
    return ray


def connect(address: str | None) -> Any:
    """Join the Ray cluster at `address` (`auto`: the one `ray start` made on this node; `ray://host:10001`:
    Ray Client; null: a cluster already joined in this process, else a new local one)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address or None, log_to_driver=False, include_dashboard=False,
                 ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ComputeError(f"cannot join the Ray cluster at compute.address={address!r}: {e}; start one with "
                           "`ray start --head` (and `ray start --address HEAD:6379` on the other nodes), "
                           "or set compute.engine: local") from None
    return ray


def cluster_nodes(ray: Any) -> list[dict]:
    """Alive nodes that offer CPUs: [{node_id, cpus, address}]."""
    out = []
    for n in ray.nodes():
        cpus = int((n.get("Resources") or {}).get("CPU", 0))
        if n.get("Alive") and cpus > 0:
            out.append({"node_id": n["NodeID"], "cpus": cpus, "address": n.get("NodeManagerAddress")})
    if not out:
        raise ComputeError("the Ray cluster has no alive node with CPUs; check `ray status`")
    return out
