"""A fused LM head + NLL loss that computes its gradients in the forward pass (no recomputed head GEMM).

TRL's fused head (`trl.kernels.ChunkedLogProbFunction`, what `ded sft` trains with by default) tiles the
[tokens, vocabulary] logits over both tokens and vocabulary, folds each tile into online-logsumexp statistics,
and in the backward pass recomputes every tile to turn it into the logits gradient: four head GEMMs per step
(forward, recompute, two gradient GEMMs). For the plain NLL loss that `ded sft` trains, the gradient of the
loss with respect to the logits is known in the forward pass up to one scalar (the incoming gradient of the
loss): `scale * (softmax - onehot)`. So this head takes blocks of `chunk` tokens against the whole vocabulary,
computes log-probabilities, entropy and top-1 of the block, turns the block into its logits gradient in
place and runs the two gradient GEMMs right away (three GEMMs, no recompute); the backward pass only
multiplies the stored gradients by the incoming scalar. Same numbers as TRL's path up to fp32 summation order
(tests/test_sft_head.py): logits rounded to the compute dtype by the GEMM as TRL's tiles are, statistics in
fp32, weight gradient accumulated in fp32.

Memory: one [chunk, vocabulary] block in fp32 at a time (on a GPU the element-wise part is torch.compile'd into a
few fused passes; `DED_HEAD_COMPILE=0` turns that off), plus the stored hidden-state gradient ([tokens, H]) and
the fp32 weight gradient ([V, H]) between forward and backward, which TRL's backward allocates too.

`add_ded_head(model)` wraps the model's forward (after TRL's `add_fused_lm_head`): `model(..., ded_head=True)`
runs the backbone and this head and returns `loss` (already divided by the token count), detached per-token
`log_probs`, `entropy`, `is_top1` and `label_mask` (TRL's `FusedCausalLMOutput` fields); without the flag the
forward is TRL's.
"""

from __future__ import annotations

import functools
import os
import types

DEFAULT_CHUNK = 2048  # tokens per block: 2,048 x 151,936 x 4 bytes = 1.2 GB per fp32 copy of the block


def _fold(z, targets, scale):
    """One block: z [n, V] logits in the compute dtype, targets [n]; scale a 0-d fp32 tensor (d loss / d -logp).

    Returns log p(target) [n], entropy [n] (nats), is_top1 [n] (target is the first argmax, as TRL's), and the
    logits gradient scale * (softmax - onehot) in z's dtype."""
    import torch

    zf = z.float()
    m = zf.amax(-1, keepdim=True)
    e = torch.exp(zf - m)
    s = e.sum(-1, keepdim=True)
    lse = m + torch.log(s)
    p = e / s
    tgt = zf.gather(-1, targets[:, None])
    logp = (tgt - lse).squeeze(-1)
    entropy = lse.squeeze(-1) - (p * zf).sum(-1)
    top1 = zf.argmax(-1) == targets
    onehot = torch.arange(z.shape[-1], device=z.device)[None, :] == targets[:, None]
    grad = torch.where(onehot, p - 1.0, p) * scale
    return logp, entropy, top1, grad.to(z.dtype)


@functools.cache
def _compiled_fold(device_type: str):
    import torch

    if device_type != "cuda" or os.environ.get("DED_HEAD_COMPILE", "1") == "0":
        return _fold
    compiled = torch.compile(_fold, dynamic=True)
    state = {"failed": False}

    def fold(*a):
        if not state["failed"]:
            try:
                return compiled(*a)
            except Exception as e:  # noqa: BLE001 - inductor/triton errors share no base class
                import logging

                logging.getLogger(__name__).warning("sft: torch.compile of ded's LM-head fold failed (%s: %s); running "
                                                    "it eagerly", type(e).__name__, str(e)[:200])
                state["failed"] = True
        return _fold(*a)

    return fold


def _mm_fp32_acc(acc, a, b) -> None:
    """acc += a @ b with acc fp32 and a, b possibly bf16 (no rounding of the product to bf16 first)."""
    import torch

    if acc.device.type == "cuda" and a.dtype in (torch.bfloat16, torch.float16):
        try:
            torch.addmm(acc, a, b, out_dtype=torch.float32, out=acc)
            return
        except (TypeError, RuntimeError):  # torch < 2.8: no out_dtype
            pass
    acc.addmm_(a.float(), b.float())


def _function():
    import torch

    class FusedNLLHead(torch.autograd.Function):
        """loss = -scale * sum_t log softmax(hidden_t @ weight.T)[target_t], gradients computed in the forward."""

        @staticmethod
        def forward(ctx, hidden, weight, targets, scale, chunk: int):
            device = hidden.device
            compute = torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else hidden.dtype
            n = hidden.shape[0]
            need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
            w = weight.to(compute)
            scale = scale.to(device=device, dtype=torch.float32).reshape(())
            logp = torch.empty(n, device=device, dtype=torch.float32)
            entropy = torch.empty(n, device=device, dtype=torch.float32)
            top1 = torch.empty(n, device=device, dtype=torch.bool)
            grad_h = torch.empty(hidden.shape, device=device, dtype=hidden.dtype) if need_h else None
            grad_w = torch.zeros(weight.shape, device=device, dtype=torch.float32) if need_w else None
            fold = _compiled_fold(device.type)
            for a in range(0, n, chunk):
                b = min(a + chunk, n)
                h = hidden[a:b].to(compute)
                z = torch.mm(h, w.t())  # [chunk, V] in the compute dtype, as TRL's tiles
                lp, ent, t1, g = fold(z, targets[a:b], scale)
                del z
                logp[a:b], entropy[a:b], top1[a:b] = lp, ent, t1
                if need_h:
                    grad_h[a:b] = torch.mm(g, w).to(hidden.dtype)  # fp32 accumulation inside the GEMM
                if need_w:
                    _mm_fp32_acc(grad_w, g.t(), h)
                del g
            ctx.save_for_backward(*(x for x in (grad_h, grad_w) if x is not None))
            ctx.has = (need_h, need_w)
            ctx.weight_dtype = weight.dtype
            ctx.mark_non_differentiable(logp, entropy, top1)
            loss = -(logp.sum() * scale)
            return loss, logp, entropy, top1

        @staticmethod
        def backward(ctx, g_loss, *_):
            saved = list(ctx.saved_tensors)
            need_h, need_w = ctx.has
            gh = saved.pop(0) if need_h else None
            gw = saved.pop(0) if need_w else None
            g = g_loss.reshape(()) if g_loss is not None else None
            if g is None:
                return None, None, None, None, None
            return (gh * g.to(gh.dtype) if gh is not None else None,
                    (gw * g.float()).to(ctx.weight_dtype) if gw is not None else None, None, None, None)

    return FusedNLLHead


@functools.cache
def fused_nll_head():
    """The autograd function (built lazily: nothing heavy at import)."""
    return _function()


def nll_head(hidden, weight, targets, num_tokens, chunk: int = DEFAULT_CHUNK):
    """(loss = -sum log p / num_tokens, log_probs, entropy, is_top1) of hidden [N, H] against weight [V, H]."""
    import torch

    num = torch.as_tensor(num_tokens, device=hidden.device).float().clamp(min=1)
    return fused_nll_head().apply(hidden, weight, targets, 1.0 / num, int(chunk))


def add_ded_head(model, chunk: int = DEFAULT_CHUNK) -> None:
    """Wrap `model.forward` (TRL's fused forward, or the model's own): `ded_head=True` runs this head.

    Only for plain causal LMs whose logits are `lm_head(hidden)`: soft-capped or scaled logits keep TRL's head.
    """
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    for attr in ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier", "lm_head_multiplier"):
        if getattr(cfg, attr, None) not in (None, 1, 1.0):
            raise ValueError(f"sft.lm_head: ded's head computes plain lm_head(hidden) logits; this model sets {attr}: "
                             f"use sft.lm_head: trl")
    inner = model.forward

    @functools.wraps(type(model).forward)
    def forward(self, *args, ded_head: bool = False, **kwargs):
        if not ded_head:
            return inner(*args, **kwargs)
        from transformers.utils import ModelOutput

        labels = kwargs.pop("labels")
        shift_labels = kwargs.pop("shift_labels", None)
        num_items = kwargs.pop("num_items_in_batch", None)
        kwargs["use_cache"] = False
        out = self.base_model(*args, **kwargs)
        if shift_labels is None:
            hidden, labels = out.last_hidden_state[:, :-1], labels[:, 1:]
        else:
            hidden, labels = out.last_hidden_state, shift_labels
        mask = labels != -100
        head = self.get_output_embeddings()
        if getattr(head, "bias", None) is not None:
            raise ValueError("sft.lm_head: ded's head has no bias term; use sft.lm_head: trl")
        num = mask.sum() if num_items is None else num_items
        loss, lp, ent, top1 = nll_head(hidden[mask], head.weight, labels[mask], num, chunk)
        scatter = lambda x: x.new_zeros(mask.shape).masked_scatter(mask, x)
        return ModelOutput(loss=loss, log_probs=scatter(lp), entropy=scatter(ent), is_top1=scatter(top1),
                           label_mask=mask)

    model.forward = types.MethodType(forward, model)
