"""`ded demo`: write the built-in synthetic sources, ingest them, and query them."""

from __future__ import annotations

from pathlib import Path

import typer

DEMO_QUERY = """select model,
       count(*)                                        as trajectories,
       count(distinct question_id)                     as questions,
       round(avg(length(response)))                    as mean_chars,
       round(avg((finish_reason = 'length')::int), 3)  as share_cut_off
from trajectories
group by model order by model"""


def demo(
    ctx: typer.Context,
    out: Path = typer.Option(Path("demo"), "--dir", help="Where to write the demo sources."),
    size: str = typer.Option("demo", "--size", help="demo (the default CPU run) or ci (smaller)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic data."),
) -> None:
    """Write the synthetic demo sources (labelled synthetic), ingest them and show a SQL summary.

    Example: ded demo && ded sql "select domain, count(*) from questions group by 1"
    """
    from ded.commands.common import context
    from ded.demo import write_demo_sources
    from ded.ingest import ingest_paths
    from ded.sql import connect, query
    from ded.sql_output import format_table

    _, lake = context(ctx)
    paths = write_demo_sources(out, seed=seed, size=size)
    typer.echo(f"wrote demo sources to {out}/ ({len(paths)} files)")
    q = ingest_paths(lake, [paths["math_questions"], paths["code_questions"]], kind="questions", source="demo")
    teachers = [p for n, p in paths.items() if n.startswith("teacher_")] + [paths["student"]]
    t = ingest_paths(lake, teachers, kind="trajectories", source="demo")
    typer.echo(f"questions: {q.questions_inserted} new; trajectories: {t.trajectories_inserted} new "
               f"({sum(t.rejected.values()) + sum(q.rejected.values())} rejected) in lake {lake.root}")
    typer.echo(format_table(query(connect(lake), DEMO_QUERY)))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
