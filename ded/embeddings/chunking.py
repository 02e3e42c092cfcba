"""What text gets embedded, and how long texts are cut into model-sized chunks.

Questions embed their problem statement with answer-format boilerplate ("Please reason step by step…")
and figure code ([asy] blocks, which a sentence model reads as noise) removed, so a QwQ-style prompt and the bare problem embed alike. Trajectories embed their reasoning (the
text inside `<think>…</think>`), falling back to the final answer when a response has no reasoning.

Chunking: all-MiniLM-L6-v2 reads 256 word pieces (254 of text) and silently truncates the rest, so a
long text is cut into windows of `max_tokens` word pieces that overlap by `overlap` pieces (so a sentence
split at a boundary is whole in one of the two chunks), at most `max_chunks` per text (the cap bounds the
cost of an 85k-character Sky-T1 trajectory: about 20k pieces = 80 chunks; the first 32 cover its opening
and its plan). Chunks are cut at the tokenizer's character offsets, so each chunk is a substring of
the text and re-tokenizes to at most `max_tokens` pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ded.ids import normalize_problem, strip_figures


def question_text(problem: str | None) -> str:
    """The problem with boilerplate and figure code ([asy] blocks, URLs) removed, whitespace collapsed."""
    return normalize_problem(strip_figures(problem or ""))


def trajectory_text(reasoning: str | None, final: str | None, response: str | None = None) -> str:
    """Reasoning if any, else the final answer, else the raw response."""
    for t in (reasoning, final, response):
        if t and t.strip():
            return t.strip()
    return ""


def chunk_texts(texts: Sequence[str], tokenizer: Any, max_tokens: int, overlap: int = 32,
                max_chunks: int = 32) -> list[list[str]]:
    """Each text as a list of chunks (one chunk when it fits; `[""]` for an empty text)."""
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if not 0 <= overlap < max_tokens:
        raise ValueError(f"overlap must be in [0, max_tokens), got {overlap} with max_tokens {max_tokens}")
    out: list[list[str] | None] = [None] * len(texts)
    long_idx: list[int] = []
    for i, t in enumerate(texts):
        # a word piece covers at least one character, so a text this short cannot overflow the window
        if len(t) <= max_tokens:
            out[i] = [t]
        else:
            long_idx.append(i)
    if long_idx:
        enc = tokenizer([texts[i] for i in long_idx], add_special_tokens=False,
                        return_offsets_mapping=True, truncation=False, verbose=False)
        step = max_tokens - overlap
        for j, i in enumerate(long_idx):
            offs = enc["offset_mapping"][j]
            text = texts[i]
            if len(offs) <= max_tokens:
                out[i] = [text]
                continue
            chunks = []
            for start in range(0, len(offs), step):
                window = offs[start:start + max_tokens]
                chunks.append(text[window[0][0]:window[-1][1]])
                if start + max_tokens >= len(offs) or len(chunks) >= max_chunks:
                    break
            out[i] = chunks
    return [c if c is not None else [""] for c in out]
