"""`.json` arrays are streamed element by element: same records as a whole-file load, memory bounded."""

import gzip
import json
import random
import tracemalloc

from ded.ingest.readers import read_json, read_records


def _records(n: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append({"id": i, "problem": f"Problem {i}: " + "".join(rng.choice('ab "\\\n\u00e9\u4e2d{}[],') for _ in range(rng.randint(0, 400))),
                    "answer": rng.choice([i, str(i), None, 1.5, True]), "tests": [{"input": "[1, 2]", "output": "}"}],
                    "nested": {"a": [1, {"b": "]"}]}})
    return out


def test_streamed_array_gives_the_same_records_as_a_whole_load(tmp_path):
    recs = _records(12_000)
    f = tmp_path / "big.json"
    f.write_text(json.dumps(recs, ensure_ascii=False, indent=1))
    assert f.stat().st_size > 4 << 20  # multi-MB
    got = list(read_json(f))
    assert [r.line for r in got] == list(range(1, len(recs) + 1))
    assert [r.data for r in got] == recs
    g = tmp_path / "big.json.gz"
    g.write_bytes(gzip.compress(json.dumps(recs).encode()))
    assert [r.data for r in read_records(g)] == recs


def test_memory_does_not_grow_with_the_file(tmp_path):
    recs = _records(30_000, seed=1)
    f = tmp_path / "big.json"
    f.write_text(json.dumps(recs))
    size = f.stat().st_size
    assert size > 8 << 20
    del recs
    tracemalloc.start()
    n = 0
    for r in read_json(f):
        n += r.data is not None
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 30_000
    assert peak < size / 4, f"peak {peak:,} bytes for a {size:,}-byte file: not streamed"


def test_damaged_arrays_keep_the_good_elements(tmp_path):
    f = tmp_path / "trunc.json"
    f.write_text('[{"problem": "a"}, 3, {"problem": "b"}, {"problem": "c')
    got = list(read_json(f))
    assert [r.data for r in got[:3]] == [{"problem": "a"}, None, {"problem": "b"}]
    assert got[1].reason == "not a JSON object (got int)"
    assert got[3].data is None and got[3].line == 4 and got[3].reason.startswith("truncated")
    f.write_text('[{"problem": "a"}, {"problem": x}, {"problem": "b"}]')
    got = list(read_json(f))
    assert got[0].data == {"problem": "a"} and got[1].data is None and got[1].reason.startswith("malformed JSON")
    assert len(got) == 2  # the rest cannot be found again after a syntax error; the reason says so
    assert "not read" in got[1].reason
    f.write_text("[]")
    assert list(read_json(f)) == []
    f.write_text('  [ {"problem": "a"} ] trailing')
    got = list(read_json(f))
    assert got[0].data == {"problem": "a"} and got[1].reason.startswith("malformed JSON")


def test_dicts_and_json_lines_with_a_json_suffix_still_load(tmp_path):
    f = tmp_path / "d.json"
    f.write_text(json.dumps({"k1": {"problem": "a"}, "k2": {"problem": "b"}}))
    assert [r.data for r in read_json(f)] == [{"_key": "k1", "problem": "a"}, {"_key": "k2", "problem": "b"}]
    f.write_text(json.dumps({"problem": "single"}))
    assert [r.data for r in read_json(f)] == [{"problem": "single"}]
    f.write_text('{"problem": "a"}\n{"problem": "b"}\n')
    assert [r.data for r in read_json(f)] == [{"problem": "a"}, {"problem": "b"}]


def test_tiny_chunks_split_numbers_strings_and_multibyte_characters(tmp_path):
    recs = [{"n": 123456789, "x": -1.25e-3, "s": "caf\u00e9 \u4e2d\u6587 \\\" ]}", "b": [True, False, None]}
            for _ in range(50)]
    f = tmp_path / "s.json"
    f.write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    for chunk in (1, 2, 3, 5, 7, 64):
        assert [r.data for r in read_json(f, chunk_bytes=chunk)] == recs, chunk
