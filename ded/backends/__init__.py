"""Generation backends behind one interface (see docs/generation.md).

    from ded.backends import GenRequest, Sampling, get_backend
    with get_backend(params.model("qwq-32b")) as backend:
        for result in backend.generate(requests):   # any order; result.key names the request
            ...

Backends load lazily: `get_backend` only builds the object; the model loads (or the client
connects) on the first `generate` call, so a dry run never touches a model.
"""

from __future__ import annotations

from typing import Any

from ded.backends.base import (
    Backend,
    GenRequest,
    GenResult,
    Sampling,
    apportion,
    error_result,
    fingerprint,
    group_samples,
)
from ded.backends.openai import OpenAIBackend
from ded.backends.transformers import TransformersBackend
from ded.backends.vllm import VLLMBackend

BACKENDS = ("transformers", "openai", "vllm")


def get_backend(spec: Any) -> Backend:
    """The backend named by `spec.backend` (a `ded.params.ModelSpec`) for that model."""
    name = getattr(spec, "backend", None)
    if name == "transformers":
        return TransformersBackend(spec)
    if name == "openai":
        return OpenAIBackend(spec)
    if name == "vllm":
        return VLLMBackend(spec)
    raise ValueError(f"unknown backend {name!r} for model {getattr(spec, 'name', '?')!r}; "
                     f"choose one of {', '.join(BACKENDS)} (models[].backend)")


__all__ = ["BACKENDS", "Backend", "GenRequest", "GenResult", "Sampling", "apportion", "error_result",
           "fingerprint", "get_backend", "group_samples"]
