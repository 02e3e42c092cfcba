"""`load_benchmarks` writes only what changed: an unchanged reload adds no `benchmark_items` version."""

from __future__ import annotations

import json

import polars as pl

from ded.benchmarks import load_benchmarks


def _write(path, items):
    path.write_text("".join(json.dumps(it) + "\n" for it in items))


def _items(n=3, edit=None):
    edit = edit or {}
    return [{"id": f"b{i}", "problem": f"What is {i} + {i}?", "answer": edit.get(i, str(2 * i))} for i in range(n)]


def test_unchanged_reload_is_a_noop_and_a_change_still_updates(lake, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _write(a, _items())
    _write(b, _items(2))
    specs = {"bench-a": {"path_or_hub": str(a), "domain": "math"}, "bench-b": {"path_or_hub": str(b), "domain": "math"}}
    assert load_benchmarks(lake, specs) == {"bench-a": 3, "bench-b": 2}
    v = lake.version("benchmark_items")
    assert load_benchmarks(lake, specs) == {"bench-a": 3, "bench-b": 2}
    assert lake.version("benchmark_items") == v  # nothing changed: no commit

    _write(a, _items(4, {1: "3"}))  # b1's answer changed and b3 is new
    load_benchmarks(lake, specs, names=["bench-a"])
    assert lake.version("benchmark_items") == v + 1  # one merge commit for both
    rows = {(r["benchmark"], r["item_id"]): r for r in pl.from_arrow(lake.read("benchmark_items")).to_dicts()}
    assert len(rows) == 6 and rows[("bench-a", "b1")]["answer"] == "3" and ("bench-a", "b3") in rows
    assert rows[("bench-b", "b1")]["answer"] == "2"  # another benchmark's item of the same id untouched
    v = lake.version("benchmark_items")
    load_benchmarks(lake, specs)
    assert lake.version("benchmark_items") == v

    _write(a, _items(4, {1: "3"})[:2])  # items that the spec no longer yields are still removed
    load_benchmarks(lake, specs, names=["bench-a"])
    got = pl.from_arrow(lake.read("benchmark_items", filter="benchmark = 'bench-a'"))["item_id"].sort().to_list()
    assert got == ["b0", "b1"] and lake.version("benchmark_items") == v + 1
