"""Vectors for bench/search.py: real MiniLM embeddings of every text in the shared data, grown to N.

Real part: every problem, solution, prompt and model response in `../shared/data` (deduplicated by text),
embedded with the bundled all-MiniLM-L6-v2 (`ded.embeddings.load_encoder`, first 254 word pieces of each
text, the model's window). Each text keeps metadata the bench filters on: `source` (the file it came from),
`domain` (math or code) and `teacher` (the model that wrote a response; "none" for problems/solutions).

Grown part (to reach N, e.g. 1M): a synthetic vector lies on the segment between a real vector and one of
its 10 nearest real neighbours, at a uniform position t, plus isotropic noise whose norm is the median
distance from a real vector to its nearest real neighbour, renormalized. So copies fill the gaps of the real
neighbourhood graph instead of forming tight blobs around each real text (which would make recall trivial:
the 10 nearest neighbours of a query would all be copies of one text in one partition); metadata is the
real vector's. Queries are drawn the same way with a different seed and are never in the table.

Built once into a cache folder outside the repository (default /work/cache/search1m) and reused:
real.npy + real_meta.json (the embedding, minutes on 2 CPU cores), then grown_{N}.npy + grown_{N}_meta.npz.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from pathlib import Path

import numpy as np

QWQ_SUFFIX = "Please reason step by step"
TEXT_FIELDS = ("problem", "question", "question_content", "prompt", "solution", "canonical_solution")


def _rows(path: Path) -> list[dict]:
    op = gzip.open if path.suffix == ".gz" else open
    with op(path, "rt", encoding="utf-8") as fh:
        if ".jsonl" in path.name:
            return [json.loads(ln) for ln in fh if ln.strip()]
        d = json.load(fh)
    if isinstance(d, dict):  # the skythought-tools file: {problem text: {responses: {...}}}
        return [{"question": k, "responses": v.get("responses", {})} for k, v in d.items()]
    return d


def _as_list(v) -> list:
    if isinstance(v, list):
        return v
    if isinstance(v, str) and v.startswith("['"):
        import ast

        try:
            return list(ast.literal_eval(v))
        except (ValueError, SyntaxError):
            return [v]
    return [v] if v else []


def real_texts(shared: Path) -> tuple[list[str], list[dict]]:
    """(texts, metadata) of every distinct text in the shared data."""
    texts, meta, seen = [], [], set()

    def add(text, source: str, domain: str, teacher: str = "none") -> None:
        if not isinstance(text, str):
            return
        text = text.split(QWQ_SUFFIX)[0].strip()
        if len(text) < 20 or text in seen:
            return
        seen.add(text)
        texts.append(text)
        meta.append({"source": source, "domain": domain, "teacher": teacher})

    for path in sorted(shared.rglob("*")):
        if not path.is_file() or not any(path.name.endswith(s) for s in (".json", ".jsonl", ".jsonl.gz", ".json.gz")):
            continue
        rel = path.relative_to(shared)
        domain = "code" if rel.parts[0] in ("lcb", "code_tests") else "math"
        is_traj = rel.parts[0] == "trajectories"
        source = re.sub(r"\.(jsonl?|json)(\.gz)?$", "", path.name)
        for r in _rows(path):
            for f in TEXT_FIELDS:
                add(r.get(f), "trajectories" if is_traj else source, domain)
            if is_traj:
                for resp in _as_list(r.get("code")):
                    add(resp, "trajectories", domain, teacher=source)
                for v in (r.get("responses") or {}).values():
                    add(v.get("content") if isinstance(v, dict) else None, "trajectories", domain, teacher=source)
    return texts, meta


def embed_real(cache: Path, shared: Path) -> tuple[np.ndarray, list[dict]]:
    vec_f, meta_f = cache / "real.npy", cache / "real_meta.json"
    if vec_f.exists() and meta_f.exists():
        return np.load(vec_f), json.loads(meta_f.read_text())
    from ded.embeddings.model import load_encoder

    texts, meta = real_texts(shared)
    enc = load_encoder("bundled", "cpu")
    t0 = time.perf_counter()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
    v = np.empty((len(texts), enc.dim), np.float32)
    for s in range(0, len(order), 1024):
        part = order[s:s + 1024]
        v[part] = enc.encode([texts[i] for i in part], batch_size=32)
        print(f"embedded {min(s + 1024, len(order))}/{len(order)} in {time.perf_counter() - t0:.0f}s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(vec_f, v)
    meta_f.write_text(json.dumps(meta))
    return v, meta


def _neighbours(real: np.ndarray, k: int = 10) -> tuple[np.ndarray, float]:
    """(index of each real vector's k nearest other real vectors, median nearest-neighbour distance)."""
    nn = np.empty((len(real), k), np.int64)
    d1 = np.empty(len(real), np.float32)
    for s in range(0, len(real), 2048):
        sims = real[s:s + 2048] @ real.T
        np.fill_diagonal(sims[:, s:s + 2048], -np.inf)
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        nn[s:s + 2048] = top
        d1[s:s + 2048] = np.sqrt(np.maximum(0, 2 - 2 * sims.max(axis=1)))
    return nn, float(np.median(d1))


def grow(real: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n vectors (the real ones first when seed == 0) and the index of the real vector each derives from."""
    rng = np.random.default_rng(seed)
    nn, d1 = _neighbours(real)
    dim = real.shape[1]
    keep = real if seed == 0 else real[:0]
    m = n - len(keep)
    base = rng.integers(0, len(real), m)
    other = nn[base, rng.integers(0, nn.shape[1], m)]
    t = rng.uniform(0, 1, (m, 1)).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    out[:len(keep)] = keep
    for s in range(0, m, 100_000):
        sl = slice(s, s + 100_000)
        x = (1 - t[sl]) * real[base[sl]] + t[sl] * real[other[sl]]
        x += rng.normal(scale=d1 / np.sqrt(dim), size=x.shape).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[len(keep) + s: len(keep) + s + len(x)] = x
    origin = np.concatenate([np.arange(len(keep)), base])
    return out, origin


def dataset(cache: Path, shared: Path, n: int, queries: int) -> dict:
    """{"base", "queries", "meta" (per base row), "real": count} for a bench of n vectors."""
    real, meta = embed_real(cache, shared)
    f = cache / f"grown_{n}.npy"
    if f.exists():
        base, origin = np.load(f, mmap_mode="r"), np.load(cache / f"grown_{n}_origin.npy")
    else:
        base, origin = grow(real, n, seed=0)
        np.save(f, base)
        np.save(cache / f"grown_{n}_origin.npy", origin)
    q, _ = grow(real, queries, seed=1)
    cols = {c: np.array([m[c] for m in meta], dtype=object)[origin] for c in ("source", "domain", "teacher")}
    return {"base": np.asarray(base), "queries": q, "meta": cols, "real": len(real)}
