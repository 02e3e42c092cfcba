"""The vLLM offline engine (`LLM.generate` with `n`), for big local runs on GPUs.

vLLM is an optional extra (`pip install 'ded[gpu]'`), imported only when a `vllm` model first
generates; without it the error names the extra. Samples of one prompt become one vLLM request
with `SamplingParams(n=k, seed=first seed)`, so the engine shares their prefill. Chat requests are
rendered with the model's own chat template (the tokenizer vLLM loaded), raw prompts go as they
are. Each `CompletionOutput` maps back to its sample by index: text, finish_reason ("stop",
"length"; anything else, e.g. "abort", is an error result), and its token count.

options (ModelSpec.options) go to `vllm.LLM(...)` as they are (tensor_parallel_size, dtype,
gpu_memory_utilization, max_model_len, enable_prefix_caching, …), except `max_n` (16), the largest
`n` per engine request, and `chunk` (512), the engine requests per `LLM.generate` call: results
of a chunk come back together, so the chunk bounds what an interrupt can lose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ded.backends.base import (
    Backend,
    GenRequest,
    GenResult,
    error_result,
    group_samples,
    reopen_think,
)
from ded.errors import MissingDependency

_OWN_OPTIONS = {"max_n", "chunk"}


def _import_vllm():
    try:
        import vllm
    except ImportError as e:
        raise MissingDependency("vllm", extra="gpu", why="the vllm backend's offline engine; "
                                "or serve the model with `vllm serve` and use backend: openai") from e
    return vllm


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, spec):
        super().__init__(spec)
        o = dict(spec.options or {})
        self.max_n = int(o.get("max_n", 16))
        self.chunk = int(o.get("chunk", 512))
        self.engine_options = {k: v for k, v in o.items() if k not in _OWN_OPTIONS}
        self.llm = None

    def load(self) -> None:
        if self.llm is None:
            vllm = _import_vllm()
            self.llm = vllm.LLM(model=self.spec.model, **self.engine_options)

    # -- mapping (pure; tested without vLLM) --------------------------------------------------
    def render(self, req: GenRequest) -> str:
        if not req.is_chat:
            return req.prompt
        tok = self.llm.get_tokenizer()
        return tok.apply_chat_template(list(req.messages), tokenize=False, add_generation_prompt=True)

    def sampling_kwargs(self, group: list[GenRequest]) -> dict[str, Any]:
        s = group[0].sampling
        kw = {"n": len(group), "temperature": s.temperature, "top_p": s.top_p,
              "max_tokens": s.max_tokens, "seed": s.seed}
        if s.top_k:
            kw["top_k"] = s.top_k
        return kw

    @staticmethod
    def results(group: list[GenRequest], output: Any, prompt_text: str = "") -> list[GenResult]:
        """Map one vLLM `RequestOutput` (prompt_token_ids, outputs[i].text/token_ids/finish_reason)."""
        prompt_tokens = len(getattr(output, "prompt_token_ids", None) or []) or None
        outs = sorted(output.outputs, key=lambda o: getattr(o, "index", 0))
        res = []
        for i, req in enumerate(group):
            if i >= len(outs):
                res.append(error_result(req, f"vLLM returned {len(outs)} outputs for n={len(group)}"))
                continue
            o = outs[i]
            reason = o.finish_reason or "stop"
            if reason not in ("stop", "length"):
                res.append(error_result(req, f"vLLM finish_reason {reason!r}"))
                continue
            res.append(GenResult(key=req.key, text=reopen_think(prompt_text, o.text), finish_reason=reason,
                                 prompt_tokens=prompt_tokens, completion_tokens=len(o.token_ids or []),
                                 sample_idx=req.sample_idx))
        return res

    def generate(self, requests: list[GenRequest]) -> Iterator[GenResult]:
        groups = group_samples(requests, self.max_n)
        if not groups:
            return
        self.load()
        vllm = _import_vllm()
        for start in range(0, len(groups), self.chunk):
            chunk = groups[start:start + self.chunk]
            prompts = [self.render(g[0]) for g in chunk]
            params = [vllm.SamplingParams(**self.sampling_kwargs(g)) for g in chunk]
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
            # vLLM returns outputs in the order of the prompts it was given
            for g, text, out in zip(chunk, prompts, outputs):
                yield from self.results(g, out, text)

    def close(self) -> None:
        self.llm = None
