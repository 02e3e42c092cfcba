"""The one place a TRL `SFTTrainer` is built: `ded sft`, the smoke tests and bench/gpu_sft.py share it.

Kept free of the rest of ded (no params, lake or CLI imports) so the GPU bench can run it on a machine
that has only torch, transformers, trl and datasets.
"""

from __future__ import annotations

import warnings

from ded.training.head import add_ded_head
from ded.training.plan import sft_config

# Collator keys (popped in `compute_loss`, never reach the model): the batch's real (trained-position) token
# count and, for padding-free batches with shape padding, how many padding tokens it got. Plain ints computed
# on the CPU at collation: no device sync.
TOKENS_KEY = "ded_real_tokens"
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
    """Wraps a collator: counts each batch's real tokens, and the padding `pad_to_multiple_of` added, on the CPU.

    TRL counts a padding-free batch's tokens as its flattened length, padding included, and reads the count
    back from the GPU every step; the counts ride in the batch as plain ints instead.
    """

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, examples):
        batch = self.collate(examples)
        if "attention_mask" in batch:  # padded rows: the mask marks the real tokens (still on the CPU here)
            batch[TOKENS_KEY] = int(batch["attention_mask"].sum())
        else:
            real = sum(len(e["input_ids"]) for e in examples)
            batch[TOKENS_KEY] = real
            # Only padding-free batches with shape padding: TRL's own count would include that padding
            if getattr(self.collate, "pad_to_multiple_of", None) and "position_ids" in batch:
                batch[PAD_KEY] = int(batch["input_ids"].numel()) - real
        return batch


def _trainer_class():
    import torch
    from trl import SFTTrainer

    class DedSFTTrainer(SFTTrainer):
        """`SFTTrainer` that counts trained tokens without shape padding and keeps its training step sync-free.

        TRL's `compute_loss` reads three numbers back from the GPU on every micro-batch (entropy, token accuracy,
        token count: `.item()`, and under several processes three collectives), which stalls the CPU until the
        forward pass has finished before it can queue the backward. For the plain NLL loss on the fused LM head
        (what `ded sft` trains) the same loss is computed here, and the same metrics are kept on the device and
        read back once per logging step (`log`). Anything else (a custom loss, label smoothing, DFT, MoE aux
        loss, sequence parallelism, evaluation) goes through TRL's own path.
        """

        def __init__(self, *args, ded_loss_masks=None, **kwargs):
            # Read by `_prepare_dataset`, which SFTTrainer's __init__ calls: set before it
            self._ded_loss_masks = ded_loss_masks
            super().__init__(*args, **kwargs)
            self._ded_pending: list = []  # per micro-batch [valid tokens, entropy sum, top-1 hits], on the device
            self._ded_pending_tokens = 0  # trained tokens not yet added (several processes: summed at log time)

        def _prepare_dataset(self, dataset, processing_class, args, packing, formatting_func, dataset_name):
            """TRL's preparation; with loss masks (sft.objective: t3s), the masked tokens' labels become -100
            between TRL's label building and its truncation and packing, so packing carries them per token."""
            masks = getattr(self, "_ded_loss_masks", None)
            if masks is None or "input_ids" in dataset.column_names:
                return super()._prepare_dataset(dataset, processing_class, args, packing, formatting_func,
                                                dataset_name)
            rows = self._ded_unpacked(dataset, processing_class, args, formatting_func, dataset_name)
            rows = rows.map(_apply_drop, with_indices=True, fn_kwargs={"masks": masks},
                            remove_columns=[c for c in rows.column_names if c not in ("input_ids", "labels")])
            return super()._prepare_dataset(rows, processing_class, args, packing, None, dataset_name)

        def _ded_unpacked(self, dataset, processing_class, args, formatting_func, dataset_name):
            """Every row tokenized with labels as TRL builds them (assistant-only when set), in order: not
            truncated, packed or shuffled (TRL does those afterwards on the returned columns)."""
            import copy

            flat = copy.copy(args)
            flat.max_length, flat.shuffle_dataset = None, False
            return super()._prepare_dataset(dataset, processing_class, flat, False, formatting_func, dataset_name)

        def _ded_fast(self, return_outputs: bool) -> bool:
            pc = getattr(self.accelerator, "parallelism_config", None)
            return (self.model.training and not return_outputs and self.compute_loss_func is None
                    and self.label_smoother is None and self.args.loss_type == "nll" and not self.aux_loss_enabled
                    and not (pc is not None and getattr(pc, "sp_enabled", False)))

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            real = inputs.pop(TOKENS_KEY, None)
            pad = inputs.pop(PAD_KEY, None)
            if real is not None and self._ded_fast(return_outputs):
                return self._ded_loss(model, inputs, real, num_items_in_batch)
            out = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                       num_items_in_batch=num_items_in_batch)
            if pad is not None and self.model.training:
                if self.accelerator.num_processes > 1:  # TRL's count is gathered over ranks: so is the padding
                    pad = int(self.accelerator.gather_for_metrics(
                        torch.tensor(pad, device=self.accelerator.device)).sum().item())
                self._total_train_tokens -= pad // self._tp_size
            return out

        def _ded_loss(self, model, inputs, real: int, num_items_in_batch):
            """TRL's NLL on the fused LM head, with the metrics left on the device."""
            inputs["use_cache"] = False
            if getattr(self, "_ded_head", False):  # ded.training.head: the same loss, gradients from the forward
                outputs = model(**inputs, ded_head=True, num_items_in_batch=num_items_in_batch)
                loss = outputs.loss
            else:
                outputs = model(**inputs, fused_lm_head=True)
                num = outputs.label_mask.sum() if num_items_in_batch is None else num_items_in_batch
                loss = -outputs.log_probs.sum() / torch.as_tensor(num).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * (self.accelerator.num_processes // self.get_tp_size())
            with torch.no_grad():
                self._ded_pending.append(torch.stack([outputs.label_mask.sum().float(),
                                                      outputs.entropy.detach().sum().float(),
                                                      outputs.is_top1.sum().float()]))
            if self.accelerator.num_processes > 1:
                self._ded_pending_tokens += real
            else:
                self._total_train_tokens += real // self._tp_size
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return loss

        def _ded_flush(self) -> None:
            """Turn the pending device sums into TRL's per-micro-batch metrics: one read-back (one gather)."""
            if not self._ded_pending:
                return
            sums = torch.stack(self._ded_pending)  # [micro-batches, 3]
            self._ded_pending = []
            n = sums.shape[0]
            if self.accelerator.num_processes > 1:
                local = torch.tensor([float(self._ded_pending_tokens)], device=sums.device)
                self._ded_pending_tokens = 0
                both = self.accelerator.gather(torch.cat([sums.flatten(), local]))  # ranks' vectors, concatenated
                both = both.view(self.accelerator.num_processes, -1)
                sums = both[:, :-1].reshape(-1, n, 3).sum(0)
                self._total_train_tokens += int(both[:, -1].sum().item()) // self._tp_size
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            valid, entropy, correct = sums.double().cpu().unbind(1)
            ok = valid > 0
            self._metrics["train"]["entropy"].extend(
                torch.where(ok, entropy / valid.clamp(min=1), 0.0).tolist())
            self._metrics["train"]["mean_token_accuracy"].extend(
                torch.where(ok, correct / valid.clamp(min=1), 0.0).tolist())

        def log(self, logs, start_time=None):
            if self.model.training:  # TRL's log reports the "train" metrics in training mode only
                self._ded_flush()
            super().log(logs, start_time)

    return DedSFTTrainer


def _apply_drop(example, idx, masks):
    """Labels of row `idx` with the trained positions its mask drops set to -100 (masks[idx]: None keeps all)."""
    mask = masks[idx]
    labels = list(example["labels"])
    if mask is None:
        return {"labels": labels}
    trained = [i for i, label in enumerate(labels) if label != -100]
    if len(trained) != len(mask):
        raise ValueError(f"loss mask of corpus row {idx} covers {len(mask)} tokens but the row trains {len(trained)}: "
                         f"the mask was computed for another tokenizer, chat template or text; recompute it")
    for i, drop in zip(trained, mask):
        if drop:
            labels[i] = -100
    return {"labels": labels}


def trained_rows(sft, plan, tokenizer, conversations: list) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) of every conversation exactly as `build_trainer`'s SFTTrainer prepares it before
    truncation and packing: TRL's own tokenization and label building, without loading a model (a trainer
    object holding only what TRL's preparation reads; tests/test_t3s.py checks it against a real trainer)."""
    import tempfile

    from datasets import Dataset
    from trl.trainer import sft_trainer as trl_sft


    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated", category=FutureWarning)
        args = sft_config(sft, plan, tmp)
    cls = _trainer_class()
    shim = cls.__new__(cls)
    shim._tokenizer = tokenizer
    shim._ded_loss_masks = None
    shim.completion_only_loss = bool(args.completion_only_loss)  # chat rows: language modelling, no completion mask
    # as SFTTrainer.__init__: a training template with {% generation %} marks when the tokenizer's has none
    if args.assistant_only_loss and not trl_sft.has_generation_markers(tokenizer.chat_template):
        shim.chat_template = trl_sft.get_training_chat_template(tokenizer)
    else:
        shim.chat_template = None
    ds = cls._ded_unpacked(shim, Dataset.from_list([{"messages": m} for m in conversations]), tokenizer, args,
                           None, "train")
    return [(r["input_ids"], r["labels"]) for r in ds]


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


def _is_moe(model) -> bool:
    """Mixture-of-experts models leave experts unused in a step: DDP must look for unused parameters."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    return any(getattr(cfg, k, None) for k in ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"))


def build_trainer(sft, plan, model, tokenizer, conversations: list, output_dir: str, callbacks=(),
                  loss_masks: list | None = None, keep_all_checkpoints: bool = False):
    """An `SFTTrainer` over chat rows with our settings (ded.training.plan.sft_config).

    `loss_masks`: one entry per conversation, None (train every token) or a list of booleans over the row's
    trained tokens (the labels TRL builds, in order): True drops that token from the loss (sft.objective: t3s).
    `keep_all_checkpoints`: keep every checkpoint (the t3s pilot run), not only the last."""
    from datasets import Dataset
    from transformers import PrinterCallback


    with warnings.catch_warnings():
        # transformers 5.2x renames gradient_checkpointing; TRL 1.16's SFTConfig still sets the old name
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated", category=FutureWarning)
        args = sft_config(sft, plan, output_dir)
    if keep_all_checkpoints:
        args.save_total_limit = None
    if loss_masks is not None and len(loss_masks) != len(conversations):
        raise ValueError(f"{len(loss_masks)} loss masks for {len(conversations)} corpus rows")
    if args.ddp_find_unused_parameters is None and not _is_moe(model):
        # Every parameter of a dense causal LM takes part in each step; transformers' default (True without
        # gradient checkpointing) makes DDP walk the autograd graph for unused ones after every backward.
        args.ddp_find_unused_parameters = False
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([{"messages": m} for m in conversations]),
        processing_class=tokenizer,
        callbacks=list(callbacks),
        ded_loss_masks=loss_masks,
    )
    trainer.remove_callback(PrinterCallback)  # the loss goes to the curve and the bar, not as dicts on stdout
    trainer.data_collator = PadCounting(trainer.data_collator)
    if getattr(plan, "lm_head", "trl") == "ded":
        # After SFTTrainer's init, on the model TRL patched; the flag only acts in the sync-free NLL step
        peft = hasattr(trainer.model, "peft_config") and hasattr(trainer.model, "get_base_model")
        add_ded_head(trainer.model.get_base_model() if peft else trainer.model)
        trainer._ded_head = True
    if getattr(plan, "compile", False):
        # After SFTTrainer's init: liger (when on) and TRL's fused LM head are patched in by then, and
        # compilation itself happens lazily at the first forward.
        compile_layers(trainer.model)
    return trainer
