"""`ded embed`: question (and trajectory) vectors, indexes, near-duplicates and decontamination."""

from __future__ import annotations

import json

import typer


def embed(
    ctx: typer.Context,
    trajectories: bool | None = typer.Option(None, "--trajectories/--no-trajectories", help="Also embed trajectories (default: params embed.trajectories)."),
    report: bool = typer.Option(False, "--report", help="Only list the contamination hits of the last run (embeds nothing)."),
    kind: str | None = typer.Option(None, "--kind", help="With --report: contaminated or near_duplicate (default: both)."),
    limit: int = typer.Option(50, "--limit", help="With --report: rows to show."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    force: bool = typer.Option(False, "--force", help="Run even when nothing changed since the last run."),
) -> None:
    """Embed new or changed texts, refresh indexes, recompute duplicates and benchmark contamination.

    When nothing it reads changed since the last run (receipts/embed.json), it says so and returns
    without loading the model.

    Examples: ded embed · ded embed --trajectories · ded embed --report --kind contaminated
    """
    from ded.commands.common import context, echo_table

    params, lake = context(ctx, needs_lake=True)
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"--format must be table or json, got {fmt!r}")
    if report:
        from ded.stages.embed import contamination_report

        if kind not in (None, "contaminated", "near_duplicate"):
            raise typer.BadParameter(f"--kind must be contaminated or near_duplicate, got {kind!r}")
        if not lake.exists("contamination"):
            from ded.errors import DedError

            raise DedError(f"lake {lake.root} has no contamination table yet: run `ded embed` with "
                           f"`benchmarks` set in params first")
        rows = contamination_report(lake, kind=kind, limit=limit)
        if fmt == "json":
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        else:
            echo_table(rows, ["kind", "benchmark", "item_id", "question_id", "source", "method", "score",
                              "ngram_score", "embedding_score", "question"],
                       title=f"{len(rows)} contamination hits (most similar first)")
        return
    from ded.stages.embed import main

    overrides = {} if trajectories is None else {"trajectories": trajectories}
    summary = main(params, lake, force=force, **overrides)
    if fmt == "json":
        typer.echo(json.dumps(summary, indent=1, default=str))
        return
    if summary.get("up_to_date"):
        typer.echo("nothing changed since the last run (receipts/embed.json): nothing embedded or indexed; "
                   "its results follow (`--force` reruns)")
    for table, st in summary["embedded"].items():
        typer.echo(f"{table}: {st['embedded']} texts embedded ({st['chunks']} chunks), {st['skipped']} unchanged"
                   + (", model changed: re-embedded all" if st["model_changed"] else ""))
    for name, what in summary["indexes"].items():
        typer.echo(f"index {name}: {what}")
    d = summary["duplicates"]
    typer.echo(f"duplicates: {d['duplicates']} questions in {d['groups']} groups (pairs: {d['pairs']})")
    c = summary["contamination"]
    if isinstance(c, dict):
        typer.echo(f"contamination: {c['questions_flagged']} questions flagged in {c['pairs']} question-item pairs "
                   f"(by method/kind: {c['by_method_kind']}); see `ded embed --report`")
    else:
        typer.echo(f"contamination: {c}")


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)
