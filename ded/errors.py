"""User-facing errors: one line of what went wrong and what to do, no traceback.

Library code raises subclasses of ValueError/RuntimeError with a message that names the fix;
the CLI prints them as `error: …` and exits 2. Set DED_DEBUG=1 to see the traceback.
"""

from __future__ import annotations

import os
import sys

import typer


class DedError(RuntimeError):
    """Base for errors the CLI reports without a traceback."""


class MissingDependency(DedError):
    def __init__(self, package: str, extra: str | None = None, why: str = ""):
        hint = f"pip install 'ded[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{package} is not installed{(' (' + why + ')') if why else ''}; install it with: {hint}")


def _expected() -> tuple[type[BaseException], ...]:
    from ded.lake import LakeError
    from ded.params import ParamsError
    from ded.schema import SchemaError
    from ded.sql import SqlError

    return (DedError, LakeError, ParamsError, SchemaError, SqlError, FileNotFoundError)


def run_cli(app: typer.Typer) -> int:
    try:
        app(standalone_mode=False)
        return 0
    except SystemExit as e:
        return int(e.code or 0)
    except KeyboardInterrupt:
        print("interrupted: committed work is kept; rerun the same command to finish", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001
        import click

        if isinstance(e, click.exceptions.Exit):
            return e.exit_code
        if isinstance(e, click.ClickException):
            e.show()
            return e.exit_code
        if isinstance(e, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            return 1
        if os.environ.get("DED_DEBUG") or not isinstance(e, _expected()):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
