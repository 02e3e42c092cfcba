"""Vector tables: incremental embedding into `question_vectors` / `trajectory_vectors`, and reading back.

Grain: one row per (id, chunk). `text_hash` hashes the embedded text together with the chunking settings,
so a second run embeds only ids that are new or whose text changed: an unchanged lake embeds 0 texts.
The lake holds one embedding model at a time (ARCHITECTURE.md): when `embed.model` changes, the table is
rewritten from scratch with the new model instead of mixing vector spaces.

Vectors are stored as `fixed_size_list<float32>[dim]` (the type Lance's vector indexes need); the lake's
core schema says `list<float32>`, of which this is the fixed-width form, and `Lake` writes cast to the
table's existing type, so we only create the table ourselves. Rows are committed every `commit_every`
texts, so an interrupted run keeps what it embedded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ded.embeddings.chunking import chunk_texts, question_text, trajectory_text
from ded.embeddings.model import Encoder
from ded.ids import text_hash
from ded.lake import Lake
from ded.progress import progress
from ded.schema import SCHEMAS

# vector table -> (source table, source key column); benchmark_vectors is ours (decontamination)
SOURCES = {"question_vectors": ("questions", "question_id"),
           "trajectory_vectors": ("trajectories", "trajectory_id"),
           "benchmark_vectors": ("benchmark_items", None)}


@dataclass
class EmbedStats:
    table: str
    seen: int = 0
    embedded: int = 0
    chunks: int = 0
    skipped: int = 0
    replaced: int = 0
    model_changed: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def vector_schema(dim: int) -> pa.Schema:
    base = SCHEMAS["question_vectors"]
    return pa.schema([pa.field("vector", pa.list_(pa.float32(), dim)) if f.name == "vector" else f for f in base])


def _quote(ids: Iterable[str]) -> str:
    return ", ".join("'" + str(i).replace("'", "''") + "'" for i in ids)


def existing(lake: Lake, table: str) -> tuple[dict[str, str], set[str], int | None]:
    """(id → text_hash of chunk 0, models present, vector width) of a vector table."""
    if not lake.exists(table):
        return {}, set(), None
    t = lake.read(table, columns=["id", "text_hash", "embedding_model"], filter="chunk = 0")
    vt = lake.dataset(table).schema.field("vector").type
    dim = vt.list_size if pa.types.is_fixed_size_list(vt) else None
    models = set(pc.unique(t.column("embedding_model")).to_pylist()) - {None}
    return dict(zip(t.column("id").to_pylist(), t.column("text_hash").to_pylist())), models, dim


def _create(lake: Lake, table: str, dim: int, mode: str) -> None:
    lake.write_dataset(table, vector_schema(dim).empty_table(), mode)


def rows_table(ids: list[str], chunks: list[int], vectors: np.ndarray, model: str, hashes: list[str]) -> pa.Table:
    dim = vectors.shape[1]
    flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1), pa.float32())
    return pa.table({"id": pa.array(ids, pa.string()), "chunk": pa.array(chunks, pa.int32()),
                     "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
                     "embedding_model": pa.array([model] * len(ids), pa.string()),
                     "text_hash": pa.array(hashes, pa.string())}, schema=vector_schema(dim))


def embed_into(lake: Lake, table: str, items: Iterable[tuple[str, str]], encoder: Encoder, *,
               batch_size: int = 64, commit_every: int = 2048, overlap: int = 32, max_chunks: int = 32,
               total: int | None = None, desc: str | None = None) -> EmbedStats:
    """Embed the (id, text) pairs whose text is new or changed; one commit per `commit_every` texts."""
    t0 = time.perf_counter()
    st = EmbedStats(table)
    have, models, dim = existing(lake, table)
    if (have and models - {encoder.name}) or (lake.exists(table) and dim != encoder.dim):
        # one model per lake: re-embed everything; also rewrites a table written as variable-length lists
        _create(lake, table, encoder.dim, "overwrite")
        have, st.model_changed = {}, bool(have)
    elif not lake.exists(table):
        _create(lake, table, encoder.dim, "create")
    cfg = f"{encoder.max_tokens}/{overlap}/{max_chunks}\x1f"
    pending: list[tuple[str, str, str]] = []
    stale: list[str] = []
    seen: set[str] = set()

    def flush() -> None:
        if not pending:
            return
        chunked = chunk_texts([p[1] for p in pending], encoder.tokenizer, encoder.max_tokens, overlap, max_chunks)
        ids, nums, hashes, flat = [], [], [], []
        for (i, _, h), chunks in zip(pending, chunked):
            for c, text in enumerate(chunks):
                ids.append(i), nums.append(c), hashes.append(h), flat.append(text)
        # sort by length so each batch pads to similar lengths (what encode does within one call)
        order = sorted(range(len(flat)), key=lambda k: -len(flat[k]))
        vec = np.empty((len(flat), encoder.dim), np.float32)
        vec[order] = encoder.encode([flat[k] for k in order], batch_size=batch_size)
        if stale:
            lake.delete(table, f"id IN ({_quote(stale)})")
            st.replaced += len(stale)
            stale.clear()
        lake.append(table, rows_table(ids, nums, vec, encoder.name, hashes))
        st.embedded += len(pending)
        st.chunks += len(flat)
        bar.advance(len(pending))
        pending.clear()

    with progress(total=total, desc=desc or f"embed {table}", unit="texts") as bar:
        for i, text in items:
            if i in seen:
                continue
            seen.add(i)
            st.seen += 1
            h = text_hash(cfg + text)
            old = have.get(i)
            if old == h:
                st.skipped += 1
                bar.advance(1)
                continue
            if old is not None:
                stale.append(i)
            pending.append((i, text, h))
            if len(pending) >= commit_every:
                flush()
        flush()
    st.seconds = time.perf_counter() - t0
    return st


def question_items(lake: Lake, filter: str | None = None) -> Iterator[tuple[str, str]]:
    for b in lake.scan("questions", columns=["question_id", "problem"], filter=filter):
        for qid, p in zip(b.column("question_id").to_pylist(), b.column("problem").to_pylist()):
            yield qid, question_text(p)


def trajectory_items(lake: Lake, filter: str | None = None) -> Iterator[tuple[str, str]]:
    cols = ["trajectory_id", "reasoning", "final", "response"]
    for b in lake.scan("trajectories", columns=cols, filter=filter, batch_size=1024):
        d = b.to_pydict()
        for tid, r, f, resp in zip(d["trajectory_id"], d["reasoning"], d["final"], d["response"]):
            yield tid, trajectory_text(r, f, resp)


def vectors_numpy(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_fixed_size_list(arr.type):
        return arr.values.to_numpy(zero_copy_only=False).reshape(len(arr), arr.type.list_size)
    return np.asarray(arr.to_pylist(), np.float32)


def load_vectors(lake: Lake, table: str = "question_vectors", ids: Iterable[str] | None = None,
                 pooled: bool = True) -> tuple[list[str], np.ndarray]:
    """(ids, unit vectors) of a vector table; with `pooled`, one row per id: the mean of its chunks,
    renormalized. This is what diversity scorers and dedup read."""
    t = lake.read(table, columns=["id", "chunk", "vector"])
    if ids is not None:  # an Arrow is_in, not an SQL IN list: id sets can be large
        t = t.filter(pc.is_in(t.column("id"), pa.array(list(ids), pa.string())))
    if t.num_rows == 0:
        return [], np.zeros((0, 0), np.float32)
    t = t.sort_by([("id", "ascending"), ("chunk", "ascending")])
    v = vectors_numpy(t.column("vector")).astype(np.float32, copy=False)
    id_list = t.column("id").to_pylist()
    if not pooled:
        return id_list, v
    starts = [0] + [k for k in range(1, len(id_list)) if id_list[k] != id_list[k - 1]]
    pooled_v = np.add.reduceat(v, starts, axis=0)
    pooled_v /= np.maximum(np.linalg.norm(pooled_v, axis=1, keepdims=True), 1e-12)
    return [id_list[s] for s in starts], pooled_v
