"""The corpus export: the kept trajectories as chat examples for SFT.

`corpus/train.jsonl` holds one JSON object per line, `{"messages": [...], ...ids}`, in rank order:
the user turn from the shared prompt templates (`ded.prompts.render_messages`, so SFT and
evaluation prompts are the same) and the assistant turn `<think>\\nreasoning\\n</think>\\n\\nfinal`
(`render_assistant`; `select.export.think: false` keeps the final answer only). TRL's SFTTrainer
reads the `messages` column as a conversational dataset. The same rows go to `train.parquet` and
to a Hugging Face dataset on disk (`datasets.load_from_disk("corpus/hf")`).

Reproducible to the byte: rows in rank order, keys in a fixed order, no timestamps, and
`manifest.json` records the sha256 of train.jsonl.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ded.prompts import render_assistant, render_messages


def example(row: dict[str, Any], params: Any, think: bool = True) -> dict[str, Any]:
    """One training example from a corpus row (trajectory + question columns)."""
    question = {k: row.get(k) for k in ("problem", "domain", "starter_code", "entry_point")}
    final = row.get("final")
    reasoning = row.get("reasoning")
    if final is None and reasoning is None:
        final = row.get("response") or ""
    messages = render_messages(question, params)
    messages.append({"role": "assistant", "content": render_assistant(reasoning, final or "", think=think)})
    return {
        "messages": messages,
        "trajectory_id": row["trajectory_id"],
        "question_id": row["question_id"],
        "model": row.get("model"),
        "domain": row.get("domain"),
        "source": row.get("source"),
    }


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def jsonl_bytes(examples: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in examples).encode("utf-8")


def write_corpus(rows: list[dict[str, Any]], params: Any, out_dir: str | os.PathLike,
                 manifest: dict[str, Any], think: bool = True, hf_dataset: bool = True) -> dict[str, Any]:
    """Write train.jsonl, train.parquet, hf/ and manifest.json; return the manifest written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    examples = [example(r, params, think=think) for r in rows]
    blob = jsonl_bytes(examples)
    _atomic_write(out / "train.jsonl", blob)
    msg_type = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    schema = pa.schema([("messages", msg_type), ("trajectory_id", pa.string()), ("question_id", pa.string()),
                        ("model", pa.string()), ("domain", pa.string()), ("source", pa.string())])
    table = pa.Table.from_pylist(examples, schema=schema)
    pq.write_table(table, out / "train.parquet")
    if hf_dataset:
        import datasets

        hf = out / "hf"
        if hf.exists():
            shutil.rmtree(hf)
        was_off = datasets.are_progress_bars_disabled()
        datasets.disable_progress_bars()  # a few hundred rows: no bar worth showing
        try:
            datasets.Dataset(table).save_to_disk(str(hf))
        finally:
            if not was_off:
                datasets.enable_progress_bars()
    manifest = {**manifest, "rows": len(examples), "train_jsonl_sha256": hashlib.sha256(blob).hexdigest(),
                "files": ["train.jsonl", "train.parquet"] + (["hf"] if hf_dataset else [])}
    _atomic_write(out / "manifest.json", (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode())
    return manifest
