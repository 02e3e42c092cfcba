"""One SFT run: corpus → TRL `SFTTrainer` → saved model, tokenizer, loss curve and metrics; resumable.

Checkpoints live in `<checkpoint_dir>/<run key>/`, where the key hashes the base model, the corpus
bytes and every training setting: a rerun of the same run resumes from its last checkpoint, and a
changed corpus or setting can never resume a stale one. They sit outside `output_dir` because DVC
deletes a stage's outputs before running it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ded.cpu_threads import cpu_threads
from ded.ids import stable_hash
from ded.training.callbacks import EvenCheckpoints, LossCurve, ProgressBar, read_curve
from ded.training.data import file_sha256, load_corpus
from ded.training.plan import make_plan
from ded.training.t3s import run
from ded.training.trainer import build_trainer, load_model

# Settings that change where results go or how often they are logged, not what is trained.
_NOT_IN_KEY = {"output_dir", "checkpoint_dir", "metrics_dir", "keep_checkpoints", "logging_steps", "save_steps",
               "accelerate_config", "tiny_base_text", "model", "corpus"}


def run_key(base: str, corpus_sha256: str, sft, masks_sha256: str | None = None) -> str:
    """Hash of what a run trains: base, corpus bytes, settings, and the loss masks when there are any (a plain
    run's key leaves the objective's settings out, so it is the key it had before objectives existed)."""
    settings = {k: v for k, v in sft.model_dump(mode="json").items() if k not in _NOT_IN_KEY}
    if settings.get("objective", "plain") == "plain":
        settings.pop("objective", None)
        settings.pop("t3s", None)
    doc = {"base": base, "corpus": corpus_sha256, "settings": settings}
    if masks_sha256 is not None:
        doc["loss_masks"] = masks_sha256
    return stable_hash(doc)[:16]


def masks_sha256(masks: list | None) -> str | None:
    if masks is None:
        return None
    return stable_hash([None if m is None else "".join("1" if x else "0" for x in m) for m in masks])


def _count_overlong(tokenizer, conversations, max_length: int) -> int:
    """Rows whose chat rendering exceeds max_length tokens (they are truncated: select should drop them)."""
    n = 0
    for msgs in conversations:
        ids = tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=False)
        n += len(ids) > max_length
    return n


def _model_config(base: str):
    """The base model's config (for the memory estimate of auto checkpointing); None when it cannot be read."""
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(base)
    except Exception:  # noqa: BLE001 - the token threshold decides then
        return None


def train(sft, base: str, output_dir: str | None = None, metrics_dir: str | None = None,
          checkpoint_dir: str | None = None, desc: str = "sft", loss_masks: list | None = None,
          checkpoints: int | None = None, callbacks=()) -> dict:
    """Fine-tune `base` on `sft.corpus`; save to `output_dir`; return (and write) the run's metrics.

    `loss_masks`: per corpus row, None or booleans over its trained tokens (True: left out of the loss; see
    `build_trainer`). `checkpoints`: keep that many evenly spaced checkpoints (the last at the final step)
    instead of one every `save_steps` (the t3s pilot run reads them)."""
    import torch
    from transformers import AutoTokenizer
    from transformers.trainer_utils import get_last_checkpoint

    output_dir = Path(output_dir or sft.output_dir)
    metrics_dir = Path(metrics_dir or sft.metrics_dir)
    conversations = load_corpus(sft.corpus)
    corpus_sha = file_sha256(sft.corpus)
    plan = make_plan(sft, model_config=_model_config(base))
    key = run_key(base, corpus_sha, sft, masks_sha256(loss_masks))
    ckpt_dir = Path(checkpoint_dir or sft.checkpoint_dir) / key
    last = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = load_model(base, plan)
    curve = LossCurve(ckpt_dir / "loss.csv", read_curve(ckpt_dir / "loss.csv") if last else None)
    extra = [EvenCheckpoints(checkpoints)] if checkpoints else []
    trainer = build_trainer(sft, plan, model, tokenizer, conversations, str(ckpt_dir),
                            [curve, ProgressBar(desc), *extra, *callbacks], loss_masks=loss_masks,
                            keep_all_checkpoints=bool(checkpoints))
    start = time.perf_counter()
    with cpu_threads(plan.cpu_threads):
        result = trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - start
    trainer.save_model(str(output_dir))  # on every rank: FSDP/ZeRO-3 gather the weights collectively
    if not trainer.is_world_process_zero():
        return {}
    tokenizer.save_pretrained(str(output_dir))
    tokens = int(trainer._total_train_tokens)  # real tokens (no padding), counted by TRL across processes
    losses = [float(r["loss"]) for r in curve.rows if r.get("loss") not in (None, "")]
    metrics = {
        "base_model": base, "corpus": str(sft.corpus), "corpus_sha256": corpus_sha, "rows": len(conversations),
        "rows_truncated": _count_overlong(tokenizer, conversations, sft.max_length),
        "run_key": key, "resumed_from": last, "steps": int(trainer.state.global_step),
        "epochs": float(trainer.state.epoch or 0.0), "train_loss": float(result.training_loss),
        "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
        "tokens": tokens, "seconds": round(seconds, 3),
        "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if plan.cuda else None,
        "plan": plan.as_dict(),
    }
    if loss_masks is not None:
        kept = [m for m in loss_masks if m is not None]
        metrics["loss_masks"] = {"sha256": masks_sha256(loss_masks), "masked_rows": len(kept),
                                 "dropped_tokens": int(sum(sum(m) for m in kept)),
                                 "masked_tokens": int(sum(len(m) for m in kept))}
    metrics_dir.mkdir(parents=True, exist_ok=True)
    curve.path = metrics_dir / "loss.csv"
    curve.write()
    (metrics_dir / "train.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    if not sft.keep_checkpoints:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return metrics


def train_objective(params, sft, base: str, lake=None, **kwargs) -> dict:
    """`train` for `sft.objective: plain`; the T3S pipeline (ded.training.t3s) for t3s and rrt. `kwargs` are
    `train`'s output_dir, metrics_dir, checkpoint_dir and desc."""
    if sft.objective == "plain":
        return train(sft, base, **kwargs)
    return run(params, sft, base, lake=lake, **kwargs)
