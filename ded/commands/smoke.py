"""`ded smoke`: DED's teacher smoke tests (short SFT on each teacher's answers, then evaluate)."""

from __future__ import annotations

from typing import Optional

import typer


def smoke(
    ctx: typer.Context,
    teacher: Optional[str] = typer.Option(None, "--teacher", help="One candidate (a name in smoke.teachers); default: each in turn."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Only build the corpus and train (no evaluation, no smoke_results)."),
) -> None:
    """Fine-tune the student briefly on each candidate teacher's answers and evaluate it → smoke_results.

    Example: ded smoke --teacher qwq-32b   (then: ded score; select.teacher: auto picks the winner)
    """
    from ded.commands.common import context, echo_table
    from ded.stages import smoke as stage

    params, lake = context(ctx, needs_lake=True)
    result = stage.main(params, lake, teacher=teacher, evaluate=not no_eval)
    runs = [result] if teacher else list(result.values())
    rows = [{"teacher": r["teacher"], "corpus": r["corpus_size"], "final_loss": _fmt(r["final_loss"]),
             "student_entropy": _fmt(r["student_entropy"]), "trained_entropy": _fmt(r.get("trained_entropy")),
             **{x["benchmark"]: _fmt(x["score"]) for x in r["results"]}} for r in runs]
    echo_table(rows, title="smoke tests")


def _fmt(v) -> str:
    return "" if v is None else f"{v:.4g}"


def register(app: typer.Typer) -> None:
    app.command("smoke")(smoke)
