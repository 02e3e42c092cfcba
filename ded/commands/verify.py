"""`ded verify`: grade trajectories (math, code in a sandbox, format; optional LLM judge)."""

from __future__ import annotations

import json

import typer


def verify(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Regrade every trajectory, not only those without a current verdict."),
    workers: int | None = typer.Option(None, "--workers", "-j", min=1, help="Worker processes (default: params verify.workers, else all cores)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Grade at most N pending trajectories (a trial run)."),
    judge: bool | None = typer.Option(None, "--judge/--no-judge", help="Also run the LLM judge (default: params verify.judge.enabled)."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """Grade trajectories that have no verdict for the current verifier version; print counts by status.

    Examples: ded verify · ded verify --workers 8 · ded verify --force --limit 100 · ded verify --judge
    """
    from ded.commands.common import context, echo_table
    from ded.stages.verify import main

    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"--format must be table or json, got {fmt!r}")
    params, lake = context(ctx, needs_lake=True)
    overrides = {"workers": workers} if workers else {}
    summary = main(params, lake, force=force, limit=limit, judge=judge, **overrides)  # VerifyError: exit 2
    for v, f in summary.get("infra_failures", {}).items():  # below the share that stops the stage: said, kept null
        typer.echo(f"warning: {f['failed']} of {f['graded']} {v} items were not graded because the verifier's "
                   f"machinery failed ({f['first']}); they are null and the next `ded verify` regrades them", err=True)
    if fmt == "json":
        typer.echo(json.dumps(summary, indent=1))
        return
    if not summary["graded"]:
        typer.echo("nothing to verify: every trajectory has a verdict for the current verifier versions "
                   "(--force regrades)")
        return
    echo_table(summary["by_status"], ["verifier", "status", "n"],
               title=f"{summary['graded']} verdicts in {summary['seconds']} s")


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
