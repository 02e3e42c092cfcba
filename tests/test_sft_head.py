"""ded.training.head: the no-recompute fused LM head + NLL equals TRL's chunked head and plain full logits
(loss, gradients, entropy, top-1), and `ded sft` trains with it to TRL's numbers (sft.lm_head: ded)."""

from __future__ import annotations

import pytest

from tests.test_sft import ROWS, _params


def _rel(a, b) -> float:
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


@pytest.mark.parametrize("chunk", [7, 64, 4096])
def test_head_equals_trl_chunked_head_and_full_logits(chunk):
    import torch
    from trl.kernels import ChunkedLogProbFunction

    from ded.training.head import nll_head

    torch.manual_seed(0)
    n, h, v = 50, 16, 97
    hidden = torch.randn(n, h, requires_grad=True)
    weight = (torch.randn(v, h) * 0.5).requires_grad_()
    targets = torch.randint(0, v, (n,))
    targets[3] = int((hidden[3] @ weight.T).argmax())  # at least one top-1 hit
    num = torch.tensor(37)  # num_items_in_batch: the loss divides by it, not by n

    loss, lp, ent, top1 = nll_head(hidden, weight, targets, num, chunk=chunk)
    loss.mul(3.0).backward()  # a scale after the head (gradient accumulation, averaging across devices)
    g_ours = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None

    tl, tent, _, _, ttop = ChunkedLogProbFunction.apply(hidden, weight, None, targets, 1.0, 32, None, 1.0,
                                                        ("log_probs", "entropy", "is_top1"))
    (-tl.sum() / num).mul(3.0).backward()
    g_trl = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None

    logits = hidden @ weight.T
    ref = torch.nn.functional.cross_entropy(logits, targets, reduction="sum") / num
    ref.mul(3.0).backward()
    g_ref = hidden.grad, weight.grad

    assert loss.item() == pytest.approx(ref.item(), rel=1e-6) == pytest.approx((-tl.sum() / num).item(), rel=1e-6)
    assert _rel(lp, tl) < 1e-6 and _rel(ent, tent) < 1e-5 and torch.equal(top1, ttop) and bool(top1[3])
    for ours, trl, full in zip(g_ours, g_trl, g_ref):
        assert _rel(ours, full) < 1e-5 and _rel(ours, trl) < 1e-5


def test_head_without_weight_grad_and_empty_batch():
    import torch

    from ded.training.head import nll_head

    hidden = torch.randn(5, 8, requires_grad=True)
    weight = torch.randn(11, 8)  # frozen head (e.g. PEFT): no weight gradient kept
    loss, *_ = nll_head(hidden, weight, torch.tensor([1, 2, 3, 4, 5]), 5)
    loss.backward()
    assert hidden.grad is not None and hidden.grad.abs().sum() > 0
    empty = torch.zeros(0, 8, requires_grad=True)
    loss, lp, _, _ = nll_head(empty, torch.randn(11, 8, requires_grad=True), torch.zeros(0, dtype=torch.long), 0)
    loss.backward()
    assert loss.item() == 0.0 and lp.numel() == 0


def test_sft_with_ded_head_matches_trl_path(tmp_path, tiny_model_dir):
    """Three optimizer steps with ded's head (sft.lm_head: ded) and with TRL's own compute_loss: the same losses,
    entropies, accuracies and token counts (so the same gradients: the later losses follow from them)."""
    import torch
    from transformers import AutoTokenizer, TrainerCallback

    from ded.training.plan import make_plan
    from ded.training.trainer import build_trainer, load_model

    runs = {}
    for head in ("ded", "trl"):
        p = _params(tmp_path, tiny_model_dir, max_steps=3, per_device_batch_size=2, gradient_accumulation_steps=2,
                    packing=True, logging_steps=1, lm_head=head)
        plan = make_plan(p.sft, cuda=False)
        assert plan.lm_head == head
        tok = AutoTokenizer.from_pretrained(tiny_model_dir)
        torch.manual_seed(0)
        trainer = build_trainer(p.sft, plan, load_model(str(tiny_model_dir), plan), tok, [r["messages"] for r in ROWS],
                                str(tmp_path / f"c{head}"))
        if head == "trl":  # TRL's own compute_loss, not the sync-free step
            type(trainer)._ded_fast = lambda self, r: False
        logged = []

        class Keep(TrainerCallback):
            def on_log(self, args, state, control, logs=None, _keep=logged, **kw):
                _keep.append(dict(logs))

        trainer.add_callback(Keep())
        out = trainer.train()
        runs[head] = (out.training_loss, [g for g in logged if "loss" in g], getattr(trainer, "_ded_head", False))
    (loss_d, logs_d, used), (loss_t, logs_t, _) = runs["ded"], runs["trl"]
    assert used and len(logs_d) == len(logs_t) == 3
    assert loss_d == pytest.approx(loss_t, rel=1e-5)
    for a, b in zip(logs_d, logs_t):
        for key in ("loss", "entropy", "mean_token_accuracy", "num_tokens", "grad_norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-4), key


def test_lm_head_setting_is_checked():
    from ded.errors import DedError
    from ded.params import parse_params
    from ded.training.plan import _lm_head, make_plan

    assert make_plan(parse_params({}).sft, cuda=True, bf16_supported=True, liger_importable=False,
                     distributed=False).lm_head == "trl"  # auto: TRL's until measured on a GPU
    with pytest.raises(DedError, match="sft.lm_head must be"):
        _lm_head("fast")


def test_auto_checkpointing_follows_the_memory_estimate():
    """With the model's config and the device's memory, auto checkpointing is on only where the estimate does
    not fit: a 1.5B shape at 2 x 16,384 tokens fits an H200 (139 GiB) but not an 80 GB H100; the 0.5B shape's
    8 x 4096 estimate is close to the 36 GiB measured on the H100 (docs/performance.md)."""
    from transformers import Qwen2Config

    from ded.params import parse_params
    from ded.training.plan import make_plan, training_memory_gib

    q15 = Qwen2Config(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                      num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True)
    q05 = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                      num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True)
    assert 1.5e9 < training_memory_gib(q15, 1)["params"] < 1.6e9
    assert 33 < training_memory_gib(q05, 8 * 4096)["total"] < 42
    sft = parse_params({"sft": {"max_length": 16384, "per_device_batch_size": 2}}).sft
    hw = {"cuda": True, "bf16_supported": True, "liger_importable": False, "distributed": False}
    h200 = make_plan(sft, **hw, model_config=q15, device_gib=139.8)
    h100 = make_plan(sft, **hw, model_config=q15, device_gib=79.2)
    assert not h200.gradient_checkpointing and h100.gradient_checkpointing
    assert h200.memory_estimate_gib == h100.memory_estimate_gib > 60
    # no config: the token threshold (2 x 16,384 = 32k <= 65,536: off); an explicit setting always wins
    assert not make_plan(sft, **hw).gradient_checkpointing and make_plan(sft, **hw).memory_estimate_gib is None
    off = parse_params({"sft": {"max_length": 16384, "per_device_batch_size": 2, "gradient_checkpointing": False}}).sft
    assert not make_plan(off, **hw, model_config=q15, device_gib=40).gradient_checkpointing
    assert not make_plan(sft, cuda=False, model_config=q15, device_gib=1).gradient_checkpointing  # CPU: never


def test_compiled_fold_falls_back_to_eager(monkeypatch):
    """A GPU whose inductor/Triton cannot compile the fold still trains (eagerly, with a warning)."""
    import torch

    from ded.training import head

    def broken(*a):
        raise RuntimeError("triton: no compiler")

    monkeypatch.setattr(torch, "compile", lambda fn, **kw: broken)
    head._compiled_fold.cache_clear()
    try:
        fold = head._compiled_fold("cuda")
        z, t, s = torch.randn(3, 11), torch.tensor([1, 2, 3]), torch.tensor(0.5)
        assert all(torch.equal(a, b) for a, b in zip(fold(z, t, s), head._fold(z, t, s)))
    finally:
        head._compiled_fold.cache_clear()
