"""The lake: commits, merge on keys, schema evolution, history, time travel, export."""

import json

import pyarrow as pa
import pytest

from ded.lake import Lake, LakeError
from ded.lake_export import export_table
from ded.schema import SchemaError, conform


def q(i, **kw):
    return {"question_id": f"q{i}", "problem": f"p{i}", "domain": "math", **kw}


def test_merge_inserts_only_new_keys_and_counts(lake):
    s1 = lake.merge("questions", [q(1), q(2)])
    s2 = lake.merge("questions", [q(2, problem="changed"), q(3)])
    assert (s1.inserted, s2.inserted, s2.updated) == (2, 1, 0)
    rows = {r["question_id"]: r["problem"] for r in lake.read("questions").to_pylist()}
    assert rows == {"q1": "p1", "q2": "p2", "q3": "p3"}  # an existing key is not overwritten


def test_merge_update_and_in_batch_duplicates_keep_last(lake):
    lake.merge("questions", [q(1)])
    st = lake.merge("questions", [q(1, problem="a"), q(1, problem="b")], update=True)
    assert st.updated == 1
    assert lake.read("questions").column("problem").to_pylist() == ["b"]


def test_every_write_is_one_version_and_time_travel(lake):
    v1 = lake.append("questions", [q(1)])
    v2 = lake.append("questions", [q(2)])
    assert v2 == v1 + 1
    assert lake.read("questions", version=v1).num_rows == 1
    hist = lake.history("questions")
    assert [h["rows"] for h in hist] == [1, 2]
    with pytest.raises(LakeError, match="no version 99"):
        lake.dataset("questions", version=99)


def test_schema_evolution_adds_a_column_to_an_existing_table(lake):
    lake.append("questions", [q(1)])
    lake.append("questions", [q(2, difficulty_band="hard")])
    t = lake.read("questions")
    assert "difficulty_band" in t.column_names
    assert t.column("difficulty_band").to_pylist() == [None, "hard"]
    # a later write without the new column still works
    lake.append("questions", [q(3)])
    assert lake.count("questions") == 3


def test_conform_casts_and_rejects_impossible_types():
    t = conform("verdicts", [{"trajectory_id": "t", "verifier": "math", "tests_passed": "3"}])
    assert t.schema.field("tests_passed").type == pa.int32()
    assert t.column("tests_passed").to_pylist() == [3]
    with pytest.raises(SchemaError, match="unknown table"):
        conform("nope", [])
    with pytest.raises(SchemaError, match="cannot cast"):
        conform("verdicts", pa.table({"tests_passed": ["x"]}))


def test_missing_table_reads_empty_and_dataset_error_names_the_fix(lake):
    assert lake.read("verdicts").num_rows == 0
    assert lake.count("verdicts") == 0
    with pytest.raises(LakeError, match="run the stage that writes it"):
        lake.dataset("verdicts")


def test_append_stream_is_one_commit_and_a_failure_commits_nothing(lake):
    lake.append("questions", [q(0)])
    v = lake.version("questions")

    def batches():
        yield [q(1)]
        yield [q(2)]
        raise RuntimeError("killed mid-stream")

    with pytest.raises(Exception, match="killed mid-stream"):
        lake.append_stream("questions", batches())
    assert lake.version("questions") == v and lake.count("questions") == 1
    lake.append_stream("questions", iter([[q(1)], [q(2)], [q(3)]]))
    assert lake.version("questions") == v + 1 and lake.count("questions") == 4


def test_tables_lists_rows_versions_sizes(lake):
    lake.append("questions", [q(1), q(2)])
    (info,) = lake.tables()
    assert (info.name, info.rows, info.version) == ("questions", 2, 1)
    assert info.size_bytes > 0


def test_export_parquet_and_jsonl_at_a_version(lake, tmp_path):
    import pyarrow.parquet as pq

    lake.append("questions", [q(1)])
    lake.append("questions", [q(2)])
    assert export_table(lake, "questions", "parquet", tmp_path / "a.parquet", version=1) == 1
    assert pq.read_table(tmp_path / "a.parquet").num_rows == 1
    assert export_table(lake, "questions", "jsonl", tmp_path / "b.jsonl") == 2
    rows = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [r["question_id"] for r in rows] == ["q1", "q2"]


def test_lakedb_sees_the_same_tables(lake):
    import lancedb

    lake.append("questions", [q(1)])
    db = lancedb.connect(lake.root)
    assert "questions" in db.list_tables().tables
    assert db.open_table("questions").count_rows() == 1


def test_require_is_an_error_that_says_how_to_make_the_lake(tmp_path):
    from ded.lake import LakeError

    missing = Lake(tmp_path / "nope", create=False)
    with pytest.raises(LakeError, match=r"does not exist; create it with `ded ingest` .*--lake"):
        missing.require()
    assert not (tmp_path / "nope").exists()
    there = Lake(tmp_path / "lake")
    assert there.require() is there
