"""`ded sql`: ad-hoc SQL over the lake (DuckDB, read-only, every table a view by its name)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

FORMATS = ("table", "csv", "json", "parquet")


def sql(
    ctx: typer.Context,
    query: Optional[str] = typer.Argument(None, help="The SQL query (or use --file)."),
    file: Optional[Path] = typer.Option(None, "--file", "-f", help="Read the query from a .sql file."),
    fmt: str = typer.Option("table", "--format", help="Output format: table, csv, json (one object per line), parquet (needs -o)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the result to this file instead of stdout."),
    as_of: list[str] = typer.Option([], "--as-of", help="Read TABLE at VERSION, e.g. --as-of trajectories=3 (repeatable)."),
    max_rows: int = typer.Option(200, "--max-rows", help="Rows shown by --format table (files get all rows)."),
) -> None:
    """Run SQL over the lake's tables.

    Example: ded sql "select model, count(*) n from trajectories group by 1 order by n desc"
    """
    from ded.commands.common import context
    from ded.sql import SqlError, connect, parse_as_of, query as run_query
    from ded.sql_output import write_result

    if fmt not in FORMATS:
        raise SqlError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if file is not None:
        if query:
            raise SqlError("give a query or --file, not both")
        text = file.read_text()
    elif query:
        text = query
    else:
        raise SqlError('give a query, e.g. ded sql "select count(*) from questions", or --file Q.sql')
    _, lake = context(ctx, read_only=True, missing_ok=True)
    if not lake.present():  # `ded sql "select 1"` runs anywhere; a typo'd --lake must not read as empty silently
        typer.echo(f"note: lake {lake.root} does not exist, so every table reads as empty "
                   f"(check --lake, DED_LAKE or lake.root)", err=True)
    con = connect(lake, parse_as_of(as_of))
    table = run_query(con, text)
    write_result(table, fmt, output, max_rows=max_rows, stream=sys.stdout)


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
