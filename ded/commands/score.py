"""`ded score`: question, trajectory and model scores (sql/score/*.sql + ded/scorers)."""

from __future__ import annotations

import typer


def score(
    ctx: typer.Context,
    verifier: list[str] = typer.Option([], "--verifier", help="Trusted verifier, in order (repeatable); overrides score.verifiers, e.g. --verifier imported."),
    student_scores: bool | None = typer.Option(None, "--student-scores/--no-student-scores", help="Override score.student_scores.enabled (entropy and RSR under the student)."),
) -> None:
    """Score questions (pass rates, agreement, answer clusters, contamination, duplicates), trajectories
    (correct, format, length, LIMO rule score, student entropy/RSR) and models (accuracy by domain and band).

    Example: ded score --verifier math --verifier imported   (then: ded sql "select * from model_scores where band = 'all'")
    """
    from ded.commands.common import context, echo_table
    from ded.stages import score as stage

    params, lake = context(ctx, needs_lake=True)
    overrides = {}
    if verifier:
        overrides["verifiers"] = list(verifier)
    if student_scores is not None:
        overrides["student_scores"] = params.score.student_scores.model_copy(update={"enabled": student_scores})
    s = stage.main(params, lake, **overrides)
    typer.echo(f"score: {s['trajectories']} trajectories of {s['questions']} questions by {s['models']} models; "
               f"{s['correct']} correct, {s['undecidable']} undecidable (left out of pass rates), "
               f"{s['without_trusted_verdict']} without a verdict from {params.score.verifiers if not verifier else list(verifier)}")
    if s["n_tokens_estimated"] or s["format_from_text"]:
        typer.echo(f"score: {s['n_tokens_estimated']} n_tokens estimated from length, "
                   f"{s['format_from_text']} format checks read from the text (no verdict carried one)")
    typer.echo(f"score: {s['contaminated']} contaminated and {s['duplicates']} duplicate questions "
               f"({s['benchmark_near_duplicates']} near-duplicates of benchmark items, numbers changed: not contaminated); "
               f"{s['with_student_rollouts']} questions have student rollouts")
    import polars as pl

    from ded.selectors.teacher import rank_teachers

    metric, ranking = rank_teachers(pl.from_arrow(lake.read("model_scores")), params.select.teacher_metric)
    if ranking:
        echo_table(ranking, ["rank", "model", "value", "accuracy", "n"], title=f"teachers by {metric}")


def register(app: typer.Typer) -> None:
    app.command("score")(score)
