"""Local generation with Hugging Face transformers (the default backend; CPU and GPU).

Batched `model.generate` with left padding, the tokenizer's chat template, bf16 on GPU, stopping
at the end of the assistant turn (the tokenizer's eos, the model's generation eos ids and
`<|im_end|>` where the vocabulary has it). Requests are sorted by prompt length before batching
so a batch wastes little on padding; the longest batch runs first so an out-of-memory error shows
at once (on GPU the batch is then halved and retried).

Sampling is our own logits processor (`SeededSampler`): temperature, top-p, then an inverse-CDF
draw whose uniform number is a hash of (the request's seed, the step). Each sample's randomness
therefore depends on its own seed only, not on which other requests share its batch, so a resumed
run that batches differently still draws the same sample for the same seed (up to the float
differences that padding can cause). The model's own generation_config defaults (repetition
penalty, top_k) are deliberately not applied: sampling is exactly what params say.

options (ModelSpec.options): batch_size (default 8 on CPU, 256 on GPU), device (auto, cpu, cuda),
dtype (auto = bf16 on GPU, fp32 on CPU), attn_implementation (sdpa), cache_implementation
(e.g. "static"), trust_remote_code (false).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ded.backends.base import Backend, GenRequest, GenResult, error_result
from ded.errors import DedError

log = logging.getLogger(__name__)
_M32 = 0xFFFFFFFF


def _mix32(x: int) -> int:
    """lowbias32 (Chris Wellons' integer hash): a well-mixed 32-bit permutation."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def seeded_uniform(seed: int, step: int) -> float:
    """A uniform number in (0, 1) from (seed, step), the same on every device and batch."""
    h = _mix32(_mix32(seed & _M32) ^ _mix32((seed >> 32) & _M32) ^ _mix32(step + 0x9E3779B9))
    return ((h >> 8) + 0.5) / float(1 << 24)


class SeededSampler:
    """A transformers logits processor that draws the next token per row from its own seed.

    It returns scores that are -inf everywhere but the drawn token, so it runs under greedy
    decoding (do_sample=False) and the draw is exact: temperature, then top-p, then inverse CDF.
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float, prompt_len: int):
        self.seeds, self.temperature, self.top_p, self.prompt_len = seeds, temperature, top_p, prompt_len

    def __call__(self, input_ids, scores):
        import torch

        step = input_ids.shape[1] - self.prompt_len
        u = torch.tensor([seeded_uniform(s, step) for s in self.seeds], device=scores.device,
                         dtype=torch.float32)[:, None]
        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            probs, order = probs.sort(dim=-1, descending=True, stable=True)
            # keep a token while the mass before it is below top_p (the first is always kept)
            probs = probs * ((probs.cumsum(-1) - probs) < self.top_p)
        cum = probs.cumsum(-1)
        pick = torch.searchsorted(cum, u * cum[:, -1:], right=True).clamp_(max=cum.shape[1] - 1)
        token = order.gather(1, pick) if self.top_p < 1.0 else pick
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, token, 0.0)


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, spec):
        super().__init__(spec)
        o = dict(spec.options or {})
        self.device_opt = o.get("device", "auto")
        self.dtype_opt = o.get("dtype", "auto")
        self.batch_size = o.get("batch_size")
        self.attn = o.get("attn_implementation", "sdpa")
        self.cache_implementation = o.get("cache_implementation")
        self.trust_remote_code = bool(o.get("trust_remote_code", False))
        self.model = self.tokenizer = None

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
        self.tokenizer.padding_side = "left"
        self.device = device
        if self.batch_size is None:
            self.batch_size = 256 if device.startswith("cuda") else 8
        self.eos_ids = self._eos_ids()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]

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
    def generate(self, requests: list[GenRequest]) -> Iterator[GenResult]:
        self.load()
        texts = {r.key: self.render(r) for r in requests}
        # chat templates already carry their special tokens; raw prompts get the tokenizer's own
        enc = {r.key: self.tokenizer(texts[r.key], add_special_tokens=not r.is_chat)["input_ids"] for r in requests}
        groups: dict[tuple, list[GenRequest]] = {}
        for r in requests:
            groups.setdefault(r.sampling.without_seed(), []).append(r)
        for members in groups.values():
            members.sort(key=lambda r: (-len(enc[r.key]), r.key))
            i, bs = 0, self.batch_size
            while i < len(members):
                batch = members[i:i + bs]
                try:
                    yield from self._batch(batch, [enc[r.key] for r in batch])
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
        from transformers import GenerationConfig, LogitsProcessorList

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
        # Unset fields are filled from the model's generation_config (transformers 5): pin the
        # ones that would change the distribution (Qwen ships repetition_penalty 1.05);
        # warpers (top_k, top_p) do not run under greedy decoding.
        cfg = GenerationConfig(max_new_tokens=max_new, do_sample=False, num_beams=1,
                               eos_token_id=self.eos_ids, pad_token_id=self.pad_id,
                               repetition_penalty=1.0, no_repeat_ngram_size=0, min_new_tokens=0,
                               cache_implementation=self.cache_implementation)
        procs = LogitsProcessorList()
        if s.temperature > 0:
            procs.append(SeededSampler([r.sampling.seed for r in batch], s.temperature, s.top_p, width))
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                      generation_config=cfg, logits_processor=procs)
        new = out[:, width:].tolist()
        eos = set(self.eos_ids)
        for r, x, toks in zip(batch, ids, new):
            stop = next((j for j, t in enumerate(toks) if t in eos), None)
            body = toks if stop is None else toks[:stop]
            yield GenResult(key=r.key, text=self.tokenizer.decode(body, skip_special_tokens=False),
                            finish_reason="stop" if stop is not None else "length",
                            prompt_tokens=len(x), completion_tokens=len(body) + (stop is not None),
                            sample_idx=r.sample_idx)

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


__all__ = ["SeededSampler", "TransformersBackend", "error_result", "seeded_uniform"]
