"""A content identity for local model directories, so evaluation never reuses a retrained model's samples.

`ded sft` rewrites `models/student` in place: the path stays the same while the weights change. Samples are
resumed by a fingerprint and grouped by a `run_id` that both hash the model id; with the path alone, a rerun
after retraining would find the old model's samples "done" and report its scores. For a local directory the
id is therefore the path plus a digest of its contents.

Cost: small files (configs, tokenizer, chat template) are hashed whole; big files (weights) by their size and
their first and last MiB: a safetensors header (tensor names, shapes, offsets) sits at the start, and
training changes essentially every tensor, so a retrained model differs there while a 64 GB 32B checkpoint
is identified in milliseconds. Hub ids and server names are returned unchanged (their revision is the
serving side's business), which also keeps their existing run_ids.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WHOLE_FILE_MAX = 1 << 20  # files up to 1 MiB are hashed whole
EDGE_BYTES = 1 << 20  # bigger ones: size + first and last MiB
SKIP_DIRS = {".cache", ".git", "__pycache__"}  # not part of the model (HF download cache, VCS metadata)


def content_digest(directory: str | Path) -> str:
    """sha256 over (relative path, size, sampled bytes) of every file under `directory`, in sorted order."""
    root = Path(directory)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if not p.is_file() or SKIP_DIRS & set(rel.parts):
            continue
        size = p.stat().st_size
        h.update(f"{rel.as_posix()}\0{size}\0".encode())
        with p.open("rb") as fh:
            if size <= WHOLE_FILE_MAX:
                h.update(fh.read())
            else:
                h.update(fh.read(EDGE_BYTES))
                fh.seek(size - EDGE_BYTES)
                h.update(fh.read(EDGE_BYTES))
    return h.hexdigest()


def model_identity(model: str) -> str:
    """`model` itself for hub ids and remote names; `path@sha256:<16 hex>` for a local model directory."""
    p = Path(model).expanduser()
    if not p.is_dir():
        return model
    return f"{model}@sha256:{content_digest(p)[:16]}"
