"""Search the corpus by meaning: text, `--like ID`, `--where` filters, and hybrid (vector + full text).

A query vector is searched in the vector table: exact NumPy over the table in memory below the index
threshold (`ded.search.flat`), the LanceDB index above it (`nprobes`, and a `refine_factor` re-rank by exact
distance). Long texts have several chunks: results are grouped per id and keep the best chunk. `--where`
is a predicate over the source table (questions or trajectories); it is checked by
`ded.sql.check_predicate`, run read-only in DuckDB, and the matching ids restrict the vector search: a
selective filter is searched exactly over its rows, a broad one through the index with an over-fetch sized
by the share it keeps (`vector_search`), so filtered results are not post-filtered leftovers. Hybrid mode fuses the vector ranking with the BM25 ranking of the FTS index on
`questions.problem` by reciprocal rank fusion (RRF, k = 60, Cormack et al. 2009), and reports the
cosine of every fused hit.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ded.embeddings.store import load_vectors
from ded.errors import DedError
from ded.lake import Lake
from ded.search.flat import RowSet, current, flat_search, row_set, rowset_search
from ded.search.index import has_vector_index
from ded.sql import SqlError, check_predicate, connect, run_sql_file

# --table NAME -> (vector table, source table, source key, "source" column, snippet columns in order)
TABLES = {
    "questions": ("question_vectors", "questions", "question_id", "source", ["problem"]),
    "trajectories": ("trajectory_vectors", "trajectories", "trajectory_id", "model", ["reasoning", "final", "response"]),
}
RRF_K = 60  # Cormack, Clarke & Buettcher (SIGIR 2009): k = 60
PREFILTER_MAX_IDS = 20_000  # FTS: above this, filter an over-fetched ranking instead of an SQL IN list
# a filter keeping at most this many rows of an indexed table is searched exactly over them (its rows
# gathered once, `ded.search.flat.RowSet`): the exact product costs in proportion to the rows kept, the index
# about the same whatever the filter. At 1M rows exact over a gathered 5% / 12% filter took 12 / 15 ms and
# the over-fetched index 20-24 ms for a 50% filter (it had taken 99 / 156 ms for the 5% / 12% ones); at 100k
# rows exact over a 50% filter took 5 ms against 13 ms for the index (bench/search.py, docs/performance.md)
SUBSET_MAX_ROWS = 200_000
ROWSET_CACHE = 4  # filters whose RowSet search() keeps per process (each gathered: <= 300 MB at 384 dims)
_ROWSETS: dict[tuple, RowSet] = {}


class SearchError(DedError, ValueError):
    """A search that cannot run; the message says what to do."""

@dataclass
class Hit:
    id: str
    similarity: float
    source: str | None
    snippet: str
    chunk: int = 0
    rank_score: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


_OPEN: dict[tuple, object] = {}


def open_table(lake: Lake, name: str, raw: bool = False):
    """A LanceDB handle (`raw`: the Lance dataset), reused while the table's version is unchanged (opening costs
    ~1 ms a query). Vector search uses the Lance dataset: `import lancedb` alone costs ~1.3-1.9 s on this CPU
    (its generated REST client and pandas), more than the rest of a cold `ded search`, and the index query is
    the same Lance scan either way (same ids and distances; docs/performance.md)."""
    key = (lake.root, tuple(sorted(lake.storage_options.items())), name, raw)
    versions = None
    if "://" not in lake.root or lake.root.startswith("file://"):
        vdir = Path(lake.uri(name).removeprefix("file://")) / "_versions"
        versions = len(os.listdir(vdir)) if vdir.is_dir() else None
    hit = _OPEN.get(key)
    if hit is not None and versions is not None and hit[0] == versions:
        return hit[1]
    tbl = lake.dataset(name) if raw else lake.lancedb().open_table(name)
    _OPEN[key] = (versions, tbl)
    return tbl


def check_table(lake: Lake, table: str) -> tuple:
    if table not in TABLES:
        raise SearchError(f"--table must be one of {sorted(TABLES)}, got {table!r}")
    spec = TABLES[table]
    if not lake.exists(spec[0]):
        flag = " --trajectories" if table == "trajectories" else ""
        raise SearchError(f"no vectors in {spec[0]}: run `ded embed{flag}` first")
    return spec


def stored_vector(lake: Lake, table: str, id_: str) -> np.ndarray:
    """The mean of a stored row's chunk vectors (what `--like ID` searches with)."""
    ids, v = load_vectors(lake, TABLES[table][0], ids=[id_])
    if not ids:
        raise SearchError(f"{id_!r} has no vector in {TABLES[table][0]}; check the id "
                          f"(`ded sql \"select {TABLES[table][2]} from {table} limit 5\"`) or run `ded embed`")
    return v[0]


def where_ids(lake: Lake, table: str, where: str) -> set[str]:
    """Ids of the rows of `table` that match the --where predicate (sql/search/matching_ids.sql)."""
    import duckdb

    key = TABLES[table][2]
    pred = check_predicate(where, table)
    con = connect(lake, read_only=True)
    try:
        # The predicate is the one dynamic part: an SQL fragment by design (a $parameter carries values,
        # not expressions), parsed by check_predicate above and applied through DuckDB's relation API on
        # this read-only connection; the query itself is the file.
        con.table(table).filter(pred).create_view("matching")
        return set(run_sql_file(con, "search/matching_ids", key=key).column("id").to_pylist())
    except (duckdb.Error, SqlError) as e:  # parses, but names an unknown column or compares mismatched types
        lines = [ln.strip() for ln in str(e).splitlines()
                 if ln.strip().strip("^") and not ln.startswith("LINE ")]  # drop DuckDB's caret pointer
        raise SearchError(f"--where \"{pred}\" does not run over {table}: {' '.join(lines[:2])}; list the columns "
                          f"with `ded sql \"describe {table}\"`") from None
    finally:
        con.close()


def filter_rows(lake: Lake, table: str, where: str) -> RowSet:
    """The RowSet of the vector rows a `--where` over `table` keeps, cached per (predicate, table versions) for
    the process: a notebook or server running many queries under one filter runs the DuckDB step (~0.2-0.4 s
    at 1M questions), the id lookup and the gather of the rows once."""
    vt = check_table(lake, table)[0]
    src = TABLES[table][1]
    key = (lake.root, table, where, lake.version(src))
    hit = _ROWSETS.get(key)
    if hit is not None:
        hit = current(lake, hit)
    else:
        hit = row_set(lake, vt, where_ids(lake, table, where))
        if len(_ROWSETS) >= ROWSET_CACHE:
            _ROWSETS.pop(next(iter(_ROWSETS)))
    _ROWSETS[key] = hit
    return hit


def vector_search(lake: Lake, table: str, vector: np.ndarray, k: int = 10,
                  allowed: Collection[str] | RowSet | None = None, nprobes: int = 32, refine_factor: int = 10,
                  exclude: set[str] | None = None, ef: int | None = None) -> list[tuple[str, int, float]]:
    """[(id, best chunk, cosine)] of the k nearest ids (among `allowed`, ids or a `RowSet`, when given).

    Which path runs (each measured in bench/search.py): no index → exact NumPy over the table in memory;
    an index → the index. With a filter: exact NumPy over the kept rows when there is no index or the
    filter keeps at most `SUBSET_MAX_ROWS` rows; above it, the index over-fetched by the inverse of
    the share kept, re-ranked by exact distance with the same budget of exact reads as an unfiltered query,
    and filtered (exact over the kept rows again when that leaves fewer than k ids). Lance's own prefilter
    (`row_addr_allowlist`, a roaring bitmap of the kept rows, into the IVF-PQ search) is fast (5-16 ms at 1M)
    but its recall@10 on a selective filter is poor: 0.24-0.69 for a 5% filter at nprobes 32-128 with 300
    candidates re-ranked exactly, as a selective filter's nearest rows lie in partitions far from the query.
    """
    vt = check_table(lake, table)[0]
    exclude = exclude or set()
    indexed = has_vector_index(lake, vt)
    rs = None
    if allowed is not None:
        if isinstance(allowed, RowSet):
            if allowed.table != vt:
                raise SearchError(f"this filter's rows are of {allowed.table}, not {vt}: build it with "
                                  f"filter_rows(lake, {table!r}, where)")
            rs = current(lake, allowed)
        else:
            rs = row_set(lake, vt, allowed)
        if len(rs.positions) == 0:
            return []
        if not indexed or len(rs.positions) <= SUBSET_MAX_ROWS:
            return rowset_search(lake, rs, vector, k, exclude)
    elif not indexed:
        return flat_search(lake, vt, vector, k, exclude)
    fetch = (k + len(exclude)) * 4  # chunks of one id compete for slots; over-fetch, then group
    keep = None
    if rs is not None:
        keep = rs.ids
        budget = fetch * refine_factor  # exact re-ranks an unfiltered query pays for
        fetch = int(fetch / rs.share * 1.5) + 1
        refine_factor = max(1, budget // fetch)
    nearest = {"column": "vector", "q": np.asarray(vector, np.float32), "k": fetch, "metric": "cosine",
               "nprobes": nprobes, "refine_factor": refine_factor}
    if ef:
        nearest["ef"] = ef
    res = open_table(lake, vt, raw=True).to_table(columns=["id", "chunk", "_distance"], nearest=nearest)
    best: dict[str, tuple[int, float]] = {}
    for i, c, d in zip(res.column("id").to_pylist(), res.column("chunk").to_pylist(),
                       res.column("_distance").to_pylist()):
        if i in exclude or (keep is not None and i not in keep):
            continue
        sim = 1.0 - float(d)
        if i not in best or sim > best[i][1]:
            best[i] = (c, sim)
    if rs is not None and len(best) < k:
        return rowset_search(lake, rs, vector, k, exclude)
    ranked = sorted(best.items(), key=lambda kv: -kv[1][1])[:k]
    return [(i, c, s) for i, (c, s) in ranked]


def fts_search(lake: Lake, text: str, k: int, allowed: list[str] | None = None) -> list[str]:
    """Question ids ranked by BM25 on `questions.problem` (the FTS index; flat when not built)."""
    tbl = open_table(lake, "questions")
    big = allowed is not None and len(allowed) > PREFILTER_MAX_IDS
    q = tbl.search(text, query_type="fts", fts_columns="problem").select(["question_id", "_score"])
    q = q.limit(k * 20 if big else k)
    if allowed is not None and not big:
        q = q.where("question_id IN (" + ", ".join("'" + a.replace("'", "''") + "'" for a in allowed) + ")",
                    prefilter=True)
    ids = q.to_arrow().column("question_id").to_pylist()
    if big:  # an SQL IN list of that size costs more than filtering an over-fetched ranking
        keep = set(allowed)
        ids = [i for i in ids if i in keep][:k]
    return ids


def rrf(*rankings: list[str], k: int = RRF_K) -> list[tuple[str, float]]:
    score: dict[str, float] = {}
    for ranking in rankings:
        for r, i in enumerate(ranking):
            score[i] = score.get(i, 0.0) + 1.0 / (k + r + 1)
    return sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))


def _details(lake: Lake, table: str, ids: list[str]) -> dict[str, tuple[str | None, str]]:
    _, src, key, source_col, snippet_cols = TABLES[table]
    if not ids:
        return {}
    flt = f'{key} IN (' + ", ".join("'" + i.replace("'", "''") + "'" for i in ids) + ")"
    t = lake.read(src, columns=[key, source_col, *snippet_cols], filter=flt).to_pylist()
    out = {}
    for r in t:
        text = next((r[c] for c in snippet_cols if r.get(c)), "") or ""
        out[r[key]] = (r[source_col], " ".join(text.split()))
    return out


def check_args(text: str | None, like: str | None, k: int) -> None:
    """The query's shape, checked before anything loads (the embedding model takes seconds)."""
    if (text is None) == (like is None):
        raise SearchError("give a query TEXT or --like ID (one of them)")
    if text is not None and not text.strip():
        raise SearchError("the query TEXT is empty; give words to search for, e.g. ded search \"sum of the digits\", "
                          "or --like ID")
    if k < 1:
        raise SearchError(f"-k must be at least 1, got {k}")


def warn_unembedded(lake: Lake, table: str) -> int:
    """Warn (and return how many) when rows of `table` have no vectors yet: search cannot find them."""
    import logging

    vectors, rows = TABLES[table][0], TABLES[table][1]
    total = lake.count(rows) if lake.exists(rows) else 0
    have = lake.count(vectors) if lake.exists(vectors) else 0
    missing = max(0, total - have)
    if missing:
        logging.getLogger(__name__).warning("%d of %d %s have no vectors yet and are not searched: run `ded embed`",
                                            missing, total, rows)
    return missing


def search(lake: Lake, *, text: str | None = None, like: str | None = None, table: str = "questions", k: int = 10,
           where: str | None = None, hybrid: bool = False, encoder=None, snippet_chars: int = 160,
           nprobes: int = 32, refine_factor: int = 10) -> list[Hit]:
    """The k best hits for a text query (embedded with `encoder`) or the stored row `like`."""
    check_args(text, like, k)
    check_table(lake, table)
    if hybrid and (table != "questions" or text is None):
        raise SearchError("--hybrid combines text and vector search over questions: use it with a TEXT query "
                          "and --table questions")
    warn_unembedded(lake, table)
    allowed = filter_rows(lake, table, where) if where else None
    if like is not None:
        vec, exclude = stored_vector(lake, table, like), {like}
    else:
        if encoder is None:
            raise SearchError("a text query needs the embedding model (encoder=load_encoder(params.embed.model))")
        vec, exclude = encoder.encode([text])[0], set()
    hits = vector_search(lake, table, vec, k if not hybrid else max(k, 50), allowed, nprobes, refine_factor, exclude)
    sims = {i: (c, s) for i, c, s in hits}
    fused: list[tuple[str, float | None]] = [(i, None) for i, _, _ in hits]
    if hybrid:
        fused = rrf([i for i, _, _ in hits], fts_search(lake, text, max(k, 50), None if allowed is None else allowed.ids))
        missing = [i for i, _ in fused[:k] if i not in sims]
        if missing:
            mids, mv = load_vectors(lake, TABLES[table][0], ids=missing)
            sims.update({i: (0, float(v @ vec)) for i, v in zip(mids, mv)})
    fused = fused[:k]
    info = _details(lake, table, [i for i, _ in fused])
    out = []
    for i, score in fused:
        src, snip = info.get(i, (None, ""))
        c, s = sims.get(i, (0, float("nan")))
        out.append(Hit(i, round(s, 4), src, snip[:snippet_chars] + ("…" if len(snip) > snippet_chars else ""), c,
                       None if score is None else round(score, 5)))
    return out
