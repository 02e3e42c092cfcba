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
    # lazy: CLI start-up (`ded --help` loads this module; lake, schema and sql pull pyarrow and duckdb)
    from ded.lake import LakeError
    from ded.params import ParamsError
    from ded.schema import SchemaError
    from ded.sql import SqlError

    # ValueError covers the library's argument checks ("unknown preset", "--format parquet needs -o");
    # DED_DEBUG=1 shows the traceback of any of them.
    return (DedError, LakeError, ParamsError, SchemaError, SqlError, FileNotFoundError, ValueError)


def _is(e: BaseException, name: str) -> bool:
    """typer vendors its own click: match click's exception classes by name, whichever copy raised them."""
    return any(c.__name__ == name for c in type(e).__mro__)


def _show_click_error(e: BaseException) -> None:
    """click's usage message, with its `Error:` line spelled `error:` like every other error of ded."""
    import io
    import re

    buf = io.StringIO()
    e.show(file=buf)  # type: ignore[attr-defined]
    sys.stderr.write(re.sub(r"^Error: ", "error: ", buf.getvalue(), flags=re.M))


def run_cli(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run the app and return the process exit code (README, "Exit codes"): 0 done (nothing to do
    included); 1 the data failed a check the user asked for (`ded ingest --strict`); 2 an error the user
    can fix: a usage error or an expected error, one `error: …` line that names the fix, no traceback;
    130 interrupted. Anything else is a bug and shows its traceback."""
    try:
        rv = app(args=argv, standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        print("interrupted: committed work is kept; rerun the same command to finish", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001
        if _is(e, "Exit"):
            return int(getattr(e, "exit_code", 0) or 0)
        if _is(e, "Abort"):
            print("aborted", file=sys.stderr)
            return 1
        if _is(e, "ClickException"):  # usage errors: bad option, missing argument, bad value
            _show_click_error(e)
            return int(getattr(e, "exit_code", 2))
        if os.environ.get("DED_DEBUG") or not isinstance(e, _expected()):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
