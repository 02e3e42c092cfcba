"""`ded select`: run a recipe → `selection` rows and corpus/ (train.jsonl, parquet, hf/, manifest.json)."""

from __future__ import annotations

import typer

from ded.params import RECIPE_NAMES


def select(
    ctx: typer.Context,
    recipe: str | None = typer.Option(None, "--recipe", help=f"One of {', '.join(RECIPE_NAMES)} (ded/selectors/recipes/; overrides select.recipe)."),
    budget: int | None = typer.Option(None, "--budget", help="Rows in the corpus (overrides select.budget)."),
    teacher: str | None = typer.Option(None, "--teacher", help="auto, all or a model name (overrides select.teacher)."),
    explain: str | None = typer.Option(None, "--explain", help="Say why this trajectory or question id was kept or dropped (selects nothing)."),
    run_id: str | None = typer.Option(None, "--run-id", help="With --explain: the selection run (default: the corpus on disk's, receipts/select.json, else the newest)."),
) -> None:
    """Pick the corpus with a recipe, record why every candidate was kept or dropped, export it.

    Example: ded select --recipe ded --budget 800   then   ded select --explain t_0123abcd
    """
    from ded.commands.common import context, echo_table

    params, lake = context(ctx)
    if explain:
        from ded.selectors.explain import explain as why

        typer.echo(why(lake, explain, run_id))
        return
    from ded.stages import select as stage

    overrides = {k: v for k, v in {"recipe": recipe, "budget": budget, "teacher": teacher}.items() if v is not None}
    m = stage.main(params, lake, **overrides)
    t = m["teacher"]
    echo_table(t["ranking"], ["rank", "model", "value", "accuracy", "n"], title=f"teachers by {t['metric']} (chosen: {', '.join(t['chosen'])})")
    if t.get("warning"):
        typer.secho(f"WARNING: {t['warning']}", fg="yellow", bold=True, err=True)
    echo_table(m["steps"], ["step", "in", "dropped", "out", "why"], title=f"recipe {m['recipe']} (run {m['run_id']})")
    typer.echo(f"select: {m['rows']} rows from {m['questions']} questions; by domain {m['by_domain']}; by model {m['by_model']}")
    typer.echo(f"select: wrote {params.select.export.out_dir}/train.jsonl (sha256 {m['train_jsonl_sha256'][:16]}…)"
               + ("" if m["written"] else "; selection rows for this run already in the lake"))
    if m["recipe"] == "ded" and m.get("kept_without_student_pass_rate"):
        typer.secho(f"note: {m['kept_without_student_pass_rate']} kept questions have no decided student rollout, so "
                    f"compression could not judge them (generate student rollouts, or select.missing_student: drop)",
                    fg="yellow", err=True)
    if m.get("shortfall"):
        typer.secho(f"WARNING: recipe {m['recipe']} found only {m['rows']} rows, {m['shortfall']} short of the budget "
                    f"of {m['budget']} (available by domain: {m['allocation'].get('available')})", fg="red", bold=True, err=True)


def register(app: typer.Typer) -> None:
    app.command("select")(select)
