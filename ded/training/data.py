"""The SFT corpus: JSONL rows in chat form, `{"messages": [{"role", "content"}, ...], ...}`.

`ded select` writes it with the shared prompt templates (ded.prompts), so training sees exactly the
user turn that generate and evaluate use. Extra keys (question_id, trajectory_id, ...) are ignored here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ded.errors import DedError

ROLES = {"system", "user", "assistant"}


class CorpusError(DedError):
    """The corpus file is missing or a row is not a chat conversation."""


def load_corpus(path: str | Path) -> list[list[dict[str, str]]]:
    """The `messages` of every row; a malformed row is an error naming its line and the fix."""
    p = Path(path)
    if not p.exists():
        raise CorpusError(f"corpus {p} not found: run `ded select` first (or set sft.corpus)")
    conversations = []
    with p.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorpusError(f"{p}:{line_no}: not JSON ({e.msg}); each line must be one JSON object") from None
            conversations.append(_check_messages(row, f"{p}:{line_no}"))
    if not conversations:
        raise CorpusError(f"corpus {p} is empty: the selection kept no rows (see `ded select` output)")
    return conversations


def _check_messages(row: object, where: str) -> list[dict[str, str]]:
    msgs = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(msgs, list) or not msgs:
        raise CorpusError(f"{where}: expected {{\"messages\": [{{\"role\": ..., \"content\": ...}}, ...]}}")
    out = []
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise CorpusError(f"{where}: each message needs role in {sorted(ROLES)} and string content, got {m!r:.120}")
        out.append({"role": m["role"], "content": m["content"]})
    if out[-1]["role"] != "assistant":
        raise CorpusError(f"{where}: the last message must be the assistant's (the training target)")
    return out


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
