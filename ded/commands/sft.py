"""`ded sft`: fine-tune the student on corpus/train.jsonl with TRL (settings: the `sft` params section)."""

from __future__ import annotations

import sys
from typing import Optional

import typer


def sft(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", help="Base model (hub id or path); default sft.model, else the student's."),
    corpus: Optional[str] = typer.Option(None, "--corpus", help="Chat-form JSONL (default sft.corpus)."),
    output_dir: Optional[str] = typer.Option(None, "--output-dir", "-o", help="Where the model is saved (default sft.output_dir)."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Override sft.epochs."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Override sft.max_steps (-1 = all epochs)."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", help="Override sft.learning_rate."),
    objective: Optional[str] = typer.Option(None, "--objective", help="Override sft.objective: plain, t3s (pilot run, bottleneck, anchor masks, final run; docs/training.md) or rrt."),
) -> None:
    """Fine-tune the student (assistant-only loss, packing, resume from the last checkpoint).

    Example: ded sft --max-steps 20   (then: ded evaluate)

    Multi-GPU: set sft.accelerate_config (e.g. pipelines/accelerate/fsdp-8gpu.yaml): `ded sft` relaunches
    itself under `accelerate launch`.
    """
    from ded.commands.common import context
    from ded.stages import sft as stage

    params, lake = context(ctx)
    overrides = {"model": model, "corpus": corpus, "output_dir": output_dir, "epochs": epochs, "max_steps": max_steps,
                     "learning_rate": learning_rate, "objective": objective}
    config = stage.sft_params(params, **overrides).accelerate_config
    if config and not stage.under_launcher():
        raise typer.Exit(stage.relaunch_with_accelerate(config, sys.argv[1:]))
    m = stage.main(params, lake, **overrides)
    if m and m.get("final_loss") is not None:
        typer.echo(f"sft: {m['rows']} rows, {m['steps']} steps, loss {m['first_loss']:.4g} -> {m['final_loss']:.4g}, "
                   f"{m['tokens_per_second']} tokens/s; saved {stage.sft_params(params, **overrides).output_dir}")
    if m and m.get("t3s"):
        t = m["t3s"]
        share = (t.get("masks") or {}).get("anchor_share")
        typer.echo(f"sft: {t['objective']}: pilot {t['pilot_steps']} steps, bottleneck at step {t['bottleneck']['step']} "
                   f"(training accuracy {t['bottleneck']['accuracy']})"
                   + (f", anchors {share:.1%} of trained tokens" if share is not None else "")
                   + f"; {t['seconds']:.1f} s (metrics/sft/t3s.json)")


def register(app: typer.Typer) -> None:
    app.command("sft")(sft)
