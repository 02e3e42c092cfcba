"""Local generation with Hugging Face transformers (the default backend; CPU and GPU).

Batched `model.generate` with left padding, the tokenizer's chat template, bf16 on GPU, stopping
at the end of the assistant turn (the tokenizer's eos, the model's generation eos ids and
`<|im_end|>` where the vocabulary has it). Requests are sorted by prompt length before batching
so a batch wastes little on padding; the longest batch runs first so an out-of-memory error shows
at once (on GPU the batch is then halved and retried).

Two engines run a batch: "generate" (`model.generate` with our seeded sampler as its logits
processor) and "fast" (`ded.backends.fast_decode`: a preallocated KV cache and a short, sync-free
decode step for Qwen2/Qwen3/Llama/Mistral models). "auto" picks fast when the architecture is
supported, generate otherwise; tests check that both give the same tokens. Both draw tokens with `ded.backends.sampling`:
temperature, top-k, top-p, then an inverse-CDF draw whose uniform number is a hash of (the
request's seed, the step), so a sample depends on its own seed only, not on which requests
share its batch. The model's generation_config defaults (repetition penalty, top_k) are not
applied: sampling is exactly what params say.

options (ModelSpec.options): engine (auto | generate | fast), batch_size (CPU: 8 with generate,
32 with fast; GPU: 256 with generate, with fast as many as fit half the free memory, at most
1024), device
(auto, cpu, cuda), dtype (auto = bf16 on GPU, fp32 on CPU), attn_implementation (sdpa),
cache_implementation (generate engine, e.g. "static"), trust_remote_code (false).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ded.backends.base import Backend, GenRequest, GenResult, reopen_think
from ded.backends.fast_decode import FastDecoder, unsupported_reason
from ded.backends.sampling import (
    SeededSampler,
    draw,
    seed_key,
    seeded_uniform,
    uniforms,
)
from ded.cpu_threads import cpu_threads, threads_for
from ded.errors import DedError

log = logging.getLogger(__name__)
class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, spec):
        super().__init__(spec)
        o = dict(spec.options or {})
        self.engine_opt = o.get("engine", "auto")
        if self.engine_opt not in ("auto", "generate", "fast"):
            raise ValueError(f"{spec.name}: options.engine must be auto, generate or fast, got {self.engine_opt!r}")
        self.device_opt = o.get("device", "auto")
        self.dtype_opt = o.get("dtype", "auto")
        self.batch_size = o.get("batch_size")
        self.attn = o.get("attn_implementation", "sdpa")
        self.cache_implementation = o.get("cache_implementation")
        self.trust_remote_code = bool(o.get("trust_remote_code", False))
        self.model = self.tokenizer = None
        self._prompt_texts: dict[str, str] = {}

    # -- loading ----------------------------------------------------------------------------
    def load(self) -> None:
        if self.model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device_opt
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = self.dtype_opt
        if dtype == "auto":
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        elif isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.spec.model, trust_remote_code=self.trust_remote_code)
            self.model = AutoModelForCausalLM.from_pretrained(
                self.spec.model, dtype=dtype, attn_implementation=self.attn,
                trust_remote_code=self.trust_remote_code).to(device).eval()
        except OSError as e:
            raise DedError(f"cannot load model {self.spec.model!r} for {self.spec.name!r}: {e}; "
                           f"set models[].model to a local path or a hub id (online)") from e
        self.attach(self.model, self.tokenizer)

    def attach(self, model, tokenizer) -> TransformersBackend:
        """Use an already loaded model and tokenizer (a model trained in this process, a bench)."""
        self._threads = None if model.device.type == "cuda" else threads_for(model.config)
        self.model, self.tokenizer = model.eval(), tokenizer
        self.tokenizer.padding_side = "left"
        device = self.device = str(next(model.parameters()).device)
        self.engine = self._pick_engine()
        if self.batch_size is None:
            if device.startswith("cuda"):
                self.batch_size = 256 if self.engine == "generate" else 0  # 0: fit to memory
            else:
                self.batch_size = 8 if self.engine == "generate" else 32
        self.eos_ids = self._eos_ids()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
        return self

    def _pick_engine(self) -> str:
        reason = unsupported_reason(self.model)
        if self.engine_opt == "fast" and reason:
            raise DedError(f"{self.spec.name}: options.engine fast cannot run this model ({reason}); use generate")
        if self.engine_opt == "auto":
            return "fast" if reason is None else "generate"
        return self.engine_opt

    def _fast_batch_size(self, ids: list[list[int]], max_new: int) -> int:
        """Rows whose KV cache fits half the free GPU memory (at most 1024), for the fast engine."""
        import torch

        if not self.device.startswith("cuda"):
            return 64
        cfg = self.model.config
        heads = cfg.num_attention_heads
        per_token = (2 * cfg.num_hidden_layers * (getattr(cfg, "num_key_value_heads", None) or heads)
                     * (getattr(cfg, "head_dim", None) or cfg.hidden_size // heads) * self.model.dtype.itemsize)
        per_row = per_token * (max(len(x) for x in ids) + max_new) + 16 * cfg.vocab_size  # + fp32 logits/sampling
        free, _ = torch.cuda.mem_get_info()
        return max(1, min(1024, int(free * 0.5 // per_row)))

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        for x in [self.tokenizer.eos_token_id, gen_eos, self.tokenizer.convert_tokens_to_ids("<|im_end|>")]:
            for i in (x if isinstance(x, list) else [x]):
                if isinstance(i, int) and i >= 0 and i != self.tokenizer.unk_token_id and i not in ids:
                    ids.append(i)
        if not ids:
            raise DedError(f"{self.spec.model}: the tokenizer has no eos token; generation could not stop")
        return ids

    def render(self, req: GenRequest) -> str:
        if not req.is_chat:
            return req.prompt
        if not getattr(self.tokenizer, "chat_template", None):
            raise DedError(f"{self.spec.model}'s tokenizer has no chat template; use a chat model or "
                           f"send raw `prompt` requests")
        return self.tokenizer.apply_chat_template(list(req.messages), tokenize=False, add_generation_prompt=True)

    # -- generation -------------------------------------------------------------------------
    def _encode(self, requests: list[GenRequest]) -> dict[str, list[int]]:
        texts = self._prompt_texts = {r.key: self.render(r) for r in requests}
        # chat templates already carry their special tokens; raw prompts get the tokenizer's own
        return {r.key: self.tokenizer(texts[r.key], add_special_tokens=not r.is_chat)["input_ids"] for r in requests}

    def _groups(self, requests: list[GenRequest], enc: dict[str, list[int]]) -> list[tuple[list[GenRequest], int]]:
        """Requests of one sampling (seed aside), longest prompt first, each group with its batch size."""
        groups: dict[tuple, list[GenRequest]] = {}
        for r in requests:
            groups.setdefault(r.sampling.without_seed(), []).append(r)
        out = []
        for members in groups.values():
            members.sort(key=lambda r: (-len(enc[r.key]), r.key))
            out.append((members, self.batch_size or self._fast_batch_size([enc[r.key] for r in members],
                                                                          members[0].sampling.max_tokens)))
        return out

    def batch_plan(self, requests: list[GenRequest]) -> list[list[str]]:
        """The request keys of each batch `generate` runs (before any out-of-memory halving). The Ray
        engine (ded/compute/generate_actors.py) sends each batch as one actor call, so every sample shares
        its batch, and its padding, with the same rows as on the local engine."""
        self.load()
        enc = self._encode(requests)
        return [[r.key for r in members[i:i + bs]] for members, bs in self._groups(requests, enc)
                for i in range(0, len(members), bs)]

    def generate(self, requests: list[GenRequest]) -> Iterator[GenResult]:
        self.load()
        enc = self._encode(requests)
        for members, bs in self._groups(requests, enc):
            i = 0
            while i < len(members):
                batch = members[i:i + bs]
                try:
                    with cpu_threads(self._threads):  # one thread for a tiny model on CPU (ded.cpu_threads)
                        done = list(self._batch(batch, [enc[r.key] for r in batch]))
                    yield from done
                    i += len(batch)
                except Exception as e:
                    if _is_oom(e) and bs > 1:
                        bs = max(1, bs // 2)
                        log.warning("out of memory at batch %d; retrying with %d", len(batch), bs)
                        _empty_cache()
                        continue
                    raise

    def _batch(self, batch: list[GenRequest], ids: list[list[int]]) -> Iterator[GenResult]:
        import torch

        s = batch[0].sampling
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, x in enumerate(ids):
            if x:
                input_ids[row, width - len(x):] = torch.tensor(x)
                mask[row, width - len(x):] = 1
        max_new = s.max_tokens
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit and width + max_new > limit:
            max_new = max(1, limit - width)
            log.warning("%s: max_tokens %d exceeds the context (%d); generating %d", self.spec.name,
                        s.max_tokens, limit, max_new)
        if self.engine == "fast":
            new = self._fast(batch, ids, max_new)
        else:
            new = self._generate(batch, input_ids, mask, width, max_new)
        eos = set(self.eos_ids)
        for r, x, toks in zip(batch, ids, new):
            stop = next((j for j, t in enumerate(toks) if t in eos), None)
            body = toks if stop is None else toks[:stop]
            text = self.tokenizer.decode(body, skip_special_tokens=False)
            if r.is_chat:
                text = reopen_think(self._prompt_texts.get(r.key, ""), text)
            yield GenResult(key=r.key, text=text,
                            finish_reason="stop" if stop is not None else "length",
                            prompt_tokens=len(x), completion_tokens=len(body) + (stop is not None),
                            sample_idx=r.sample_idx)

    def _generate(self, batch, input_ids, mask, width: int, max_new: int) -> list[list[int]]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        s = batch[0].sampling
        # Unset fields are filled from the model's generation_config (transformers 5): pin the
        # ones that would change the distribution (Qwen ships repetition_penalty 1.05);
        # warpers (top_k, top_p) do not run under greedy decoding.
        cfg = GenerationConfig(max_new_tokens=max_new, do_sample=False, num_beams=1,
                               eos_token_id=self.eos_ids, pad_token_id=self.pad_id,
                               repetition_penalty=1.0, no_repeat_ngram_size=0, min_new_tokens=0,
                               cache_implementation=self.cache_implementation)
        procs = LogitsProcessorList()
        if s.temperature > 0:
            procs.append(SeededSampler([r.sampling.seed for r in batch], s.temperature, s.top_p, width, s.top_k))
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                      generation_config=cfg, logits_processor=procs)
        return out[:, width:].tolist()

    def _fast(self, batch, ids, max_new: int) -> list[list[int]]:
        import torch


        s = batch[0].sampling
        keys = torch.tensor([seed_key(r.sampling.seed) for r in batch], dtype=torch.int64, device=self.device)

        def sampler(logits, step):
            if s.temperature <= 0:
                return logits.argmax(-1)
            return draw(logits, uniforms(keys, step), s.temperature, s.top_p, s.top_k)[:, 0]

        return FastDecoder(self.model).generate(ids, max_new, sampler, self.eos_ids, self.pad_id)

    def close(self) -> None:
        self.model = self.tokenizer = None
        _empty_cache()


def _is_oom(e: Exception) -> bool:
    return type(e).__name__ == "OutOfMemoryError" or "out of memory" in str(e).lower()


def _empty_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


__all__ = ["SeededSampler", "TransformersBackend", "seeded_uniform"]
