"""`ded sql` and `ded.sql.query` run read statements only; every SQL file the stages run is one."""

import json

import pytest
from typer.testing import CliRunner

from ded.cli import app
from ded.sql import SQL_DIR, SqlError, check_read_only, connect, query

runner = CliRunner()


@pytest.fixture
def filled(lake):
    lake.append("questions", [{"question_id": "a", "problem": "x", "domain": "math"}])
    return lake


WRITES = [
    "create table x as select 1",
    "CREATE TEMP TABLE x AS SELECT 1",
    "/* hi */ insert into questions values ('b')",
    "select 1; drop view questions",
    "update questions set problem = 'y'",
    "delete from questions",
    "drop view questions",
    "attach ':memory:' as m",
    "set threads = 1",
    "pragma threads = 1",
    "explain analyze create table x as select 1",
    "explain analyze select 1; create table y as select 1",
    "install httpfs",
    "load httpfs",
    "checkpoint",
    "create macro m(a) as a",
    "prepare p as select 1",
    "begin transaction",
    "call pragma_version()",
    "pragma force_checkpoint",
    "copy questions to 'x.csv'",
    "export database 'x'",
    "vacuum",
]


@pytest.mark.parametrize("sql", WRITES)
def test_writes_are_refused_with_what_is_allowed(filled, sql):
    con = connect(filled)
    with pytest.raises(SqlError, match=r"read-only: .*allowed: SELECT, WITH, VALUES, FROM, TABLE, DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN"):
        query(con, sql)
    assert query(con, "select count(*) n from duckdb_tables()").to_pylist() == [{"n": 0}]
    assert query(con, "select problem from questions").to_pylist() == [{"problem": "x"}]


READS = [
    "select 1 as x",
    "with a as (select 1 x) select * from a",
    "values (1), (2)",
    "from questions",
    "table questions",
    "describe questions",
    "show tables",
    "summarize questions",
    "explain select * from questions",
    "explain analyze select count(*) from questions",
    "pragma table_info('questions')",
    "pragma show_tables",
    "pragma version",
    "pivot questions on domain using count(*)",
    "-- a comment first\nselect 2",
    "(select 1)",
]


@pytest.mark.parametrize("sql", READS)
def test_read_statements_run(filled, sql):
    query(connect(filled), sql)


def test_every_sql_file_is_a_read():
    files = sorted(SQL_DIR.glob("*/*.sql"))
    assert len(files) > 10
    for f in files:
        check_read_only(f.read_text())


def test_cli_refuses_a_write_with_exit_code_2(tmp_path):
    r = runner.invoke(app, ["--lake", str(tmp_path / "lake"), "sql", "create table x as select 1"])
    assert r.exit_code != 0
    assert "Count" not in r.stdout
    r2 = __import__("subprocess").run([__import__("sys").executable, "-m", "ded", "--lake", str(tmp_path / "lake"), "sql",
                                       "create table x as select 1"], capture_output=True, text=True)
    assert r2.returncode == 2 and "error: `ded sql` is read-only" in r2.stderr and "Traceback" not in r2.stderr
    r3 = runner.invoke(app, ["--lake", str(tmp_path / "lake"), "sql", "values (1)", "--format", "json"])
    assert r3.exit_code == 0 and json.loads(r3.stdout) == {"col0": 1}
