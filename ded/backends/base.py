"""The generation interface every backend implements, and what backends share.

A caller builds `GenRequest`s (one per sample: a chat `messages` list or a raw `prompt`, the
sampling of that sample and its `sample_idx`), hands them to `Backend.generate`, and gets one
`GenResult` per request back, in any order, each carrying its request's `key`. A backend never
raises for one bad request: the result says `finish_reason="error"` and why; it raises only for
what makes every request fail (a missing package, a model that does not load).

Requests are independent samples. Backends that can ask for several completions of one prompt
at once (OpenAI `n`, vLLM `SamplingParams.n`) regroup them with `group_samples`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ded.ids import stable_hash

FinishReason = Literal["stop", "length", "error"]


@dataclass(frozen=True)
class Sampling:
    """Sampling of one request. `seed` is this sample's own seed (base seed + sample_idx)."""

    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 16384
    seed: int = 0
    top_k: int = 0  # 0 = off

    def as_dict(self) -> dict[str, Any]:
        d = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": self.seed}
        if self.top_k:  # only when set, so fingerprints made before top_k existed stay valid
            d["top_k"] = self.top_k
        return d

    def without_seed(self) -> tuple:
        return (self.temperature, self.top_p, self.max_tokens, self.top_k)


@dataclass(frozen=True)
class GenRequest:
    """One sample to generate. `key` identifies it in results (by convention its fingerprint)."""

    key: str
    messages: tuple[dict[str, str], ...] | list[dict[str, str]] | None = None
    prompt: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    sample_idx: int = 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError(f"GenRequest {self.key!r} needs exactly one of `messages` (chat) or `prompt` (raw text)")

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    def prompt_key(self) -> str:
        """What identifies the prompt text (chat messages or raw prompt) for grouping."""
        return json.dumps(list(self.messages), sort_keys=True) if self.is_chat else "\x00" + self.prompt


@dataclass
class GenResult:
    key: str
    text: str = ""
    finish_reason: FinishReason = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    sample_idx: int = 0
    # True when completion_tokens is apportioned from a shared count (OpenAI usage with n > 1).
    tokens_estimated: bool = False

    @property
    def ok(self) -> bool:
        return self.finish_reason != "error"


def reopen_think(prompt_text: str, text: str) -> str:
    """Put back a `<think>` that the chat template wrote into the prompt (QwQ, DeepSeek-R1, Qwen3
    templates end the generation prompt with "<think>\n"): the stored response is then the whole
    assistant turn, and a reasoning cut off by max_tokens reads as unclosed, not as a final answer."""
    if prompt_text.rstrip().endswith("<think>") and not text.lstrip().startswith("<think>"):
        return "<think>\n" + text
    return text


def error_result(req: GenRequest, message: str) -> GenResult:
    return GenResult(key=req.key, text="", finish_reason="error", error=message, sample_idx=req.sample_idx)


def fingerprint(model: str, prompt: Any, sampling: Sampling, sample_idx: int) -> str:
    """The request hash used for resume (ARCHITECTURE.md, trajectories.fingerprint).

    `model` is what identifies the weights (the params name and the model id: a new checkpoint under
    the same name is new work); `prompt` the rendered chat messages or raw prompt; `sampling`
    includes the per-sample seed. The backend and endpoint are not part of it: the same weights
    served another way give the same samples' distribution, so switching backends resumes.
    """
    return "fp_" + stable_hash({"model": model, "prompt": prompt, "sampling": sampling.as_dict(),
                                "sample_idx": int(sample_idx)}, n=24)


def group_samples(requests: Iterable[GenRequest], max_n: int) -> list[list[GenRequest]]:
    """Regroup single-sample requests into calls of up to `max_n` samples of one prompt.

    Requests with the same prompt and the same sampling except the seed form a group, ordered by
    sample_idx; the call uses the first member's seed. Order of first appearance is kept.
    """
    if max_n < 1:
        raise ValueError(f"max_n must be >= 1, got {max_n}")
    by: dict[tuple, list[GenRequest]] = {}
    for r in requests:
        by.setdefault((r.prompt_key(), r.sampling.without_seed()), []).append(r)
    out: list[list[GenRequest]] = []
    for members in by.values():
        members.sort(key=lambda r: r.sample_idx)
        out.extend(members[i:i + max_n] for i in range(0, len(members), max_n))
    return out


def apportion(total: int | None, texts: list[str]) -> list[int | None]:
    """Split a shared completion-token count over choices in proportion to their length."""
    if total is None:
        return [None] * len(texts)
    if len(texts) == 1:
        return [int(total)]
    chars = [max(len(t), 1) for t in texts]
    s = sum(chars)
    parts = [int(total * c / s) for c in chars]
    parts[chars.index(max(chars))] += int(total) - sum(parts)  # rounding remainder to the longest
    return parts


class Backend:
    """Base class: `generate(requests) -> Iterator[GenResult]`; `close()` frees the model."""

    name = "base"

    def __init__(self, spec: Any):
        self.spec = spec

    def generate(self, requests: list[GenRequest]) -> Iterator[GenResult]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
