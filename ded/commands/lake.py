"""`ded lake`: list tables, show a table's versions, export a table (at a version)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

lake_app = typer.Typer(help="Inspect and export lake tables. Example: ded lake tables", no_args_is_help=True,
                       rich_markup_mode=None)


@lake_app.command("tables")
def tables(ctx: typer.Context) -> None:
    """List tables with rows, version and size. Example: ded lake tables"""
    from ded.commands.common import context
    from ded.sql_output import format_table
    import pyarrow as pa

    _, lake = context(ctx, read_only=True)
    infos = lake.tables()
    if not infos:
        typer.echo(f"lake {lake.root} has no tables yet; run `ded ingest` (or `ded demo`)")
        return
    t = pa.table({"table": [i.name for i in infos], "rows": [i.rows for i in infos],
                  "version": [i.version for i in infos], "size": [_size(i.size_bytes) for i in infos]})
    typer.echo(format_table(t, max_rows=1000))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@lake_app.command("history")
def history(ctx: typer.Context, table: str = typer.Argument(..., help="Table name.")) -> None:
    """Show a table's versions (version, time, rows). Example: ded lake history trajectories"""
    from ded.commands.common import context
    from ded.sql_output import format_table
    import pyarrow as pa

    _, lake = context(ctx, read_only=True)
    h = lake.history(table)
    t = pa.table({"version": [r["version"] for r in h], "timestamp": [str(r["timestamp"]) for r in h],
                  "rows": [r["rows"] for r in h]})
    typer.echo(format_table(t, max_rows=10_000))


@lake_app.command("export")
def export(
    ctx: typer.Context,
    table: str = typer.Argument(..., help="Table name."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or jsonl."),
    output: Path = typer.Option(..., "-o", "--output", help="Output file."),
    as_of: Optional[int] = typer.Option(None, "--as-of", help="Table version to export (default: latest)."),
) -> None:
    """Export a table to Parquet or JSONL. Example: ded lake export trajectories --format parquet -o t.parquet"""
    from ded.commands.common import context
    from ded.lake_export import export_table

    _, lake = context(ctx, read_only=True)
    n = export_table(lake, table, fmt, output, version=as_of)
    typer.echo(f"wrote {n} rows of {table}{f' @v{as_of}' if as_of else ''} to {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(lake_app, name="lake")
