"""DuckDB over the lake: every lake table is a view under its own name.

Lance datasets are Arrow datasets, so DuckDB scans them in place with projection and filter
pushdown: SQL and vector search read one copy of the data. The connection has file-system
access disabled once the views exist (no COPY TO, no reading arbitrary files), `query` runs read
statements only (`check_read_only`), and user predicates are parsed before they run. SQL files in `sql/<stage>/<name>.sql` take values only as
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


_DUCK_TYPES = {pa.bool_(): "BOOLEAN", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.float64(): "DOUBLE",
               pa.float32(): "FLOAT", pa.string(): "VARCHAR", pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ"}


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
        # a table written before a core column was declared (ded/schema.py) reads it as null, so the SQL can
        # name every declared column of every lake
        have = set(ds.schema.names)
        missing = [f for f in SCHEMAS.get(name, ()) if f.name not in have and f.type in _DUCK_TYPES]
        extra = "".join(f', NULL::{_DUCK_TYPES[f.type]} AS "{f.name}"' for f in missing)
        con.execute(f'CREATE VIEW "{name}" AS SELECT *{extra} FROM "__lance_{name}"')
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


READ_ONLY_ALLOWED = ("SELECT, WITH, VALUES, FROM, TABLE, DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN, "
                     "and catalog PRAGMAs (table_info, show_tables, version, ...)")
# PRAGMAs that only read the catalog (PRAGMA x = y is a SET statement, refused as such)
READ_PRAGMAS = frozenset({
    "table_info", "show", "show_tables", "show_tables_expanded", "show_databases", "database_list", "database_size",
    "storage_info", "metadata_info", "version", "platform", "functions", "collations", "user_agent",
})
_EXPLAIN = re.compile(r"^\s*explain\s+(?:analy[sz]e\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)
_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_]+")


def check_read_only(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Raise SqlError unless every statement of `sql` only reads (SELECT and friends, see
    READ_ONLY_ALLOWED). DuckDB's parser decides what a statement is; `query` calls this, so `ded sql`
    and every `sql/` file run through `run_sql_file` are held to it. Parsing only: `con` (any
    connection) saves opening one."""
    probe = con or duckdb.connect()
    try:
        stmts = probe.extract_statements(sql)
    except duckdb.Error as e:
        raise SqlError(str(e)) from None
    finally:
        if con is None:
            probe.close()
    if not stmts:
        raise SqlError("empty query; e.g. ded sql \"select count(*) from questions\"")
    for st in stmts:
        why = _not_a_read(st, con)
        if why:
            text = " ".join(st.query.split())
            raise SqlError(f"`ded sql` is read-only: {why} ({text[:80]!r}); allowed: {READ_ONLY_ALLOWED}; "
                           "write results to a file with -o FILE --format parquet|csv|json")


def _not_a_read(st: Any, con: duckdb.DuckDBPyConnection | None = None) -> str | None:
    T = duckdb.StatementType
    body = _LEADING.sub("", st.query)
    first = (_WORD.match(body) or [""])[0].lower()
    if st.type == T.SELECT:
        return None
    if st.type == T.MULTI and first in ("pivot", "unpivot"):  # a PIVOT is parsed as CREATE TYPE + SELECT
        return None
    if st.type == T.EXPLAIN:  # EXPLAIN ANALYZE runs its statement: the statement must be a read
        inner = _EXPLAIN.sub("", body, count=1)
        try:
            check_read_only(inner, con)
        except SqlError:
            return "EXPLAIN of a statement that is not a read"
        return None
    if st.type == T.PRAGMA:
        name = (_WORD.match(body[len(first):].lstrip()) or [""])[0].lower()
        return None if name in READ_PRAGMAS else f"PRAGMA {name} is not a catalog read"
    return f"{st.type.name} statements change state"


def query(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> pa.Table:
    """Run one read query and return Arrow; errors come back as SqlError with the lake's tables listed.

    Statements other than reads (CREATE, INSERT, SET, ATTACH, ...) are refused before they run."""
    check_read_only(sql, con)
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


# The one runner of the project's SQL files (sql/<stage>/<name>.sql): every stage runs them through these three
# modes, so each file is read, held to the read-only check and bound to its $parameters in one place.


def bind_sql_file(con: duckdb.DuckDBPyConnection | None, name: str, params: dict[str, Any]) -> tuple[str, dict | None]:
    """(text, bound parameters) of `sql/<name>.sql`: a read (checked), its `$name` parameters taken from
    `params` (extra ones ignored, a missing one an error naming it)."""
    text = sql_path(name).read_text()
    check_read_only(text, con)
    needed = referenced_params(text)
    missing = [n for n in needed if n not in params]
    if missing:
        raise SqlError(f"{name}.sql needs parameters {missing}")
    return text, ({n: params[n] for n in needed} or None)


def run_sql_file(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pa.Table:
    """Run `sql/<name>.sql` and return its result as one Arrow table."""
    text, bound = bind_sql_file(con, name, params)
    return query(con, text, bound)


def stream_sql_file(con: duckdb.DuckDBPyConnection, name: str, batch_rows: int, *, with_count: bool = True,
                    **params: Any) -> tuple[int | None, pa.RecordBatchReader]:
    """(row count, a reader of Arrow batches of `batch_rows`) of `sql/<name>.sql`: for results too big to hold
    (every response of a lake). The count (for a progress bar's total) is DuckDB's, without materializing the
    rows, but it is one more pass over the query: None with `with_count=False`."""
    text, bound = bind_sql_file(con, name, params)
    try:
        rel = con.sql(text, params=bound) if bound else con.sql(text)
        return (len(rel) if with_count else None), arrow_reader(rel, batch_rows)
    except duckdb.Error as e:
        raise _friendly(e, con) from None


def materialize_sql_file(con: duckdb.DuckDBPyConnection, name: str, table: str, **params: Any) -> None:
    """CREATE OR REPLACE TEMP TABLE `table` AS `sql/<name>.sql` (a chain of queries reading each other: the
    score stage's SQL_CHAIN). The file itself stays a read; the temp table lives in this connection only."""
    text, bound = bind_sql_file(con, name, params)
    try:
        con.execute(f'CREATE OR REPLACE TEMP TABLE "{table}" AS\n{text}', bound)
    except duckdb.Error as e:
        raise _friendly(e, con) from None


def arrow_reader(rel: Any, batch_rows: int) -> pa.RecordBatchReader:
    """A relation's Arrow batches (DuckDB 2 renamed fetch_arrow_reader to to_arrow_reader)."""
    return rel.to_arrow_reader(batch_rows) if hasattr(rel, "to_arrow_reader") else rel.fetch_arrow_reader(batch_rows)


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
