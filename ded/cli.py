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
from typer.core import TyperGroup

# `ded --help` lists the commands in this order: the stages in pipeline order, then the tools
# (README's Usage says the same; tests/test_cli.py checks both).
STAGES = ["ingest", "generate", "verify", "embed", "smoke", "score", "select", "sft", "evaluate", "report"]
TOOLS = ["ablate", "sql", "search", "lake", "profile", "demo"]
COMMAND_MODULES = [f"ded.commands.{name}" for name in STAGES + TOOLS]

class _PipelineOrder(TyperGroup):
    """Lists commands in STAGES + TOOLS order (Typer lists plain commands first, then groups such as `lake`)."""

    def list_commands(self, ctx) -> list[str]:
        order = STAGES + TOOLS
        return sorted(super().list_commands(ctx), key=lambda n: order.index(n) if n in order else len(order))


app = typer.Typer(
    name="ded",
    cls=_PipelineOrder,
    help="Data-centric curation engine for reasoning distillation.\n\n"
         f"Stages, in pipeline order: {' → '.join(STAGES)}. Tools: {', '.join(TOOLS)}. "
         "Exit codes: 0 done, 1 a check you asked for failed (ingest --strict), 2 an error you can fix (`error: …`). "
         "Example: `ded sql \"select model, count(*) from trajectories group by 1\"`.",
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


# Hugging Face libraries draw a tqdm bar per weight load, tokenization and shard write; in `dvc repro` logs
# they are pages of carriage returns. ded shows its own progress (rate and ETA) for the long parts, so
# theirs are off unless the user sets these variables.
QUIET_HF = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


def main() -> None:
    import os

    from ded.errors import run_cli

    for k, v in QUIET_HF.items():
        os.environ.setdefault(k, v)
    sys.exit(run_cli(app))


if __name__ == "__main__":
    main()
