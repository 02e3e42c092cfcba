"""The `ded` command line: one Typer app, one subcommand per stage plus the tools.

Each command lives in `ded/commands/<name>.py` and exposes `register(app)`; heavy libraries are
imported inside the commands, so `ded --help` and `ded sql` start fast (no torch import).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Optional

import typer

COMMAND_MODULES = [
    "ded.commands.ingest",
    "ded.commands.generate",
    "ded.commands.sql",
    "ded.commands.lake",
    "ded.commands.demo",
    "ded.commands.sft",
    "ded.commands.smoke",
    "ded.commands.profile",
    "ded.commands.evaluate",
    "ded.commands.report",
    "ded.commands.score",
    "ded.commands.select",
    "ded.commands.embed",
    "ded.commands.search",
    "ded.commands.verify",
]

app = typer.Typer(
    name="ded",
    help="Data-centric curation engine for reasoning distillation.\n\n"
         "Stages: ingest → generate → verify → embed → score → select → sft → evaluate (+ smoke). "
         "Tools: sql, search, lake, report, demo. Example: `ded sql \"select model, count(*) from trajectories group by 1\"`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@dataclass
class Context:
    lake_root: Optional[str]
    params_path: str


@app.callback()
def _global(
    ctx: typer.Context,
    lake: Optional[str] = typer.Option(None, "--lake", help="Lake directory or URI (default: lake.root from params, else ./lake).", envvar="DED_LAKE"),
    params: str = typer.Option("params.yaml", "--params", help="Params file.", envvar="DED_PARAMS"),
) -> None:
    ctx.obj = Context(lake_root=lake, params_path=params)


def _register_all() -> None:
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(app)


_register_all()


def main() -> None:
    from ded.errors import run_cli

    sys.exit(run_cli(app))


if __name__ == "__main__":
    main()
