"""What every command needs: the params and the lake chosen by the global options."""

from __future__ import annotations

import typer

from ded.lake import Lake
from ded.params import Params, load_params


# Options that make a command that otherwise writes read only (`ded select --explain ID`): with one
# set, context() treats the call as read_only. Commands that only ever read pass read_only=True.
READ_ONLY_OPTIONS = {"select": "explain"}


def context(ctx: typer.Context, read_only: bool | None = None, needs_lake: bool = False,
            missing_ok: bool = False) -> tuple[Params, Lake]:
    """Params and lake of the global options.

    Only commands that can start a lake (ingest, demo, evaluate) create a missing one. A command that
    only reads (`read_only`; None: decided by READ_ONLY_OPTIONS) or that reads the lake before it
    writes (`needs_lake`: generate, verify, embed, score, smoke) finds a missing lake an error that
    says how to make one (exit 2): a typo'd --lake, or a command run outside the project, must neither
    leave an empty lake behind nor report on nothing. `missing_ok` (`ded sql`): an absent lake reads as
    empty tables instead.
    """
    if read_only is None:
        option = READ_ONLY_OPTIONS.get(ctx.command.name)
        read_only = bool(option and ctx.params.get(option))
    obj = ctx.find_root().obj
    params = load_params(obj.params_path)
    root = obj.lake_root or params.lake.root
    if obj.lake_root:
        params.lake.root = obj.lake_root
    lake = Lake(root, create=not (read_only or needs_lake), storage_options=params.lake.storage_options)
    if (read_only or needs_lake) and not missing_ok:
        lake.require()
    return params, lake


def _cell(v) -> str:
    """Table text: None as blank, floats to 4 decimals (0.9444, not 0.9444444444444444), thousands grouped."""
    if v is None:
        return ""
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return str(v)
        if abs(v) >= 1000:
            return f"{v:,.1f}"
        text = f"{v:.4f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(v)


def echo_table(rows: list[dict], columns: list[str] | None = None, title: str | None = None) -> None:
    """A plain aligned table on stdout (rich when on a terminal)."""
    from rich.console import Console
    from rich.table import Table

    cols = columns or (list(rows[0]) if rows else [])
    t = Table(title=title, show_edge=False, header_style="bold")
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*(_cell(r.get(c)) for c in cols))
    Console(width=200 if not Console().is_terminal else None).print(t)
