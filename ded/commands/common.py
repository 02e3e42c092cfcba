"""What every command needs: the params and the lake chosen by the global options."""

from __future__ import annotations

import typer

from ded.lake import Lake
from ded.params import Params, load_params


def context(ctx: typer.Context, read_only: bool = False) -> tuple[Params, Lake]:
    """Params and lake of the global options; `read_only` commands do not create a missing lake."""
    obj = ctx.find_root().obj
    params = load_params(obj.params_path)
    root = obj.lake_root or params.lake.root
    if obj.lake_root:
        params.lake.root = obj.lake_root
    return params, Lake(root, create=not read_only)


def echo_table(rows: list[dict], columns: list[str] | None = None, title: str | None = None) -> None:
    """A plain aligned table on stdout (rich when on a terminal)."""
    from rich.console import Console
    from rich.table import Table

    cols = columns or (list(rows[0]) if rows else [])
    t = Table(title=title, show_edge=False, header_style="bold")
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in cols))
    Console(width=200 if not Console().is_terminal else None).print(t)
