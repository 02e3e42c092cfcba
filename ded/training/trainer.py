"""The one place a TRL `SFTTrainer` is built: `ded sft`, the smoke tests and bench/gpu_sft.py share it.

Kept free of the rest of ded (no params, lake or CLI imports) so the GPU bench can run it on a machine
that has only torch, transformers, trl and datasets.
"""

from __future__ import annotations

import warnings


def load_model(base: str, plan, config=None):
    """The base model (or a random one from `config`) in the plan's dtype and attention implementation."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if plan.bf16 else torch.float32
    if config is not None:
        return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=plan.attn_implementation)
    return AutoModelForCausalLM.from_pretrained(base, dtype=dtype, attn_implementation=plan.attn_implementation)


def build_trainer(sft, plan, model, tokenizer, conversations: list, output_dir: str, callbacks=()):
    """An `SFTTrainer` over chat rows with our settings (ded.training.plan.sft_config)."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTTrainer

    from ded.training.plan import sft_config

    with warnings.catch_warnings():
        # transformers 5.2x renames gradient_checkpointing; TRL 1.16's SFTConfig still sets the old name
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated", category=FutureWarning)
        args = sft_config(sft, plan, output_dir)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([{"messages": m} for m in conversations]),
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    trainer.remove_callback(PrinterCallback)  # the loss goes to the curve and the bar, not as dicts on stdout
    return trainer
