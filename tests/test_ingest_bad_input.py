"""Bad input loses nothing: good rows load, bad ones are kept verbatim with a reason; --strict writes nothing."""

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ded.ingest import StrictReject, ingest_paths
from ded.sql import connect, query

GOOD = {"problem": "What is 1+1?", "answer": "2"}


def write_lines(path, lines: list[bytes]):
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture
def messy(tmp_path):
    lines = [
        json.dumps(GOOD).encode(),
        b'{"problem": "unterminated',                       # malformed JSON
        json.dumps({"answer": "3"}).encode(),               # missing problem
        json.dumps({"problem": ["not", "text"], "answer": 1}).encode(),  # wrong type
        b'{"problem": "caf\xe9 bad utf8"}',                 # invalid UTF-8
        json.dumps({"problem": "x" * 200_000}).encode(),    # absurdly large (limit below)
        b"[1, 2]",                                          # not an object
        json.dumps({"problem": "What is 2+2?", "answer": 4}).encode(),
        b"",
        json.dumps({"problem": "Solve", "tests": "[{'input': 1"}).encode(),  # unparseable tests
    ]
    return write_lines(tmp_path / "messy.jsonl", lines)


def test_good_rows_load_and_every_bad_record_is_kept_with_its_reason(lake, messy):
    rep = ingest_paths(lake, [messy], max_field_bytes=100_000)
    assert rep.questions_inserted == 2 and rep.read == 9
    rej = {r["line"]: r for r in query(connect(lake), "select * from rejects").to_pylist()}
    assert sorted(rej) == [2, 3, 4, 5, 6, 7, 10]
    assert rej[2]["reason"].startswith("malformed JSON") and rej[2]["raw"] == '{"problem": "unterminated'
    assert rej[3]["reason"].startswith("missing required field: problem")
    assert "wrong type" in rej[4]["reason"]
    assert rej[5]["reason"].startswith("invalid UTF-8") and "\\xe9" in rej[5]["raw"]
    assert rej[6]["reason"].startswith("field too large")
    assert rej[7]["reason"].startswith("not a JSON object")
    assert "unparseable tests" in rej[10]["reason"]
    assert all(r["file"].endswith("messy.jsonl") for r in rej.values())
    # re-ingesting adds no duplicate rejects or questions
    again = ingest_paths(lake, [messy], max_field_bytes=100_000)
    assert again.questions_inserted == 0 and again.rejects_new == 0
    assert lake.count("rejects") == 7


def test_strict_writes_nothing_and_names_the_first_reason(lake, messy):
    with pytest.raises(StrictReject, match="line 2: malformed JSON"):
        ingest_paths(lake, [messy], strict=True)
    assert lake.table_names() == []


def test_truncated_gzip_keeps_the_rows_before_the_damage(lake, tmp_path):
    raw = b"".join(json.dumps({"problem": f"Problem number {i}"}).encode() + b"\n" for i in range(2000))
    blob = gzip.compress(raw)
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(blob[: len(blob) // 2])
    rep = ingest_paths(lake, [f])
    assert 0 < rep.questions_inserted < 2000
    (r,) = query(connect(lake), "select reason from rejects").to_pylist()
    assert r["reason"].startswith("truncated or corrupt file")


def test_other_formats_parquet_csv_json_dict_and_datasets_dir(lake, tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"question": ["P1", "P2"], "gt": ["1", "2"]}), tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text("prompt,answer\nP3,3\nP4,4\n")
    (tmp_path / "c.json").write_text(json.dumps({"P5": {"answer": "5", "problem": "P5"}, "k6": {"problem": "P6"}}))
    datasets.Dataset.from_dict({"problem": ["P7"], "answer": ["7"]}).save_to_disk(str(tmp_path / "ds"))
    rep = ingest_paths(lake, [tmp_path / "a.parquet", tmp_path / "b.csv", tmp_path / "c.json", tmp_path / "ds"])
    assert rep.questions_inserted == 7 and not rep.rejected
    got = dict(query(connect(lake), "select problem, answer from questions").to_pylist() and
               [(r["problem"], r["answer"]) for r in query(connect(lake), "select problem, answer from questions").to_pylist()])
    assert got == {"P1": "1", "P2": "2", "P3": "3", "P4": "4", "P5": "5", "P6": None, "P7": "7"}


def test_map_renames_columns_before_the_preset(lake, tmp_path):
    f = tmp_path / "odd.jsonl"
    f.write_text(json.dumps({"statement": "Odd column names", "gold": "9"}) + "\n")
    rep = ingest_paths(lake, [f], mapping={"statement": "problem", "gold": "answer"})
    assert rep.questions_inserted == 1
    assert lake.read("questions").column("answer").to_pylist() == ["9"]


def test_trajectory_row_can_link_a_stored_question_by_id(lake, tmp_path):
    ingest_paths(lake, [write_lines(tmp_path / "q.jsonl", [json.dumps(GOOD).encode()])])
    qid = lake.read("questions").column("question_id")[0].as_py()
    f = write_lines(tmp_path / "t.jsonl", [json.dumps({"question_id": qid, "response": "<think>1+1</think>2", "model": "m"}).encode(),
                                           json.dumps({"question_id": "q_unknown", "response": "x"}).encode()])
    rep = ingest_paths(lake, [f], kind="trajectories")
    assert rep.trajectories_inserted == 1 and rep.questions_inserted == 0
    assert "unknown question_id" in next(iter(rep.rejected))
    t = lake.read("trajectories").to_pylist()[0]
    assert (t["reasoning"], t["final"], t["origin"]) == ("1+1", "2", "imported:t")


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    import ded.ingest.core as core
    from ded.lake import Lake
    orig = core._conformed
    def stalled(table, batches):  # stall once streaming into the commit has begun
        for i, b in enumerate(orig(table, batches)):
            if i == 2:
                print("STREAMING", flush=True)
                time.sleep(60)
            yield b
    core._conformed = stalled
    core.ingest_paths(Lake(sys.argv[1]), [sys.argv[2]], kind="trajectories", batch_rows=50)
""")



def test_sigkill_mid_ingest_leaves_tables_at_their_last_version_and_rerun_completes(lake, tmp_path):
    rows = [json.dumps({"problem": f"Q{i % 40}", "response": f"<think>r{i}</think>a{i}", "model": "m"}) for i in range(400)]
    f = tmp_path / "t.jsonl"
    f.write_text("\n".join(rows) + "\n")
    ingest_paths(lake, [tmp_path / "t.jsonl"], kind="trajectories", batch_rows=50)  # v1 complete
    f2 = tmp_path / "t2.jsonl"
    f2.write_text("\n".join(r.replace('"m"', '"m2"') for r in rows) + "\n")
    before = {t: lake.version(t) for t in ("questions", "trajectories")}
    p = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, lake.root, str(f2)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "STREAMING"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert {t: lake.version(t) for t in ("questions", "trajectories")} == before
    assert lake.count("trajectories") == 400  # readable, at its previous version
    rep = ingest_paths(lake, [f2], kind="trajectories", batch_rows=50)
    assert rep.trajectories_inserted == 400
    con = connect(lake)
    assert query(con, "select count(*) n, count(distinct trajectory_id) d from trajectories").to_pylist() == [{"n": 800, "d": 800}]
