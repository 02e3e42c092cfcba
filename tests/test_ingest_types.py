"""Wrong types are rejected, not coerced: question and response text must be strings in JSON-typed sources."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from ded.ingest import ingest_paths
from ded.sql import connect, query


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def reasons(lake):
    return {r["line"]: r["reason"] for r in query(connect(lake), "select line, reason from rejects").to_pylist()}


def test_a_number_as_problem_text_is_rejected_and_numeric_answers_are_kept(lake, tmp_path):
    f = jsonl(tmp_path / "q.jsonl", [{"problem": 5, "answer": "3"}, {"problem": "What is 1+2?", "answer": 3},
                                     {"question": 7.5}, {"problem": True}])
    rep = ingest_paths(lake, [f], kind="questions")
    assert rep.questions_inserted == 1
    assert lake.read("questions").select(["problem", "answer"]).to_pylist() == [{"problem": "What is 1+2?", "answer": "3"}]
    r = reasons(lake)
    assert sorted(r) == [1, 3, 4]
    assert r[1] == "wrong type for problem: expected text, got int (quote it in the source if it is meant as text)"
    assert r[3].startswith("wrong type for question: expected text, got float")
    assert r[4].startswith("wrong type for problem: expected text, got bool")


def test_a_number_as_response_text_is_rejected(lake, tmp_path):
    f = jsonl(tmp_path / "t.jsonl", [{"problem": "P1", "response": 42, "model": "m"},
                                     {"problem": "P2", "responses": ["ok", 7], "model": "m"},
                                     {"idx": 1, "question": "P3", "gt": 3, "code": [3], "score": [True]}])
    ingest_paths(lake, [f.parent / "t.jsonl"], kind="trajectories")
    r = reasons(lake)
    assert r[1].startswith("wrong type for response: expected text, got int")
    assert r[2].startswith("wrong type for responses: expected text, got int")
    g = jsonl(tmp_path / "qm.jsonl", [{"idx": 1, "question": "P3", "gt": 3, "code": [3], "score": [True]}])
    ingest_paths(lake, [g], kind="trajectories", preset="qwen-math-eval")
    assert "trajectories" not in lake.table_names() or lake.count("trajectories") == 0
    assert any(x.startswith("wrong type for code: expected text, got int") for x in reasons(lake).values())


def test_parquet_is_typed_too(lake, tmp_path):
    pq.write_table(pa.table({"problem": [5, 6], "answer": ["1", "2"]}), tmp_path / "q.parquet")
    rep = ingest_paths(lake, [tmp_path / "q.parquet"], kind="questions")
    assert rep.questions_inserted == 0 and sum(rep.rejected.values()) == 2


def test_csv_cells_are_text_as_written(lake, tmp_path):
    (tmp_path / "q.csv").write_text("id,problem,answer\n1,5,033\n2,What is 2+2?,4.50\n")
    rep = ingest_paths(lake, [tmp_path / "q.csv"], kind="questions")
    assert rep.questions_inserted == 2 and not rep.rejected
    got = sorted((r["source_id"], r["problem"], r["answer"]) for r in lake.read("questions").to_pylist())
    assert got == [("1", "5", "033"), ("2", "What is 2+2?", "4.50")]  # not 33 or 4.5


def test_csv_with_a_text_cell_after_the_first_block_of_numbers(lake, tmp_path):
    """Type inference on the first block used to fail the rest of the file ("malformed CSV")."""
    lines = ["problem,answer"] + [f"Problem {i} {'x' * 90},{i}" for i in range(50_000)] + ["Last,x"]
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    rep = ingest_paths(lake, [tmp_path / "big.csv"], kind="questions", show_progress=False)
    assert not rep.rejected and rep.questions_inserted == 50_001
