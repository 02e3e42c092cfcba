"""Ingest of the real files in ../shared/data: counts, fields, labels, idempotence."""

import re
from pathlib import Path

import pytest

from ded.ingest import ingest_paths
from ded.sql import connect, query


def panel_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "trajectories/skythought_evals/aime24").glob("*.jsonl.gz"))
    assert len(files) == 16
    return files


def sources_acc(shared_data: Path) -> dict[str, float]:
    """The `acc` column of SOURCES.md for the AIME 2024 panel files."""
    acc = {}
    for line in (shared_data / "SOURCES.md").read_text().splitlines():
        m = re.match(r"\| `trajectories/skythought_evals/aime24/([\w.\-]+)\.jsonl\.gz` \| (\d+) \| \d+ \| ([\d.]+) \|", line)
        if m:
            acc[m.group(1)] = float(m.group(3))
    return acc


def test_aime24_panel_models_counts_and_recorded_accuracy(lake, shared_data):
    rep = ingest_paths(lake, panel_files(shared_data), kind="trajectories", preset="qwen-math-eval")
    assert sum(rep.rejected.values()) == 0
    con = connect(lake)
    assert query(con, "select count(distinct model) m, count(*) n from trajectories").to_pylist() == [{"m": 16, "n": 480}]
    assert query(con, "select count(*) n from questions").to_pylist() == [{"n": 30}]
    got = {r["model"]: r["acc"] for r in query(con, """
        select t.model, avg(v.correct::int) acc from trajectories t
        join verdicts v using (trajectory_id) where v.verifier = 'imported' group by 1""").to_pylist()}
    expected = sources_acc(shared_data)
    assert len(expected) == 16 and set(got) == set(expected)
    for model, acc in expected.items():
        assert got[model] == pytest.approx(acc, abs=0.0005), model
    # Sky-T1 responses open <|begin_of_thought|>; 166 of 480 never close it (README): no final answer
    cut = query(con, "select count(*) n from trajectories where reasoning is not null and final = ''").to_pylist()
    assert cut == [{"n": 166}]
    # a second ingest adds nothing
    again = ingest_paths(lake, panel_files(shared_data), kind="trajectories", preset="qwen-math-eval")
    assert (again.trajectories_inserted, again.questions_inserted, again.verdicts_inserted) == (0, 0, 0)
    # each of the 16 files names the same 30 stored questions: counted once per call
    assert (again.trajectories_present, again.questions_present) == (480, 30)


def test_eight_samples_file_keeps_repeated_texts_as_separate_samples(lake, shared_data):
    f = shared_data / "trajectories/qwen25math_math_cot_100_8samples.jsonl"
    rep = ingest_paths(lake, [f], kind="trajectories", preset="qwen-math-eval")
    assert (rep.questions_inserted, rep.trajectories_inserted) == (100, 800)
    con = connect(lake)
    r = query(con, """select count(*) n, count(distinct trajectory_id) ids,
                      count(distinct question_id || response) texts from trajectories""").to_pylist()[0]
    assert r["n"] == r["ids"] == 800
    assert r["texts"] == 800 - 76  # README: 76 responses repeat another one word for word
    assert query(con, "select min(sample_idx) lo, max(sample_idx) hi from trajectories").to_pylist() == [{"lo": 0, "hi": 7}]


def test_benchmark_and_pool_files(lake, shared_data):
    cases = [
        ("math500/math500_test.jsonl", "generic", 500),
        ("aime24/qwen25math_aime24_test.jsonl", "generic", 30),
        ("lcb/lcb_v5_test_2408_2501_joined.jsonl", "lcb", 279),
        ("lcb/lcb_v5_train_pre2408_joined.jsonl", "lcb", 580),
        ("code_tests/HumanEval.jsonl.gz", "humaneval", 164),
        ("code_tests/rllm_codeforces_test.json", "rllm", 408),
        ("code_tests/rllm_code_contests_test.json", "rllm", 165),
        ("math_pool/rllm_olympiad_bench.json", "rllm", 675),
    ]
    for rel, preset, n in cases:
        rep = ingest_paths(lake, [shared_data / rel], preset=preset)
        assert rep.read == n and sum(rep.rejected.values()) == 0, rel
        assert rep.questions_inserted + rep.questions_present == n, rel
    con = connect(lake)
    m = query(con, "select * from questions where source = 'math500_test' and source_id = 'test/precalculus/807.json'").to_pylist()[0]
    assert m["answer"] == r"\left( 3, \frac{\pi}{2} \right)" and m["domain"] == "math" and '"level": 2' in m["metadata"]
    a = query(con, "select answer from questions where source = 'qwen25math_aime24_test' order by source_id limit 1").to_pylist()
    assert a[0]["answer"].isdigit()
    lcb = query(con, "select * from questions where source = 'lcb_v5_test_2408_2501_joined' and source_id = '3517'").to_pylist()[0]
    import json

    tests = json.loads(lcb["tests"])
    assert lcb["domain"] == "code" and lcb["entry_point"] == "shortestDistanceAfterQueries"
    assert tests[0] == {"input": "5\n[[2, 4], [0, 2], [0, 4]]", "output": "[3, 2, 1]", "testtype": "functional"}
    kinds = query(con, """select count(*) filter (where tests like '%"stdin"%') s,
                                 count(*) filter (where tests like '%"functional"%') f
                          from questions where source like 'lcb%'""").to_pylist()[0]
    assert kinds["s"] > 0 and kinds["f"] > 0
    he = query(con, "select * from questions where source_id = 'HumanEval/0'").to_pylist()[0]
    assert he["entry_point"] == "has_close_elements" and json.loads(he["tests"])[0]["testtype"] == "script"
    cc = query(con, "select tests from questions where source = 'rllm_code_contests_test' limit 1").to_pylist()[0]
    assert json.loads(cc["tests"])[0]["testtype"] == "stdin"
    ob = query(con, "select answer from questions where source = 'rllm_olympiad_bench' and source_id = '1606'").to_pylist()
    assert ob == [{"answer": "2"}]  # the Python-list answer "['2']" unwrapped


def test_aime_sources_share_question_ids_modulo_boilerplate(lake, shared_data):
    ingest_paths(lake, [shared_data / "aime24/rllm_aime24_test.json"], preset="rllm")
    rep = ingest_paths(lake, [shared_data / "aime24/qwq_aime24.jsonl"])
    # QwQ prompts append "Please reason step by step…": stripped, so 24 map onto the same ids.
    # The other 6 differ for real: 5 rllm texts carry [asy] diagrams the QwQ prompts lack, and one
    # swaps "inside"/"outside" (checked by hand) — fuzzier matching is the duplicates table's job.
    assert (rep.questions_present, rep.questions_inserted) == (24, 6)
