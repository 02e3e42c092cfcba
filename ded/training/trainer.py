"""The one place a TRL `SFTTrainer` is built: `ded sft`, the smoke tests and bench/gpu_sft.py share it.

Kept free of the rest of ded (no params, lake or CLI imports) so the GPU bench can run it on a machine
that has only torch, transformers, trl and datasets.
"""

from __future__ import annotations

import warnings

# Collator key carrying a batch's padding-token count to `compute_loss` (popped there, never reaches the model).
PAD_KEY = "ded_pad_tokens"
# Each distinct padded length is at most one recompile of the layer graph: room for max_length x batch /
# pad_to_multiple_of of them (64 at 8 x 4096 / 512) above torch's default of 8.
RECOMPILE_LIMIT = 64


def load_model(base: str, plan, config=None):
    """The base model (or a random one from `config`) in the plan's dtype and attention implementation."""
    import torch
    from transformers import AutoModelForCausalLM

    # bf16 weights unless fp32 master weights were asked for (then the Trainer's bf16 autocast computes in bf16)
    dtype = torch.bfloat16 if plan.bf16 and getattr(plan, "master_weights", "bf16") == "bf16" else torch.float32
    if config is not None:
        return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=plan.attn_implementation)
    return AutoModelForCausalLM.from_pretrained(base, dtype=dtype, attn_implementation=plan.attn_implementation)


class PadCounting:
    """Wraps a collator: records how many padding tokens a padding-free batch got from `pad_to_multiple_of`.

    TRL counts a padding-free batch's tokens as its flattened length, padding included; the count rides
    in the batch (a plain int, computed on the CPU: no device sync) and `compute_loss` subtracts it.
    """

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, examples):
        batch = self.collate(examples)
        # Only padding-free batches with shape padding: padded batches count their attention mask instead
        if getattr(self.collate, "pad_to_multiple_of", None) and "attention_mask" not in batch and "position_ids" in batch:
            real = sum(len(e["input_ids"]) for e in examples)
            batch[PAD_KEY] = int(batch["input_ids"].numel()) - real
        return batch


def _trainer_class():
    from trl import SFTTrainer

    class DedSFTTrainer(SFTTrainer):
        """`SFTTrainer` whose trained-token count (`_total_train_tokens`) excludes the shape padding."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            pad = inputs.pop(PAD_KEY, None)
            out = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                       num_items_in_batch=num_items_in_batch)
            if pad is not None and self.model.training:
                if self.accelerator.num_processes > 1:  # TRL's count is gathered over ranks: so is the padding
                    import torch

                    pad = int(self.accelerator.gather_for_metrics(
                        torch.tensor(pad, device=self.accelerator.device)).sum().item())
                self._total_train_tokens -= pad // self._tp_size
            return out

    return DedSFTTrainer


def compile_layers(model) -> int:
    """`torch.compile` every decoder layer in place (regional compilation); returns how many.

    In place (`Module.compile`), so parameter names, checkpoints and `save_pretrained` are unchanged.
    The layers share one code object, so the first compiles and the other 23 reuse its graph. Dynamic
    shapes: packed batches change length every step.
    """
    import torch

    names = set(getattr(model, "_no_split_modules", None) or [])
    layers = [m for m in model.modules() if type(m).__name__ in names]
    if not layers:
        raise ValueError(f"{type(model).__name__} declares no repeated decoder layer (_no_split_modules = {names}): "
                         f"set sft.compile: false")
    cfg = torch._dynamo.config
    limit = "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit"  # renamed in torch 2.6
    setattr(cfg, limit, max(getattr(cfg, limit), RECOMPILE_LIMIT))
    for layer in layers:
        layer.compile(dynamic=True)
    return len(layers)


def build_trainer(sft, plan, model, tokenizer, conversations: list, output_dir: str, callbacks=()):
    """An `SFTTrainer` over chat rows with our settings (ded.training.plan.sft_config)."""
    from datasets import Dataset
    from transformers import PrinterCallback

    from ded.training.plan import sft_config

    with warnings.catch_warnings():
        # transformers 5.2x renames gradient_checkpointing; TRL 1.16's SFTConfig still sets the old name
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated", category=FutureWarning)
        args = sft_config(sft, plan, output_dir)
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([{"messages": m} for m in conversations]),
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    trainer.remove_callback(PrinterCallback)  # the loss goes to the curve and the bar, not as dicts on stdout
    trainer.data_collator = PadCounting(trainer.data_collator)
    if getattr(plan, "compile", False):
        # After SFTTrainer's init: liger (when on) and TRL's fused LM head are patched in by then, and
        # compilation itself happens lazily at the first forward.
        compile_layers(trainer.model)
    return trainer
