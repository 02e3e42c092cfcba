"""The embed stage: vectors, indexes, near-duplicates and benchmark decontamination.

    questions, trajectories ──embed──▶ question_vectors, trajectory_vectors, duplicates, contamination
                                       (+ benchmark_items via the shared loader, benchmark_vectors)

Each step is a library call that tests use directly (`ded.embeddings`, `ded.search`, `ded.dedup`,
`ded.decontam`, `ded.benchmarks`); `main` strings them together in that order and writes
`receipts/embed.json`. Embedding is incremental (unchanged texts are never embedded twice); duplicates
and contamination are recomputed whole, since they are cheap functions of the current questions.

Nothing to do costs nothing: the receipt records what the run read (`stage_inputs`: the input tables'
Lance versions, the params hash, a hash of the stage's code and the benchmark files' sizes and times).
When all of that and the versions of the tables it wrote are unchanged, `main` returns the last summary
without loading the embedding model (`up_to_date`; `force=True` runs anyway). A benchmark read from the
hub (not a local path) cannot be fingerprinted offline, so such a params file always runs.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from ded.benchmarks import load_benchmarks
from ded.compute.embed_actors import RayEncoder
from ded.decontam import decontaminate
from ded.dedup import find_duplicates
from ded.embeddings.model import load_encoder, resolve_device
from ded.embeddings.store import embed_into, question_items, trajectory_items
from ded.errors import DedError
from ded.ids import stable_hash
from ded.lake import Lake, open_lake
from ded.params import with_overrides
from ded.receipts import read_receipt, write_receipt
from ded.search.index import ensure_fts_index, ensure_vector_index
from ded.sql import connect, run_sql_file

TABLES = ["question_vectors", "trajectory_vectors", "duplicates", "contamination", "benchmark_items",
          "benchmark_vectors", "decontam_judgements"]


# The code the stage runs, as in dvc.yaml's embed deps (paths under the repository root): a change reruns it.
CODE = ["sql/search", "sql/embed", "ded/stages/embed.py", "ded/embeddings", "ded/dedup", "ded/decontam",
        "ded/benchmarks", "ded/compute", "ded/evaluation", "ded/ids.py", "ded/lake.py", "ded/params.py", "ded/receipts.py",
        "ded/schema.py", "ded/search", "ded/sql.py", "ded/text.py", "ded/verifiers", "ded/backends",
        "prompts/decontam_judge.jinja"]
_ROOT = Path(__file__).resolve().parents[2]


class EmbedError(DedError):
    """The embed stage cannot run; the message says what to do."""


def embed_tables(lake: Lake, params: Any, encoder: Any) -> dict[str, Any]:
    """Embed questions (and trajectories when enabled) incrementally; returns per-table stats."""
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
    out = {t: ensure_vector_index(lake, t, params.embed.index_threshold)
           for t in ("question_vectors", "trajectory_vectors") if lake.exists(t)}
    if params.embed.fts and lake.exists("questions"):
        out["questions.problem"] = ensure_fts_index(lake)
    return out


def _files_digest(paths: list[Path], stat_only: bool) -> str:
    h = hashlib.sha256()
    for p in paths:
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if not f.is_file() or f.suffix == ".pyc":
                continue
            h.update(str(f).encode() + b"\0")
            st = f.stat()
            h.update(f"{st.st_size}/{st.st_mtime_ns}".encode() if stat_only else f.read_bytes())
    return h.hexdigest()[:16]


def stage_inputs(lake: Lake, params: Any) -> dict[str, Any] | None:
    """What a run reads, fingerprinted cheaply; None when part of it cannot be (a benchmark on the hub)."""
    cfg = params.embed
    out: dict[str, Any] = {"params": params.hash("embed", "benchmarks"),
                           "code": _files_digest([_ROOT / c for c in CODE], stat_only=False),
                           "questions": lake.version("questions")}
    if cfg.trajectories:
        out["trajectories"] = lake.version("trajectories")
    if cfg.decontam.enabled and cfg.decontam.judge:  # the judge's model spec lives in `models`
        out["judge"] = stable_hash(params.model(cfg.decontam.judge).model_dump(mode="json"), n=16)
        out["judge_template"] = _files_digest([_ROOT / cfg.decontam.judge_template], stat_only=False)
    if cfg.decontam.enabled and params.benchmarks:
        paths = [Path(str(spec.path_or_hub if hasattr(spec, "path_or_hub") else spec["path_or_hub"]))
                 for spec in params.benchmarks.values()]
        if not all(p.exists() for p in paths):
            return None
        out["benchmark_files"] = _files_digest(paths, stat_only=True)
    return out


def up_to_date(lake: Lake, params: Any) -> dict[str, Any] | None:
    """The last run's summary, restated as a no-op, when nothing it read or wrote has changed since; else None."""
    rec = read_receipt("embed")
    if not rec or not rec.get("inputs") or "summary" not in rec:
        return None
    if os.path.abspath(str(rec.get("lake", ""))) != os.path.abspath(lake.root):
        return None
    if any(lake.version(t) != info.get("version") for t, info in rec.get("tables", {}).items()):
        return None  # an output was rewritten or removed since
    if rec["inputs"] != stage_inputs(lake, params):
        return None
    summary = dict(rec["summary"])
    summary["embedded"] = {t: {**st, "embedded": 0, "chunks": 0, "replaced": 0, "model_changed": False,
                               "skipped": st.get("seen", 0), "seconds": 0.0}
                           for t, st in summary.get("embedded", {}).items()}
    summary["indexes"] = {t: "unchanged" for t in summary.get("indexes", {})}
    summary["up_to_date"] = True
    return summary


def decontam_kwargs(params: Any, judge_backend: Any = None) -> dict[str, Any]:
    """`ded.decontam.decontaminate`'s settings from `embed.decontam` (and the judge's model spec)."""
    cfg, dc = params.embed, params.embed.decontam
    kw: dict[str, Any] = {
        "n": dc.ngram, "min_coverage": dc.min_coverage, "embedding_threshold": dc.embedding_threshold,
        "paraphrase_threshold": dc.paraphrase_threshold, "paraphrase_min_digits": dc.paraphrase_min_digits,
        "benchmarks": dc.benchmarks, "rephrase": dc.rephrase, "top_k": dc.top_k, "candidate_floor": dc.candidate_floor,
        "question_top_k": dc.question_top_k, "question_floor": dc.question_floor, "multilingual": dc.multilingual,
        "embed_kwargs": {"batch_size": cfg.batch_size, "overlap": cfg.chunk_overlap, "max_chunks": cfg.max_chunks}}
    if dc.judge:
        kw["judge"] = {"spec": params.model(dc.judge), "template": dc.judge_template,
                       "max_tokens": dc.judge_max_tokens, "backend": judge_backend}
    return kw


def main(params: Any, lake: Lake | None = None, encoder: Any = None, force: bool = False,
         judge_backend: Any = None, **overrides: Any) -> dict[str, Any]:
    """Run the stage; `overrides` replace fields of `params.embed` (e.g. trajectories=True). When nothing
    changed since the last run (`up_to_date`) it returns that run's summary without loading the model,
    unless `force`."""
    if overrides:
        params = with_overrides(params, "embed", **overrides)
    cfg = params.embed
    lake = lake or open_lake(params)
    if not lake.exists("questions"):
        raise EmbedError(f"lake {lake.root} has no questions; run `ded ingest` first")
    t0 = time.perf_counter()
    inputs = stage_inputs(lake, params)
    if not force and inputs is not None and (prev := up_to_date(lake, params)) is not None:
        return {**prev, "seconds": round(time.perf_counter() - t0, 2)}
    ray_encoder = None
    if encoder is None and params.compute.engine == "ray":  # the model on the cluster's actors (ded/compute)
        encoder = ray_encoder = RayEncoder(params)
    try:
        summary = _run(lake, params, encoder or load_encoder(cfg.model, cfg.device), judge_backend)
    finally:
        if ray_encoder is not None:
            ray_encoder.close()
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    if inputs is not None:  # the FTS index is a new version of `questions`: record the version it left
        inputs = stage_inputs(lake, params)
    write_receipt("embed", lake, [t for t in TABLES if lake.exists(t)], params,
                  extra={"params_hash_embed": params.hash("embed", "benchmarks"), "summary": summary,
                         "inputs": inputs})
    return summary


def _run(lake: Lake, params: Any, encoder: Any, judge_backend: Any) -> dict[str, Any]:
    """Embed, index, dedup and decontaminate with `encoder` (local, or ded.compute.embed_actors.RayEncoder)."""
    cfg = params.embed
    summary: dict[str, Any] = {"model": encoder.name, "device": encoder.device}
    summary["embedded"] = embed_tables(lake, params, encoder)
    summary["indexes"] = build_indexes(lake, params)
    summary["duplicates"] = find_duplicates(
        lake, methods=tuple(cfg.dedup.methods), minhash_threshold=cfg.dedup.minhash_threshold,
        embedding_threshold=cfg.dedup.embedding_threshold, device=resolve_device(cfg.device))
    dc = cfg.decontam
    if dc.enabled and params.benchmarks:
        summary["benchmarks"] = load_benchmarks(lake, params, dc.benchmarks)
        summary["contamination"] = decontaminate(lake, encoder=encoder, **decontam_kwargs(params, judge_backend))
    else:
        summary["contamination"] = "skipped (no benchmarks in params)" if dc.enabled else "disabled"
    return summary


def contamination_report(lake: Lake, kind: str | None = None, limit: int | None = None) -> list[dict]:
    """Contamination hits joined with the question and item text, strongest first (`ded embed --report`)."""
    con = connect(lake, read_only=True)
    rows = run_sql_file(con, "embed/contamination_report", kind=kind, limit=limit or 1_000_000).to_pylist()
    return rows
