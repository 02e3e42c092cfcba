"""Device-dependent SFT settings, decided once and recorded in metrics/sft/train.json.

Why these choices (measured on an H100 with a Qwen2.5-0.5B-shaped model, ../shared/GPU.md and
docs/performance.md):
- TRL's defaults turn gradient checkpointing on (about a third more compute per step) and pad every
  row of a batch to its longest one; packing with SDPA builds a dense block-diagonal mask per batch
  (quadratic in the packed length: out of memory at 8 x 4096).
- Packed, padding-free batches (best-fit decreasing) with `flex_attention` keep documents apart
  through a block-sparse mask, so no pad tokens and no quadratic mask.
- TRL's chunked LM head already avoids the full-vocabulary logits; liger's RMSNorm/SwiGLU/RoPE kernels
  cut activation memory and time further when importable.
- Checkpointing only when the micro-batch is larger than what fits without it: with the model's config and the
  device's memory known, when `training_memory_gib` (weights, gradients, AdamW states, the activations a
  decoder layer keeps per token, the LM head's buffers) exceeds MEMORY_HEADROOM of the device; otherwise above
  `sft.checkpointing_above_tokens` per micro-batch. The estimate matches the H100 run of 2026-11-26 (0.5B shape,
  8 x 4096 packed, no checkpointing: estimated 38.6 GiB, measured 36.1).
- On one GPU, each decoder layer is compiled (regional torch.compile, dynamic shapes). The plan
  without it measured ~23% MFU; between the GEMMs each layer runs a dozen eager memory-bound ops
  (bias and residual adds, RoPE, transposes, norms, casts) that compiling fuses into a few kernels.
  Compiled layers fuse norms, SwiGLU and RoPE themselves, so liger's kernels are left off then. Batches are padded to a multiple of 512 tokens so the compiled
  graphs meet at most max_length x batch / 512 shapes (the padding is not counted as trained tokens).
- Fused AdamW (one kernel over all parameters) and TF32 on GPU.
- `sft.lm_head: ded` swaps TRL's chunked head (which recomputes each logits tile in the backward pass) for
  ded.training.head (gradients computed in the forward pass: three head GEMMs instead of four, same numbers);
  auto keeps TRL's until a GPU run measures ours faster (bench/gpu_sft.py ours_fast_head).
On CPU everything falls back to fp32, SDPA, no kernels and no compilation: the same code path, slower.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass

from ded.cpu_threads import threads_for
from ded.errors import DedError

# Share of the device's memory an uncheckpointed run may be estimated to use (the rest: allocator fragmentation,
# the CUDA context, compiled-graph workspaces, the estimate's error).
MEMORY_HEADROOM = 0.85

# Padding multiple when compiling: 8 x 4096 tokens then meet at most 64 shapes (one recompile each at
# worst), and the padding costs 256 tokens per batch on average (0.8% of 32k).
COMPILE_PAD_MULTIPLE = 512


@dataclass(frozen=True)
class Plan:
    cuda: bool
    bf16: bool
    gradient_checkpointing: bool
    attn_implementation: str
    liger: bool
    padding_free: bool
    compile: bool = False
    pad_to_multiple_of: int | None = None
    optim: str | None = None  # None: transformers' default (adamw_torch_fused on torch >= 2.8)
    tf32: bool = False
    master_weights: str = "bf16"  # the dtype weights and optimizer states are kept in when bf16 is on
    lm_head: str = "trl"  # "trl": TRL's chunked head (recomputes in backward); "ded": ded.training.head (no recompute)
    memory_estimate_gib: float | None = None  # training_memory_gib without checkpointing, when the config was known
    cpu_threads: int | None = None  # torch threads on CPU (ded.cpu_threads: 1 for a tiny model); None: torch's default

    def as_dict(self) -> dict:
        return asdict(self)


def _auto(value, default: bool) -> bool:
    return default if value == "auto" else bool(value)


def training_memory_gib(config, tokens: int, master_weights: str = "bf16") -> dict:
    """Estimated GPU memory of one training micro-batch of `tokens` tokens without activation checkpointing.

    Per decoder layer and token, the tensors autograd keeps (bf16): the norm inputs and outputs and the residual
    stream (6 x hidden), q/k/v after RoPE and the attention output (counted in the 6 x hidden and 3 x the KV
    width), SwiGLU's gate, up and activation (3 x intermediate). Weights and gradients in the weights' dtype, AdamW's
    two states in it too (fp32 master weights: 4 bytes each and bf16 gradients), the LM head's fp32 weight
    gradient and one [4,096 x vocabulary] fp32 logits block."""
    cfg = config.get_text_config() if hasattr(config, "get_text_config") else config
    h, layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or h // heads
    kv = (getattr(cfg, "num_key_value_heads", None) or heads) * head_dim
    vocab = cfg.vocab_size
    params = (layers * (h * heads * head_dim * 2 + 2 * h * kv + 3 * h * inter + 2 * h) + vocab * h
              * (1 if getattr(cfg, "tie_word_embeddings", False) else 2))
    per_weight = {"bf16": 2 + 2 + 2 * 2, "fp32": 4 + 2 + 2 * 4}.get(master_weights, 8)
    gib = 2 ** 30
    states = params * per_weight / gib
    activations = tokens * layers * (6 * h + 3 * kv + 3 * inter) * 2 / gib
    head = (vocab * h * 4 + 4096 * vocab * 4 * 2) / gib
    return {"params": params, "states": round(states, 2), "activations": round(activations, 2),
            "head": round(head, 2), "total": round(states + activations + head, 2)}


def _device_gib() -> float | None:
    try:
        import torch

        return torch.cuda.get_device_properties(0).total_memory / 2**30 if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - no device, no estimate
        return None


def make_plan(sft, cuda: bool | None = None, bf16_supported: bool | None = None,
              liger_importable: bool | None = None, distributed: bool | None = None,
              model_config=None, device_gib: float | None = None, flash_importable: bool | None = None) -> Plan:
    """Resolve every "auto" of `SftParams` for this machine (or for the hardware given, in tests).

    `model_config` (the base model's config) and `device_gib` (the GPU's memory; read from the device when
    omitted on one) let auto checkpointing follow the memory estimate instead of the token threshold."""
    if distributed is None:  # accelerate launch / torchrun set WORLD_SIZE in every process
        distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if cuda is None or bf16_supported is None:
        import torch

        cuda = torch.cuda.is_available() if cuda is None else cuda
        if bf16_supported is None:
            bf16_supported = cuda and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if liger_importable is None:
        liger_importable = importlib.util.find_spec("liger_kernel") is not None
    tokens_per_micro_batch = sft.max_length * sft.per_device_batch_size
    attn = sft.attn_implementation
    if attn == "auto":
        # Packed rows on a GPU: flash-attention-2's varlen kernels when the flash_attn package is installed
        # (documents from the position ids, nothing masked is computed), else flex_attention, which compiles a
        # block-sparse document mask; on CPU, SDPA with the block-diagonal mask transformers derives from
        # position_ids is correct and cheap at demo sizes.
        if flash_importable is None:
            flash_importable = importlib.util.find_spec("flash_attn") is not None
        attn = ("flash_attention_2" if flash_importable else "flex_attention") if cuda and sft.packing else "sdpa"
    compile_layers = _auto(sft.compile, cuda and not distributed)
    pad = sft.pad_to_multiple_of
    if pad == "auto":
        pad = COMPILE_PAD_MULTIPLE if compile_layers else None
    elif pad is not None and (isinstance(pad, bool) or int(pad) < 1):
        raise DedError(f"sft.pad_to_multiple_of must be a positive integer, auto or null, got {pad!r}")
    need_ckpt = tokens_per_micro_batch > sft.checkpointing_above_tokens
    estimate = None
    if cuda and model_config is not None:
        estimate = training_memory_gib(model_config, tokens_per_micro_batch,
                                       getattr(sft, "master_weights", "bf16"))["total"]
        if device_gib is None:
            device_gib = _device_gib()
        if device_gib:
            need_ckpt = estimate > MEMORY_HEADROOM * device_gib
    return Plan(
        cuda=cuda,
        bf16=_auto(sft.bf16, cuda and bf16_supported),
        gradient_checkpointing=_auto(sft.gradient_checkpointing, cuda and need_ckpt),
        attn_implementation=attn,
        # Compiled layers generate their own fused norm/SwiGLU/RoPE kernels; tracing liger's Triton
        # autograd functions inside them would only add graph breaks.
        liger=_auto(sft.liger, cuda and liger_importable and not compile_layers),
        padding_free=sft.packing,
        compile=compile_layers,
        pad_to_multiple_of=pad,
        optim=("adamw_torch_fused" if cuda else "adamw_torch") if sft.optim == "auto" else sft.optim,
        tf32=_auto(sft.tf32, cuda),
        master_weights=getattr(sft, "master_weights", "bf16"),
        lm_head=_lm_head(getattr(sft, "lm_head", "auto")),
        memory_estimate_gib=estimate,
        cpu_threads=None if cuda else threads_for(model_config),
    )


def _lm_head(value: str) -> str:
    # auto = TRL's head until ded's no-recompute head is measured faster on a GPU (bench/gpu_sft.py ours_fast_head)
    if value not in ("auto", "trl", "ded"):
        raise DedError(f"sft.lm_head must be auto, trl or ded, got {value!r}")
    return "trl" if value == "auto" else value


def sft_config(sft, plan: Plan, output_dir: str):
    """The TRL `SFTConfig` for a run; `output_dir` holds its checkpoints."""
    import dataclasses

    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    extra = {}
    if not sft.packing:  # padded batches: put rows of similar length together to waste less on padding
        if "train_sampling_strategy" in fields:  # transformers >= 5.2x
            extra["train_sampling_strategy"] = "group_by_length"
        elif "group_by_length" in fields:
            extra["group_by_length"] = True
    return SFTConfig(
        **extra,
        output_dir=output_dir,
        num_train_epochs=sft.epochs,
        max_steps=sft.max_steps,
        per_device_train_batch_size=sft.per_device_batch_size,
        gradient_accumulation_steps=sft.gradient_accumulation_steps,
        learning_rate=sft.learning_rate,
        lr_scheduler_type=sft.lr_scheduler,
        warmup_steps=sft.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        weight_decay=sft.weight_decay,
        max_length=sft.max_length,
        packing=sft.packing,
        packing_strategy="bfd",  # best-fit decreasing: whole rows, padding-free, no row split across sequences
        padding_free=plan.padding_free,
        assistant_only_loss=sft.assistant_only_loss,
        bf16=plan.bf16,
        gradient_checkpointing=plan.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if plan.gradient_checkpointing else None,
        use_liger_kernel=plan.liger,
        use_cpu=not plan.cuda,
        pad_to_multiple_of=plan.pad_to_multiple_of,  # None: no padding (TRL's "auto" pads only on Neuron)
        **({"optim": plan.optim} if plan.optim else {}),
        tf32=True if plan.tf32 else None,  # False would still touch the CUDA backend flags; None leaves them
        dataloader_pin_memory=plan.cuda,
        seed=sft.seed,
        data_seed=sft.seed,
        logging_steps=sft.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=sft.save_steps,
        save_total_limit=1,
        report_to="none",
        disable_tqdm=True,  # ded.progress shows one bar with rate and ETA instead
        dataloader_num_workers=0,
    )
