"""A two-node Ray cluster on this machine, every process bound to 127.0.0.1 (ray.cluster_utils.Cluster).

Ray replaces a loopback address with the machine's outward IP when a driver joins (`ray.init` resolves
127.0.0.1 "to a remotely reachable IP"), so a cluster whose raylets listen on 127.0.0.1 is unreachable
unless Ray is told this is a one-machine cluster: `ray._private.ray_constants.ENABLE_RAY_CLUSTER = False`
(what the environment variable RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 sets when read before Ray's import)
makes it keep 127.0.0.1. Nothing then listens on another interface.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def loopback_cluster(nodes: int = 2, cpus: int = 1):
    """A head and `nodes - 1` more raylets with `cpus` CPUs each, this process joined; shut down after."""
    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    before = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "include_dashboard": False,
                                                      "node_ip_address": "127.0.0.1"})
    try:
        for _ in range(nodes - 1):
            c.add_node(num_cpus=cpus, node_ip_address="127.0.0.1")
        ray.init(address=c.address, log_to_driver=False)
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = before
