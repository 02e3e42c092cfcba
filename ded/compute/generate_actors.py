"""`ded generate` on Ray for local engines (backend transformers, vllm): one copy of the model per actor.

`RayGenerateBackend` stands where the local backend stands in `ded.stages.generate.generate_model`: the
driver plans requests, skips every fingerprint the lake has, and commits results every
`generate.commit_rows` rows through `run_requests`, exactly as locally; only `generate` itself runs on the
actors (ded.compute.model_actors: one per GPU when the model's `options.device` asks for one or is `auto` on
a cluster with GPUs, else one per node with that node's CPUs).

The chunks are the local engine's batches: actor 0 returns the transformers backend's `batch_plan` (prompts
sorted by length, cut at its batch size) and each batch goes to an actor as one call, which runs that very
batch. A sample's tokens depend on its own seed (ded.backends.sampling), and its batch, and so its padding,
is the one it had locally: the rows equal the local engine's. A backend without a plan (vllm, which batches
continuously) gets chunks of `compute.chunk_rows` requests.

A killed actor is restarted and its batch retried (`compute.max_restarts`, `max_task_retries`): the same
requests with the same seeds give the same samples (on a GPU up to kernel float differences, as between two local runs), and the lake merge is on trajectory_id. When the retries
run out, what was generated is committed (run_requests) and the next `ded generate` requests only what is
missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ded.backends import get_backend
from ded.backends.base import Backend, GenRequest, GenResult
from ded.compute import ComputeError
from ded.compute.model_actors import ActorPoolRunner, where

RAY_BACKENDS = ("transformers", "vllm")  # openai: the served endpoints are where the GPUs are (docs/generation.md)


class GenerateWorker:
    """One node's (or GPU's) copy of the model behind its local backend."""

    def __init__(self, spec: Any, cores: int):
        import torch


        if not torch.cuda.is_available():
            torch.set_num_threads(max(1, cores))  # the node's share, not every core of the machine
        self.cores = cores
        self.backend = get_backend(spec)

    def where(self) -> dict:
        return {**where(self.cores), "device": getattr(self.backend, "device", None)}

    def plan(self, requests: list[GenRequest]) -> list[list[str]] | None:
        p = getattr(self.backend, "batch_plan", None)
        return p(requests) if p else None

    def generate_at(self, index: int, requests: list[GenRequest]) -> tuple[int, list[GenResult]]:
        return index, list(self.backend.generate(requests))


class RayGenerateBackend(Backend):
    """A local engine's `generate` on the cluster's model actors (started on the first call; `close()` ends them)."""

    def __init__(self, spec: Any, params: Any):
        super().__init__(spec)
        self.name = f"{spec.backend} on ray"
        self.params = params
        self.runner: ActorPoolRunner | None = None

    def start(self) -> ActorPoolRunner:
        if self.runner is None:
            device = str((self.spec.options or {}).get("device", "auto"))
            self.runner = ActorPoolRunner(self.params, GenerateWorker, device, self.spec)
        return self.runner

    def where(self) -> list[dict]:
        return self.start().where()

    def chunks(self, requests: list[GenRequest]) -> list[list[GenRequest]]:
        """The local engine's batches (actor 0's plan), else chunks of compute.chunk_rows."""
        by_key = {r.key: r for r in requests}
        plan = self.start().call_one("plan", requests)
        if plan is None:
            n = self.params.compute.chunk_rows
            return [requests[i:i + n] for i in range(0, len(requests), n)]
        return [[by_key[k] for k in keys] for keys in plan]

    def generate(self, requests: list[GenRequest]) -> Iterator[GenResult]:
        requests = list(requests)
        if not requests:
            return
        runner = self.start()
        try:
            for _, results in runner.run("generate_at", self.chunks(requests)):
                yield from results
        except runner.ray.exceptions.RayError as e:  # an actor died past its restarts, or a batch raised
            raise ComputeError(
                f"{self.spec.name}: generation on the Ray actors failed ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}); what came back before is committed, "
                "so rerun `ded generate` to request only what is missing (raise compute.max_restarts / "
                "max_task_retries if nodes come and go)") from e

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None


def generation_backend(spec: Any, params: Any) -> Backend:
    """The backend `ded generate` uses for `spec`: on compute.engine ray a local engine runs on model actors;
    the openai backend (and everything on the local engine) is the plain one."""
    if params.compute.engine == "ray" and spec.backend in RAY_BACKENDS:
        return RayGenerateBackend(spec, params)
    return get_backend(spec)
