"""Supervised fine-tuning of the student with TRL (`ded sft`, and the smoke tests' short runs).

- `data`: read and check the chat-form corpus (`corpus/train.jsonl`).
- `base`: resolve the base model (hub id, local path, or the demo's tiny model built from a config).
- `plan`: decide the device-dependent settings (bf16, checkpointing, attention, liger) and build `SFTConfig`.
- `head`: a fused LM head + NLL loss whose gradients come from the forward pass (`sft.lm_head: ded`).
- `callbacks`: the loss curve (metrics/sft/loss.csv) and a progress bar.
- `run`: `train(...)`: one resumable SFT run → model, tokenizer and metrics.

Nothing heavy is imported at package import time.
"""
