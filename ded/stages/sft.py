"""`ded sft`: fine-tune the student on the selected corpus (TRL SFTTrainer, ded.training).

Reads `corpus/train.jsonl` (select's output) and writes `models/student` (model + tokenizer),
`metrics/sft/train.json`, `metrics/sft/loss.csv` and `receipts/sft.json`. With `sft.objective: plain` the
lake is not touched: the receipt records the corpus hash and the base model instead of table versions.
`t3s` and `rrt` (ded.training.t3s) also write the pilot's training-accuracy samples to `eval_samples`, t3s
its anchor masks to `t3s_masks`, and `metrics/sft/t3s.json` (accuracy per pilot checkpoint, bottleneck,
anchor share, cost).
"""

from __future__ import annotations

import os
import subprocess
import sys

from ded.errors import DedError
from ded.lake import open_lake
from ded.receipts import write_receipt
from ded.training.base import base_model


def sft_params(params, **overrides):
    """`params.sft` with CLI overrides (None means "not given") applied and validated."""
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - set(type(params.sft).model_fields)
    if unknown:
        raise DedError(f"unknown sft setting(s) {sorted(unknown)}; see ded/params.py SftParams")
    return params.sft.model_validate({**params.sft.model_dump(), **given})


def under_launcher() -> bool:
    """True inside `accelerate launch` / torchrun (they set LOCAL_RANK)."""
    return "LOCAL_RANK" in os.environ


def relaunch_with_accelerate(config: str, argv: list[str]) -> int:
    """Run `ded <argv>` again under `accelerate launch --config_file config` (multi-GPU) and return its code."""
    if not os.path.exists(config):
        raise DedError(f"sft.accelerate_config {config} not found (see pipelines/accelerate/)")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config, "-m", "ded", *argv]
    return subprocess.call(cmd)


def main(params, lake=None, **overrides) -> dict:
    """Train and save the student; returns the run's metrics (also in metrics/sft/train.json)."""
    # lazy: torch and transformers (ded.training.run imports ded.training.callbacks)
    from ded.training.run import train_objective

    sft = sft_params(params, **overrides)
    base = base_model(params, sft)
    if sft.objective != "plain":
        lake = lake or open_lake(params)
    metrics = train_objective(params, sft, base, lake=lake)
    if metrics:  # rank zero only
        lake = lake or open_lake(params)
        tables = {"plain": [], "t3s": ["eval_samples", "t3s_masks"], "rrt": ["eval_samples"]}[sft.objective]
        write_receipt("sft", lake, tables, params, extra={"objective": sft.objective,
            "model_dir": sft.output_dir, "base_model": base, "corpus_sha256": metrics["corpus_sha256"],
            "steps": metrics["steps"], "final_loss": metrics["final_loss"], "run_key": metrics["run_key"]})
    return metrics
