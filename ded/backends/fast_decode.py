"""A lean batched decoder for Qwen2/Qwen3/Llama/Mistral-family models (the transformers backend's
"fast" engine), running the Hugging Face model's own weights in plain PyTorch.

Why: `model.generate` spends most of a decode step in Python and host-device syncs, not in the
GPU: on an H100 a Qwen2.5-0.5B-shaped model made ~1,000 tokens/s at 64 prompts and ~3,200 at 256
(../shared/GPU.md), i.e. 60-80 ms per step for work the GPU does in a few. This decoder
- preallocates one KV cache for the whole batch (prompt slots left-padded, then one slot per new
  token), so no step concatenates or reallocates;
- issues a fixed, short list of kernels per layer (three projections, rotary, two cache writes,
  two batched matmuls for attention with grouped KV heads, the MLP), with no host sync inside a
  step; finished rows are checked only every `sync_every` steps;
- samples on the device with the seeded sampler (`ded.backends.sampling.draw`), so the samples
  are those of the generate engine for the same seeds, up to kernel float differences.
It is checked against the model's own forward in tests (same logits, same greedy tokens).
Unsupported architectures (sliding-window attention, anything not listed) use `model.generate`.
"""

from __future__ import annotations

from typing import Any

SUPPORTED = ("qwen2", "qwen3", "llama", "mistral")


def unsupported_reason(model: Any) -> str | None:
    cfg = model.config
    if cfg.model_type not in SUPPORTED:
        return f"model_type {cfg.model_type!r} (fast engine supports {', '.join(SUPPORTED)})"
    # Qwen2/Qwen3 carry a sliding_window that only `use_sliding_window` turns on; Mistral's applies
    # whenever it is set
    sliding = getattr(cfg, "sliding_window", None) is not None and getattr(cfg, "use_sliding_window", True)
    if sliding or any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or []):
        return "sliding-window attention"
    if getattr(cfg, "quantization_config", None):
        return "quantized weights"
    attn = model.model.layers[0].self_attn
    if not all(hasattr(attn, n) for n in ("q_proj", "k_proj", "v_proj", "o_proj")):
        return "an attention module without q/k/v/o projections"
    return None


def _rms(x, norm):
    import torch

    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
    return norm.weight * x.to(dtype)


def _rotate(x, cos, sin):
    import torch

    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class FastDecoder:
    def __init__(self, model: Any, sync_every: int = 32, prefill_tokens: int = 32768):
        from transformers.activations import ACT2FN

        reason = unsupported_reason(model)
        if reason:
            raise ValueError(f"fast engine cannot run this model: {reason}; use options.engine: generate")
        self.model, self.cfg = model, model.config
        self.layers = list(model.model.layers)
        self.heads = self.cfg.num_attention_heads
        self.kv_heads = getattr(self.cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(self.cfg, "head_dim", None) or self.cfg.hidden_size // self.heads
        self.scaling = self.head_dim ** -0.5
        self.act = ACT2FN[self.cfg.hidden_act]
        self.sync_every, self.prefill_tokens = sync_every, prefill_tokens
        p = next(model.parameters())
        self.device, self.dtype = p.device, p.dtype

    # -- model pieces ---------------------------------------------------------------------------
    def _qkv(self, layer, x, cos, sin):
        a = layer.self_attn
        b, t = x.shape[:2]
        q = a.q_proj(x).view(b, t, self.heads, self.head_dim)
        k = a.k_proj(x).view(b, t, self.kv_heads, self.head_dim)
        v = a.v_proj(x).view(b, t, self.kv_heads, self.head_dim)
        if hasattr(a, "q_norm"):  # Qwen3 normalises each head before rotary
            q, k = _rms(q, a.q_norm), _rms(k, a.k_norm)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        cos, sin = cos[:, None], sin[:, None]
        return _rotate(q, cos, sin), _rotate(k, cos, sin), v

    def _mlp(self, layer, h):
        m, x = layer.mlp, _rms(h, layer.post_attention_layernorm)
        return h + m.down_proj(self.act(m.gate_proj(x)) * m.up_proj(x))

    def _logits(self, h):
        return self.model.lm_head(_rms(h, self.model.model.norm)).float()

    # -- generation -----------------------------------------------------------------------------
    def generate(self, prompts: list[list[int]], max_new: int, sampler, eos_ids: list[int], pad_id: int) -> list[list[int]]:
        """New tokens per prompt (up to and including the first eos). `sampler(logits, step) -> (B,)`."""
        import torch

        dev, B = self.device, len(prompts)
        lens = torch.tensor([len(x) for x in prompts], device=dev)
        P = int(max(len(x) for x in prompts))
        S = P + max_new
        ids = torch.full((B, P), pad_id, dtype=torch.long)
        for b, x in enumerate(prompts):
            ids[b, P - len(x):] = torch.tensor(x, dtype=torch.long)
        ids = ids.to(dev)
        slots = torch.arange(S, device=dev)
        valid = slots[None, :] >= (P - lens)[:, None]  # (B, S): a row's prompt, then every new slot
        pos_all = torch.arange(S, device=dev, dtype=torch.long)[None]
        cos_t, sin_t = self.model.model.rotary_emb(torch.empty(1, dtype=self.dtype, device=dev), pos_all)
        cos_t, sin_t = cos_t[0], sin_t[0]  # (S, D): position -> rotary, as the model computes it
        kc = [torch.empty((B, self.kv_heads, S, self.head_dim), dtype=self.dtype, device=dev) for _ in self.layers]
        vc = [torch.empty_like(k) for k in kc]
        eos = torch.tensor(eos_ids, device=dev)
        out = torch.full((B, max_new), pad_id, dtype=torch.long, device=dev)
        with torch.inference_mode():
            logits = self._prefill(ids, lens, P, valid, cos_t, sin_t, kc, vc)
            tok = sampler(logits, 0)
            out[:, 0] = tok
            finished = torch.isin(tok, eos)
            G = self.heads // self.kv_heads
            for t in range(1, max_new):
                slot = P + t - 1  # where the token fed now goes
                L = slot + 1
                pos = lens + (t - 1)
                cos, sin = cos_t[pos][:, None], sin_t[pos][:, None]  # (B, 1, D)
                h = self.model.model.embed_tokens(tok)[:, None]
                mask = valid[:, None, None, :L]
                for li, layer in enumerate(self.layers):
                    q, k, v = self._qkv(layer, _rms(h, layer.input_layernorm), cos, sin)
                    kc[li][:, :, slot] = k[:, :, 0]
                    vc[li][:, :, slot] = v[:, :, 0]
                    qg = q.reshape(B, self.kv_heads, G, self.head_dim)  # head h uses kv head h // G
                    s = torch.matmul(qg, kc[li][:, :, :L].transpose(-1, -2)) * self.scaling
                    w = torch.softmax(s.float().masked_fill(~mask, float("-inf")), dim=-1).to(self.dtype)
                    a = torch.matmul(w, vc[li][:, :, :L]).reshape(B, 1, self.heads * self.head_dim)
                    h = self._mlp(layer, h + layer.self_attn.o_proj(a))
                tok = sampler(self._logits(h[:, 0]), t)
                tok = torch.where(finished, torch.full_like(tok, pad_id), tok)
                out[:, t] = tok
                finished |= torch.isin(tok, eos)
                if t % self.sync_every == 0 and bool(finished.all()):
                    break
        return _trim(out.tolist(), set(eos_ids))

    def _prefill(self, ids, lens, P, valid, cos_t, sin_t, kc, vc):
        """Run the prompts in row chunks (bounded memory), fill the cache, return last-token logits."""
        import torch
        import torch.nn.functional as F

        B = ids.shape[0]
        rows = max(1, min(B, self.prefill_tokens // max(P, 1)))
        causal = torch.ones((P, P), dtype=torch.bool, device=ids.device).tril()
        eye = torch.eye(P, dtype=torch.bool, device=ids.device)
        G = self.heads // self.kv_heads
        logits = []
        for r0 in range(0, B, rows):
            r1 = min(B, r0 + rows)
            pad = (P - lens[r0:r1])[:, None]
            pos = (torch.arange(P, device=ids.device)[None] - pad).clamp_(min=0)
            cos, sin = cos_t[pos], sin_t[pos]
            # padding queries attend to themselves only: finite junk, never NaN in the cache
            mask = ((causal[None] & valid[r0:r1, None, :P]) | eye[None])[:, None]
            h = self.model.model.embed_tokens(ids[r0:r1])
            for li, layer in enumerate(self.layers):
                q, k, v = self._qkv(layer, _rms(h, layer.input_layernorm), cos, sin)
                kc[li][r0:r1, :, :P] = k
                vc[li][r0:r1, :, :P] = v
                if G > 1:
                    k, v = k.repeat_interleave(G, dim=1), v.repeat_interleave(G, dim=1)
                a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling)
                a = a.transpose(1, 2).reshape(r1 - r0, P, self.heads * self.head_dim)
                h = self._mlp(layer, h + layer.self_attn.o_proj(a))
            logits.append(self._logits(h[:, -1]))
        return torch.cat(logits)


def _trim(rows: list[list[int]], eos: set[int]) -> list[list[int]]:
    out = []
    for r in rows:
        stop = next((j for j, t in enumerate(r) if t in eos), None)
        out.append(r if stop is None else r[:stop + 1])
    return out
