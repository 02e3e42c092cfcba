"""DuckDB over the lake: every lake table is a view under its own name.

Lance datasets are Arrow datasets, so DuckDB scans them in place with projection and filter
pushdown: SQL and vector search read one copy of the data. The connection has file-system
access disabled once the views exist (no COPY TO, no reading arbitrary files), and user
predicates are parsed before they run. SQL files in `sql/<stage>/<name>.sql` take values only as
bound `$name` parameters, never through string formatting.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ded.lake import Lake
from ded.schema import SCHEMAS

SQL_DIR = Path(os.environ.get("DED_SQL_DIR", Path(__file__).resolve().parents[1] / "sql"))
_PARAM = re.compile(r"(?<![\w$])\$([A-Za-z_]\w*)")


class SqlError(ValueError):
    """A query that cannot run; the message says why and what to do."""


def parse_as_of(items: list[str] | None) -> dict[str, int]:
    """`["trajectories=3", ...]` → {"trajectories": 3}."""
    out: dict[str, int] = {}
    for it in items or []:
        name, sep, ver = it.partition("=")
        if not sep or not ver.strip().isdigit():
            raise SqlError(f"--as-of expects TABLE=VERSION (e.g. trajectories=3), got {it!r}")
        out[name.strip()] = int(ver)
    return out


def connect(lake: Lake, as_of: dict[str, int] | None = None, read_only: bool = True,
            with_empty: bool = True) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per lake table (at `as_of` versions where given).

    Tables of the schema that the lake does not have yet appear as empty views when
    `with_empty`, so SQL written for later stages runs on an early lake.
    """
    as_of = dict(as_of or {})
    con = duckdb.connect()
    present = set(lake.table_names())
    unknown = set(as_of) - present
    if unknown:
        raise SqlError(f"--as-of names tables not in the lake: {sorted(unknown)}; tables: {sorted(present)}")
    for name in sorted(present):
        ds = lake.dataset(name, as_of.get(name))
        con.register(f"__lance_{name}", ds)
        con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "__lance_{name}"')
    if with_empty:
        for name, schema in SCHEMAS.items():
            if name not in present:
                con.register(f"__empty_{name}", schema.empty_table())
                con.execute(f'CREATE VIEW "{name}" AS SELECT * FROM "__empty_{name}"')
    if read_only:
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def lake_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name NOT LIKE '\\_\\_%' ESCAPE '\\' ORDER BY 1").fetchall()]


def _friendly(e: Exception, con: duckdb.DuckDBPyConnection) -> SqlError:
    msg = str(e)
    if isinstance(e, duckdb.CatalogException) and "does not exist" in msg:
        return SqlError(f"{msg.splitlines()[0]}\nlake tables: {', '.join(lake_tables(con))}")
    if "file system operations are disabled" in msg:
        return SqlError(f"{msg.splitlines()[0]}\n`ded sql` is read-only; write results with -o FILE --format parquet|csv|json")
    return SqlError(msg)


def query(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
    """Run one query and return Arrow; errors come back as SqlError with the lake's tables listed."""
    try:
        rel = con.sql(sql, params=params) if params else con.sql(sql)
        return rel.to_arrow_table() if rel is not None else pa.table({})
    except duckdb.Error as e:
        raise _friendly(e, con) from None


def sql_path(name: str) -> Path:
    p = SQL_DIR / (name if name.endswith(".sql") else f"{name}.sql")
    if not p.exists():
        raise SqlError(f"no SQL file {p}")
    return p


def referenced_params(sql: str) -> list[str]:
    no_comments = re.sub(r"--[^\n]*", "", sql)
    no_strings = re.sub(r"'(?:[^']|'')*'", "''", no_comments)
    return sorted(set(_PARAM.findall(no_strings)))


def run_sql_file(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pa.Table:
    """Run `sql/<name>.sql` with its `$name` parameters bound from `params` (extra ones ignored)."""
    text = sql_path(name).read_text()
    needed = referenced_params(text)
    missing = [n for n in needed if n not in params]
    if missing:
        raise SqlError(f"{name}.sql needs parameters {missing}")
    return query(con, text, {n: params[n] for n in needed} or None)


def check_predicate(predicate: str, table: str = "questions") -> str:
    """Validate a user predicate (`--where`, a question filter in params) before it runs.

    It must parse as the WHERE clause of one SELECT; it still runs on a read-only connection.
    """
    pred = (predicate or "").strip()
    if not pred:
        raise SqlError("empty predicate")
    probe = duckdb.connect()
    try:
        stmts = probe.extract_statements(f'SELECT * FROM "{table}" WHERE {pred}')
    except duckdb.Error as e:
        raise SqlError(f"invalid predicate {pred!r}: {str(e).splitlines()[0]}") from None
    finally:
        probe.close()
    if len(stmts) != 1 or stmts[0].type != duckdb.StatementType.SELECT or ";" in pred:
        raise SqlError(f"predicate {pred!r} must be one boolean expression (no ';', no statements)")
    return pred
