"""The embed stage: vectors, indexes, near-duplicates and benchmark decontamination.

    questions, trajectories ──embed──▶ question_vectors, trajectory_vectors, duplicates, contamination
                                       (+ benchmark_items via the shared loader, benchmark_vectors)

Each step is a library call that tests use directly (`ded.embeddings`, `ded.search`, `ded.dedup`,
`ded.decontam`, `ded.benchmarks`); `main` strings them together in that order and writes
`receipts/embed.json`. Embedding is incremental (unchanged texts are never embedded twice); duplicates
and contamination are recomputed whole, since they are cheap functions of the current questions.
"""

from __future__ import annotations

import time
from typing import Any

from ded.errors import DedError
from ded.lake import Lake, open_lake

TABLES = ["question_vectors", "trajectory_vectors", "duplicates", "contamination", "benchmark_items",
          "benchmark_vectors"]


class EmbedError(DedError):
    """The embed stage cannot run; the message says what to do."""


def embed_tables(lake: Lake, params: Any, encoder: Any) -> dict[str, Any]:
    """Embed questions (and trajectories when enabled) incrementally; returns per-table stats."""
    from ded.embeddings.store import embed_into, question_items, trajectory_items

    cfg = params.embed
    kw = {"batch_size": cfg.batch_size, "commit_every": cfg.commit_every, "overlap": cfg.chunk_overlap,
          "max_chunks": cfg.max_chunks}
    out = {}
    if cfg.questions:
        out["question_vectors"] = embed_into(lake, "question_vectors", question_items(lake), encoder,
                                             total=lake.count("questions"), **kw).as_dict()
    if cfg.trajectories:
        if not lake.exists("trajectories"):
            raise EmbedError("embed.trajectories is on but the lake has no trajectories; run `ded ingest` "
                             "or `ded generate` first, or set embed.trajectories: false")
        out["trajectory_vectors"] = embed_into(lake, "trajectory_vectors", trajectory_items(lake), encoder,
                                               total=lake.count("trajectories"), **kw).as_dict()
    return out


def build_indexes(lake: Lake, params: Any) -> dict[str, str]:
    from ded.search.index import ensure_fts_index, ensure_vector_index

    out = {t: ensure_vector_index(lake, t, params.embed.index_threshold)
           for t in ("question_vectors", "trajectory_vectors") if lake.exists(t)}
    if params.embed.fts and lake.exists("questions"):
        out["questions.problem"] = ensure_fts_index(lake)
    return out


def main(params: Any, lake: Lake | None = None, encoder: Any = None, **overrides: Any) -> dict[str, Any]:
    """Run the stage; `overrides` replace fields of `params.embed` (e.g. trajectories=True)."""
    from ded.benchmarks import load_benchmarks
    from ded.decontam import decontaminate
    from ded.dedup import find_duplicates
    from ded.embeddings.model import load_encoder, resolve_device
    from ded.receipts import write_receipt

    if overrides:
        params = params.model_copy(update={"embed": params.embed.model_copy(update=overrides)})
    cfg = params.embed
    lake = lake or open_lake(params)
    if not lake.exists("questions"):
        raise EmbedError(f"lake {lake.root} has no questions; run `ded ingest` first")
    t0 = time.perf_counter()
    encoder = encoder or load_encoder(cfg.model, cfg.device)
    summary: dict[str, Any] = {"model": encoder.name, "device": encoder.device}
    summary["embedded"] = embed_tables(lake, params, encoder)
    summary["indexes"] = build_indexes(lake, params)
    summary["duplicates"] = find_duplicates(
        lake, methods=tuple(cfg.dedup.methods), minhash_threshold=cfg.dedup.minhash_threshold,
        embedding_threshold=cfg.dedup.embedding_threshold, device=resolve_device(cfg.device))
    dc = cfg.decontam
    if dc.enabled and params.benchmarks:
        summary["benchmarks"] = load_benchmarks(lake, params, dc.benchmarks)
        summary["contamination"] = decontaminate(
            lake, n=dc.ngram, min_coverage=dc.min_coverage, embedding_threshold=dc.embedding_threshold,
            paraphrase_threshold=dc.paraphrase_threshold, paraphrase_min_digits=dc.paraphrase_min_digits,
            encoder=encoder, benchmarks=dc.benchmarks,
            embed_kwargs={"batch_size": cfg.batch_size, "overlap": cfg.chunk_overlap, "max_chunks": cfg.max_chunks})
    else:
        summary["contamination"] = "skipped (no benchmarks in params)" if dc.enabled else "disabled"
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    write_receipt("embed", lake, [t for t in TABLES if lake.exists(t)], params,
                  extra={"params_hash_embed": params.hash("embed", "benchmarks"), "summary": summary})
    return summary


def contamination_report(lake: Lake, kind: str | None = None, limit: int | None = None) -> list[dict]:
    """Contamination hits joined with the question and item text, strongest first (`ded embed --report`)."""
    from ded.sql import connect, run_sql_file

    con = connect(lake, read_only=True)
    rows = run_sql_file(con, "embed/contamination_report", kind=kind, limit=limit or 1_000_000).to_pylist()
    return rows
