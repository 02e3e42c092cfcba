"""The shared benchmark loader: local files of every published shape → benchmark_items."""

from __future__ import annotations

import csv
import json

import pytest

from ded.benchmarks import BenchmarkError, load_benchmarks, normalize_answer, read_items
from ded.params import BenchmarkSpec


def spec(path, **kw) -> BenchmarkSpec:
    return BenchmarkSpec(path_or_hub=str(path), **kw)


def test_aime24_three_shapes_agree(shared_data):
    d = shared_data / "aime24"
    qwq = read_items("aime24", spec(d / "qwq_aime24.jsonl"))
    q25 = read_items("aime24", spec(d / "qwen25math_aime24_test.jsonl"))
    rllm = read_items("aime24", spec(d / "rllm_aime24_test.json"))
    assert len(qwq) == len(q25) == len(rllm) == 30
    # QwQ prompts carry the boxed instruction; the loader strips it
    assert not any("reason step by step" in it["problem"].lower() for it in qwq)
    # "025" and 25 are the same AIME answer
    assert sorted(it["answer"] for it in qwq) == sorted(it["answer"] for it in q25) == sorted(it["answer"] for it in rllm)
    assert {it["item_id"] for it in q25} == {str(i) for i in range(60, 90)}  # the file's own ids are kept
    assert q25[0]["solution"] and json.loads(rllm[0]["metadata"])["year"] == 2024


def test_load_merges_on_key_and_reports_counts(lake, shared_data):
    specs = {"aime24": spec(shared_data / "aime24/qwen25math_aime24_test.jsonl"),
             "aime25": spec(shared_data / "aime25/qwq_aime25.jsonl"),
             "math500": spec(shared_data / "math500/math500_test.jsonl")}
    assert load_benchmarks(lake, specs) == {"aime24": 30, "aime25": 30, "math500": 500}
    v = lake.version("benchmark_items")
    assert load_benchmarks(lake, specs, names=["aime25"]) == {"aime25": 30}  # rerun: same rows
    # an unchanged reload commits nothing (tests/test_benchmarks_reload.py covers a changed item)
    assert lake.count("benchmark_items") == 560 and lake.version("benchmark_items") == v
    m = lake.read("benchmark_items", filter="benchmark = 'math500'").to_pylist()
    assert {json.loads(r["metadata"])["level"] for r in m} == {1, 2, 3, 4, 5}
    assert any(r["answer"].startswith("\\left(") for r in m)  # LaTeX answers kept verbatim


def test_lcb_date_window_and_tests(lake, shared_data):
    path = shared_data / "lcb/lcb_v5_test_2408_2501_joined.jsonl"
    full = {"lcb": spec(path, domain="code", options={"start_date": "2024-08-01", "end_date": "2025-02-01"})}
    assert load_benchmarks(lake, full) == {"lcb": 279}
    items = lake.read("benchmark_items").to_pylist()
    tests = json.loads(items[0]["tests"])
    assert tests and {"input", "output", "testtype"} <= set(tests[0])  # Python-literal strings parsed
    assert all(r["domain"] == "code" for r in items)
    leetcode = [r for r in items if json.loads(r["metadata"])["platform"] == "leetcode"]
    assert leetcode and all("class Solution" in r["starter_code"] for r in leetcode)
    # a narrower window drops the items it no longer yields
    narrow = {"lcb": spec(path, domain="code", options={"start_date": "2024-11-01", "end_date": "2025-02-01"})}
    n = load_benchmarks(lake, narrow)["lcb"]
    assert 0 < n < 279 and lake.count("benchmark_items") == n
    dates = [json.loads(r["metadata"])["contest_date"] for r in lake.read("benchmark_items").to_pylist()]
    assert min(dates) >= "2024-11-01"


def test_gpqa_hub_shape_csv(tmp_path):
    p = tmp_path / "gpqa_diamond.csv"
    cols = ["Record ID", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
            "Incorrect Answer 3", "High-level domain"]
    with p.open("w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        w.writerow(dict(zip(cols, ["rec1", "Which gas is noble? ", " Argon", "Nitrogen", "Oxygen", "Chlorine", "Chemistry"])))
    (it,) = read_items("gpqa", spec(p, domain="science"))
    assert it["item_id"] == "rec1" and it["answer"] == "Argon"
    assert json.loads(it["choices"])[0] == "Argon" and it["domain"] == "science"


def test_bad_inputs_name_the_fix(tmp_path, lake):
    with pytest.raises(BenchmarkError, match="not found"):
        read_items("x", spec(tmp_path / "missing.jsonl"))
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps({"text": "no problem column", "answer": 1}) + "\n")
    with pytest.raises(BenchmarkError, match="options.fields.problem"):
        read_items("x", spec(p))
    assert read_items("x", spec(p, options={"fields": {"problem": "text"}}))[0]["problem"] == "no problem column"
    with pytest.raises(BenchmarkError, match="unknown benchmarks"):
        load_benchmarks(lake, {"a": spec(p)}, names=["b"])
    (tmp_path / "b.txt").write_text("x")
    with pytest.raises(BenchmarkError, match="unsupported file type"):
        read_items("x", spec(tmp_path / "b.txt"))


def test_normalize_answer():
    assert normalize_answer("025") == normalize_answer(25) == "25"
    assert normalize_answer(" \\frac{1}{2} ") == "\\frac{1}{2}" and normalize_answer(None) is None
