"""`ded generate`: sample teachers and the student into `trajectories`, resumably."""

from __future__ import annotations

import typer


def generate(
    ctx: typer.Context,
    model: list[str] = typer.Option([], "--model", "-m", help="Model name from params `models` (repeatable). Default: params `generate.models`."),
    where: str | None = typer.Option(None, "--where", help="SQL predicate over questions, e.g. \"domain = 'math'\". Default: params `generate.questions`."),
    limit: int | None = typer.Option(None, "--limit", help="At most this many questions (question_id order)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the missing requests per model, estimated tokens and cost; generate nothing."),
) -> None:
    """Generate the missing samples (resumable: what is in the lake is never requested again).

    With compute.engine: ray, a local engine (transformers, vllm) runs one model per Ray actor (one per node, or
    per GPU); the openai backend sends requests from here to its endpoints (docs/scale-out.md).

    Example (profile ded-paper): ded generate --model qwq-32b --where "domain = 'math'" --dry-run
    """
    from ded.commands.common import context, echo_table
    from ded.stages.generate import main

    params, lake = context(ctx, needs_lake=True)
    out = main(params, lake, models=model or None, where=where, limit=limit, dry=dry_run,
               echo=lambda s: typer.echo(s, err=True))
    if dry_run:
        rows = out["dry_run"]
        shown = [{**r, "est_cost": None if r["est_cost"] is None else f"${r['est_cost']:,.4f}"} for r in rows]
        echo_table(shown, title="generate --dry-run: requests still missing")
        priced = [r["est_cost"] for r in rows if r["est_cost"] is not None]
        typer.echo(f"missing requests: {sum(r['missing'] for r in rows)}; estimated output tokens: "
                   f"{sum(r['est_output_tokens'] for r in rows):,}"
                   + (f"; estimated cost: ${sum(priced):,.4f}" if priced else "; cost: no price set (models[].price_in/price_out)"))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
