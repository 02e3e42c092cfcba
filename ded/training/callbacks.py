"""Trainer callbacks: the loss curve as a DVC plot, and a progress bar with rate and ETA."""

from __future__ import annotations

import csv
from pathlib import Path

from transformers import TrainerCallback

from ded.progress import progress

CURVE_FIELDS = ["step", "epoch", "loss", "learning_rate", "grad_norm", "num_tokens", "mean_token_accuracy", "entropy"]


class LossCurve(TrainerCallback):
    """Appends every training log to `path` (CSV, one row per logged optimizer step)."""

    def __init__(self, path: str | Path, resumed_rows: list[dict] | None = None):
        self.path = Path(path)
        self.rows: list[dict] = list(resumed_rows or [])

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        row.update({k: logs.get(k) for k in CURVE_FIELDS if k not in row})
        self.rows = [r for r in self.rows if int(r["step"]) < state.global_step] + [row]
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CURVE_FIELDS)
            w.writeheader()
            w.writerows(self.rows)


def read_curve(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    with p.open(newline="") as f:
        return list(csv.DictReader(f))


class ProgressBar(TrainerCallback):
    """One ded.progress bar over optimizer steps (the Trainer's own tqdm is off)."""

    def __init__(self, desc: str = "sft"):
        self.desc = desc
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = progress(total=state.max_steps, desc=self.desc, unit="step").__enter__()
            if state.global_step:
                self.bar.advance(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.advance(1)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


class EvenCheckpoints(TrainerCallback):
    """Save `count` checkpoints evenly spaced over the run's optimizer steps, the last one at its final step.

    The step count is known only once the Trainer has sized the run (packing decides it), so the spacing is set
    at the start of training, and again on a resumed run (same count, same steps)."""

    def __init__(self, count: int):
        self.count = max(1, int(count))

    def steps(self, max_steps: int) -> set[int]:
        return {max(1, round(max_steps * (i + 1) / self.count)) for i in range(self.count)}

    def on_train_begin(self, args, state, control, **kwargs):
        self.at = self.steps(state.max_steps)
        state.save_steps = state.max_steps + 1  # the regular cadence never fires: on_step_end decides

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step in self.at:
            control.should_save = True
        return control
