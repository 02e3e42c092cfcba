"""Search: planted neighbours come first, --like, --where, hybrid, the IVF-PQ index, errors, the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ded.embeddings import embed_into, load_encoder
from ded.embeddings.store import _create, question_items, rows_table
from ded.ids import question_id
from ded.search import (
    SearchError,
    ensure_fts_index,
    ensure_vector_index,
    has_vector_index,
    rrf,
    search,
    vector_search,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from planted import PARAPHRASED


@pytest.fixture(scope="session")
def encoder():
    return load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu")


HEXAGON = ("A regular hexagon can be divided into six equilateral triangles. If the perimeter of one of the "
           "triangles is 21 inches, what is the perimeter, in inches, of the regular hexagon?")


@pytest.fixture
def pool(lake, shared_data, encoder):
    """30 MATH train questions plus one hand paraphrase of the MATH-500 hexagon problem."""
    train = json.loads((shared_data / "math_pool/rllm_math_train.json").read_text())[:30]
    rows = [{"question_id": question_id(r["problem"]), "problem": r["problem"], "source": "math_train",
             "domain": "math"} for r in train]
    planted = PARAPHRASED[("math500", 5)]
    rows.append({"question_id": question_id(planted), "problem": planted, "source": "planted", "domain": "math"})
    lake.merge("questions", rows)
    embed_into(lake, "question_vectors", question_items(lake), encoder)
    ensure_fts_index(lake)
    return lake, question_id(planted)


def test_planted_neighbour_first(pool, encoder):
    lake, planted = pool
    hits = search(lake, text=HEXAGON, k=5, encoder=encoder)
    assert hits[0].id == planted and hits[0].source == "planted"
    assert hits[0].similarity > 0.9 > hits[1].similarity
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
    assert hits[0].snippet.startswith("Split a regular hexagon")
    like = search(lake, like=planted, k=3)
    assert planted not in [h.id for h in like] and len(like) == 3


def test_where_prefilters(pool, encoder):
    lake, planted = pool
    hits = search(lake, text=HEXAGON, k=5, where="source = 'math_train'", encoder=encoder)
    assert len(hits) == 5 and planted not in {h.id for h in hits} and {h.source for h in hits} == {"math_train"}
    assert search(lake, text=HEXAGON, k=5, where="source = 'nothing'", encoder=encoder) == []
    with pytest.raises(Exception, match="predicate"):
        search(lake, text=HEXAGON, where="1; drop table questions", encoder=encoder)
    # a typo'd column is a one-line error that names the close match, not a DuckDB traceback
    with pytest.raises(SearchError, match=r"--where \"domian = 'math'\" .*domian.*\"domain\""):
        search(lake, text=HEXAGON, where="domian = 'math'", encoder=encoder)


def test_where_rows_are_reused_until_the_questions_change(pool, encoder):
    """The RowSet of a --where is built once per predicate and table versions: a new matching question makes
    the next search build it again and find that question."""
    from ded.search import filter_rows

    lake, planted = pool
    first = filter_rows(lake, "questions", "source = 'planted'")
    assert filter_rows(lake, "questions", "source = 'planted'") is first and first.ids == {planted}
    other = PARAPHRASED[("math500", 5)] + " Give the answer in lowest terms."
    lake.merge("questions", [{"question_id": question_id(other), "problem": other, "source": "planted",
                              "domain": "math"}])
    embed_into(lake, "question_vectors", question_items(lake), encoder)
    again = filter_rows(lake, "questions", "source = 'planted'")
    assert again is not first and again.ids == {planted, question_id(other)}
    hits = search(lake, text=HEXAGON, k=5, where="source = 'planted'", encoder=encoder)
    assert {h.id for h in hits} == {planted, question_id(other)}


def test_hybrid_fuses_keyword_and_vector(pool, encoder):
    lake, planted = pool
    hits = search(lake, text="regular hexagon equilateral triangles perimeter", k=3, hybrid=True, encoder=encoder)
    assert hits[0].id == planted and hits[0].rank_score == pytest.approx(2 / 61, abs=1e-4)  # first in both lists
    assert all(h.similarity == h.similarity for h in hits)  # cosine filled in for every fused hit (no NaN)
    assert rrf(["a", "b"], ["b", "c"])[0][0] == "b"
    with pytest.raises(SearchError, match="--hybrid"):
        search(lake, like=planted, hybrid=True)


def test_errors_name_the_fix(lake, encoder):
    with pytest.raises(SearchError, match="ded embed"):
        search(lake, text="x", encoder=encoder)
    with pytest.raises(SearchError, match="--table"):
        search(lake, text="x", table="verdicts", encoder=encoder)
    with pytest.raises(SearchError, match="one of them"):
        search(lake, text="x", like="q_1")
    for blank in ("", "   \n"):  # an empty query would embed to some vector and rank everything by noise
        with pytest.raises(SearchError, match="query TEXT is empty"):
            search(lake, text=blank, encoder=encoder)


def test_ivf_pq_index_built_past_threshold_and_used(lake):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 32)).astype(np.float32)
    v = centres[rng.integers(0, 20, 1200)] + rng.normal(scale=0.2, size=(1200, 32)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = [f"q_{i:05d}" for i in range(1200)]
    _create(lake, "question_vectors", 32, "create")
    lake.append("question_vectors", rows_table(ids[:600], [0] * 600, v[:600], "synthetic", ["h"] * 600))
    assert ensure_vector_index(lake, "question_vectors", threshold=1000).startswith("flat")
    assert not has_vector_index(lake, "question_vectors")
    lake.append("question_vectors", rows_table(ids[600:], [0] * 600, v[600:], "synthetic", ["h"] * 600))
    assert ensure_vector_index(lake, "question_vectors", threshold=1000).startswith("built IVF_PQ")
    assert has_vector_index(lake, "question_vectors")
    recall = []
    for qi in range(0, 1200, 60):
        exact = set(np.argsort(-(v @ v[qi]))[:10])
        got = vector_search(lake, "questions", v[qi], k=10, nprobes=8, refine_factor=10)
        recall.append(len({int(i[2:]) for i, _, _ in got} & exact) / 10)
    assert np.mean(recall) >= 0.9
    assert ensure_vector_index(lake, "question_vectors", threshold=1000) == "updated"


def test_cli_search_json(pool, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ded.cli import app

    lake, planted = pool
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["--lake", lake.root, "search", HEXAGON, "-k", "2", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output[res.output.index("["):])
    assert rows[0]["id"] == planted and set(rows[0]) >= {"id", "similarity", "source", "snippet"}
    res = CliRunner().invoke(app, ["--lake", lake.root, "search", "--like", planted, "-k", "1"])
    assert res.exit_code == 0 and "nearest questions" in res.output


def test_cli_text_query_from_a_fresh_process_skips_torch(pool, encoder, tmp_path):
    """`ded search TEXT` encodes the query with the NumPy MiniLM (ded.embeddings.numpy_minilm): a fresh process
    imports neither torch nor sentence-transformers, and its hits and similarities are the torch encoder's."""
    import subprocess

    lake, planted = pool
    code = ("import sys, json\nfrom ded.cli import app\ntry:\n"
            f"    app(['--lake', {lake.root!r}, 'search', {HEXAGON!r}, '-k', '3', '--format', 'json'])\n"
            "except SystemExit:\n    pass\n"
            "print('heavy:', [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules])")
    import os

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}  # this checkout's ded
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert "heavy: []" in out.stdout, out.stdout + out.stderr
    rows = json.loads(out.stdout[out.stdout.index("["):out.stdout.index("\nheavy:")])
    ref = search(lake, text=HEXAGON, k=3, encoder=encoder)
    assert [r["id"] for r in rows] == [h.id for h in ref] and rows[0]["id"] == planted
    assert [r["similarity"] for r in rows] == pytest.approx([h.similarity for h in ref], abs=2e-4)


def test_where_ids_over_both_tables_through_the_sql_file(lake):
    """sql/search/matching_ids.sql: the id column of whichever table is searched, filtered by --where."""
    from ded.search.query import where_ids

    lake.merge("questions", [{"question_id": f"q{i}", "problem": f"P{i}", "domain": d, "source": "s"}
                             for i, d in enumerate(["math", "code", "math"])])
    lake.merge("trajectories", [{"trajectory_id": f"t{i}", "question_id": "q0", "model": m, "sample_idx": i,
                                 "response": "r"} for i, m in enumerate(["a", "b", "a"])])
    assert sorted(where_ids(lake, "questions", "domain = 'math'")) == ["q0", "q2"]
    assert sorted(where_ids(lake, "trajectories", "model = 'a' AND question_id = 'q0'")) == ["t0", "t2"]
    assert where_ids(lake, "questions", "domain = 'none'") == set()
    with pytest.raises(SearchError, match=r"does not run over questions: .*Conversion Error"):
        where_ids(lake, "questions", "domain = 1")  # binds, fails while it runs: still one line


def test_rows_without_vectors_are_named_not_silently_skipped(pool, encoder, caplog):
    """Questions ingested after the last `ded embed` cannot be found: the search says how many and what to run."""
    from ded.search.query import warn_unembedded

    lake, _ = pool
    assert warn_unembedded(lake, "questions") == 0
    lake.merge("questions", [{"question_id": question_id(f"New question {i}?"), "problem": f"New question {i}?",
                              "source": "late", "domain": "math"} for i in range(3)])
    with caplog.at_level("WARNING"):
        search(lake, text=HEXAGON, k=2, encoder=encoder)
    assert "3 of 34 questions have no vectors yet and are not searched: run `ded embed`" in caplog.text


def test_filtered_search_paths_agree_with_exact(lake, monkeypatch):
    """Each path of vector_search with a filter returns the exact filtered top k: the flat path, the index
    over-fetched for a broad filter, the exact subset for a narrow one, and after a deletion."""
    from ded.search import flat, query

    rng = np.random.default_rng(1)
    v = rng.normal(size=(3000, 32)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = np.array([f"q_{i:05d}" for i in range(3000)])
    _create(lake, "question_vectors", 32, "create")
    lake.append("question_vectors", rows_table(ids.tolist(), [0] * 3000, v, "synthetic", ["h"] * 3000))

    def exact(q, keep):
        s = np.where(keep, v @ q, -np.inf)
        return [ids[i] for i in np.argsort(-s)[:5]]

    broad, narrow = np.arange(3000) % 2 == 0, np.arange(3000) % 300 == 0
    q = v[7] + 0.1 * v[8]
    for keep in (broad, narrow):  # no index: exact NumPy over the table in memory
        assert [i for i, _, _ in vector_search(lake, "questions", q, k=5, allowed=set(ids[keep]))] == exact(q, keep)
    ensure_vector_index(lake, "question_vectors", threshold=0, force=True)
    assert has_vector_index(lake, "question_vectors")
    took = []
    monkeypatch.setattr(query, "SUBSET_MAX_ROWS", 100)  # 10 rows: exact; 1500: the index
    real_subset = flat.rowset_search
    monkeypatch.setattr(query, "rowset_search", lambda *a, **k: took.append(1) or real_subset(*a, **k))
    got = vector_search(lake, "questions", q, k=5, allowed=set(ids[narrow]), nprobes=64)
    assert [i for i, _, _ in got] == exact(q, narrow) and took == [1]  # 10 of 3000 rows: the exact subset
    got = vector_search(lake, "questions", q, k=5, allowed=set(ids[broad]), nprobes=64)
    assert took == [1] and len(got) == 5  # half the rows: the index, over-fetched, then filtered
    assert len({i for i, _, _ in got} & set(exact(q, broad))) >= 4
    assert all(int(i[2:]) % 2 == 0 for i, _, _ in got)
    lake.delete("question_vectors", "id = 'q_00000'")  # row positions shift: the subset path must follow
    kept = narrow & (ids != "q_00000")
    got = vector_search(lake, "questions", q, k=5, allowed=set(ids[narrow]), nprobes=64)
    assert [i for i, _, _ in got] == exact(q, kept)


def test_rowset_is_gathered_once_and_follows_the_table(lake):
    """A RowSet gathers its rows' vectors on the first query and reuses them; when the table changes it is
    rebuilt from its ids, so a reused filter never searches stale rows."""
    from ded.search import row_set

    rng = np.random.default_rng(2)
    v = rng.normal(size=(400, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    ids = [f"q_{i:04d}" for i in range(400)]
    _create(lake, "question_vectors", 16, "create")
    lake.append("question_vectors", rows_table(ids, [0] * 400, v, "synthetic", ["h"] * 400))
    keep = np.arange(400) % 10 == 3
    rs = row_set(lake, "question_vectors", {i for i, k in zip(ids, keep) if k})
    assert rs.vectors is None and len(rs.positions) == 40 and rs.share == 0.1
    q = v[13]
    want = [ids[i] for i in np.argsort(-np.where(keep, v @ q, -np.inf))[:3]]
    assert [i for i, _, _ in vector_search(lake, "questions", q, k=3, allowed=rs)] == want == ["q_0013", *want[1:]]
    gathered = rs.vectors
    assert gathered is not None and gathered.shape == (40, 16)
    assert [i for i, _, _ in vector_search(lake, "questions", q, k=3, allowed=rs)] == want
    assert rs.vectors is gathered  # reused, not gathered again
    lake.delete("question_vectors", "id = 'q_0013'")
    got = [i for i, _, _ in vector_search(lake, "questions", q, k=3, allowed=rs)]
    assert "q_0013" not in got and got[:2] == want[1:]
    _create(lake, "trajectory_vectors", 16, "create")
    lake.append("trajectory_vectors", rows_table(ids, [0] * 400, v, "synthetic", ["h"] * 400))
    with pytest.raises(SearchError, match="filter_rows"):  # a questions filter is not a trajectories one
        vector_search(lake, "trajectories", q, k=3, allowed=rs)
