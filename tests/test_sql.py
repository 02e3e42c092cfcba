"""`ded.sql`: views over the lake, bound parameters, read-only, friendly errors, predicates, as-of."""

import pytest

from ded.sql import (
    SqlError,
    check_predicate,
    connect,
    lake_tables,
    parse_as_of,
    query,
    referenced_params,
)


@pytest.fixture
def filled(lake):
    lake.append("questions", [{"question_id": "a", "problem": "x", "domain": "math"},
                              {"question_id": "b", "problem": "y", "domain": "code"}])
    lake.append("questions", [{"question_id": "c", "problem": "z", "domain": "math"}])
    return lake


def test_every_table_is_a_view_and_missing_ones_are_empty(filled):
    con = connect(filled)
    assert {"questions", "trajectories", "verdicts"} <= set(lake_tables(con))
    assert query(con, "select count(*) n from verdicts").to_pylist() == [{"n": 0}]


def test_bound_parameters(filled):
    con = connect(filled)
    t = query(con, "select count(*) n from questions where domain = $d", {"d": "math"})
    assert t.to_pylist() == [{"n": 2}]
    # a value that would be an injection if formatted is just a string here
    t = query(con, "select count(*) n from questions where domain = $d", {"d": "math' or '1'='1"})
    assert t.to_pylist() == [{"n": 0}]


def test_as_of_reads_an_old_version(filled):
    con = connect(filled, as_of=parse_as_of(["questions=1"]))
    assert query(con, "select count(*) n from questions").to_pylist() == [{"n": 2}]
    with pytest.raises(SqlError, match="TABLE=VERSION"):
        parse_as_of(["questions"])
    with pytest.raises(SqlError, match="not in the lake"):
        connect(filled, as_of={"nope": 1})


def test_read_only_connection_cannot_touch_files(filled, tmp_path):
    con = connect(filled)
    with pytest.raises(SqlError, match="read-only"):
        query(con, f"copy (select 1) to '{tmp_path}/x.csv'")
    assert not (tmp_path / "x.csv").exists()
    with pytest.raises(SqlError):
        query(con, "SET enable_external_access = true")


def test_unknown_table_lists_the_tables(filled):
    with pytest.raises(SqlError, match="lake tables: .*questions"):
        query(connect(filled), "select * from questionz")


def test_predicates_are_parsed_first():
    assert check_predicate("domain = 'math' and length(problem) > 3") == "domain = 'math' and length(problem) > 3"
    for bad in ["1; drop table questions", "domain = 'math') union select (1", "", "x ="]:
        with pytest.raises(SqlError):
            check_predicate(bad)


def test_referenced_params_ignores_comments_and_strings():
    sql = "-- uses $not_this\nselect '$nor_this', $a from t where x = $b_2"
    assert referenced_params(sql) == ["a", "b_2"]


def test_a_table_written_before_a_core_column_reads_it_as_null(tmp_path):
    """A lake table from before a column joined ded/schema.py (verdicts without finished, think_paired) still
    answers SQL naming that column: null, not a binder error."""
    import lance
    import pyarrow as pa

    from ded.lake import Lake
    from ded.sql import connect

    lake = Lake(tmp_path / "lake")
    old = pa.table({"trajectory_id": ["t1"], "verifier": ["math"], "verifier_version": ["math-1"],
                    "status": ["correct"], "correct": [True]})
    lance.write_dataset(old, lake.uri("verdicts"))
    con = connect(lake)
    assert con.sql("SELECT trajectory_id, correct, finished, think_paired, n_tokens FROM verdicts").fetchall() == [
        ("t1", True, None, None, None)]


def test_every_sql_file_declares_what_it_produces_reads_and_binds():
    """Each sql/ file opens with its header (produces, grain, reads, params), and every $parameter it binds is
    named in its params line (`params: none` binds none): the header is the file's contract, kept true."""
    from pathlib import Path

    from ded.sql import referenced_params

    root = Path(__file__).resolve().parents[1] / "sql"
    problems = []
    for f in sorted(root.rglob("*.sql")):
        text = f.read_text()
        head = []
        for line in text.splitlines():
            if not line.startswith("--"):
                break
            head.append(line)
        header = "\n".join(head)
        missing = [k for k in ("produces", "grain", "reads", "params") if f"-- {k}:" not in header]
        params_part = header[header.find("-- params:"):] if "-- params:" in header else ""
        used = referenced_params(text)
        undocumented = [p for p in used if f"${p}" not in params_part]
        if missing or undocumented or ("-- params: none" in header and used):
            problems.append(f"{f.relative_to(root)}: header lacks {missing}, binds undocumented {undocumented}")
    assert not problems, "\n".join(problems)
