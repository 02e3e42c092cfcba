"""Reading benchmark rows from a local file or a hub dataset, and shaping them into `benchmark_items`.

Field names differ across copies of the same benchmark (checked on ../shared/data and the hub cards):
AIME has `problem` or a QwQ `prompt` with the "Please reason step by step…" instruction appended,
LiveCodeBench has `question_content` and Python-literal `public_tests`, GPQA has "Question" and four answer
columns. The first matching candidate wins; `options.fields` ({problem: COL, answer: COL, id: COL, …})
overrides the guess for any field.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

from ded.benchmarks.gpqa import (
    items_from_hub_rows,  # GPQA: one shared shape with evaluate
)
from ded.errors import DedError
from ded.ids import normalize_problem

CANDIDATES = {
    "problem": ["problem", "question", "question_content", "prompt", "Question", "input"],
    "answer": ["answer", "gt", "expected_answer", "final_answer", "Correct Answer"],
    "id": ["id", "unique_id", "question_id", "task_id", "problem_id", "problem_idx", "Record ID", "idx"],
    "solution": ["solution", "canonical_solution"],
    "tests": ["tests", "public_tests", "test"],
    "starter_code": ["starter_code"],
}
# copied into metadata (JSON) when present: what evaluate and reports filter on
META = ["platform", "contest_id", "contest_date", "difficulty", "question_title", "subject", "level", "year",
        "aime_number", "problem_number", "url", "entry_point", "type"]


class BenchmarkError(DedError, ValueError):
    """A benchmark that cannot be read; the message names the file or option to fix."""


def _open_text(p: Path) -> io.TextIOBase:
    return gzip.open(p, "rt", encoding="utf-8") if p.suffix == ".gz" else p.open(encoding="utf-8")


def read_rows(path_or_hub: str, split: str = "test", name: str | None = None) -> list[dict]:
    """Rows of a local jsonl/json/csv/parquet file (optionally .gz), else of a hub dataset."""
    p = Path(path_or_hub).expanduser()
    if p.exists():
        suffixes = [s for s in p.suffixes if s != ".gz"]
        kind = suffixes[-1] if suffixes else ""
        if kind == ".parquet":
            import pyarrow.parquet as pq
            return pq.read_table(p).to_pylist()
        with _open_text(p) as fh:
            if kind == ".jsonl":
                return [json.loads(line) for line in fh if line.strip()]
            if kind == ".json":
                data = json.load(fh)
                if isinstance(data, dict):  # {key: row} or {split: [rows]}
                    vals = list(data.values())
                    data = vals[0] if len(vals) == 1 and isinstance(vals[0], list) else vals
                return list(data)
            if kind == ".csv":
                return list(csv.DictReader(fh))
        raise BenchmarkError(f"{p}: unsupported file type {kind!r}; use .jsonl, .json, .csv or .parquet (optionally .gz)")
    if "/" not in path_or_hub or path_or_hub.startswith((".", "/")):
        raise BenchmarkError(f"benchmark file {path_or_hub!r} not found (and it is not a hub name like OWNER/NAME)")
    try:
        import datasets
        ds = datasets.load_dataset(path_or_hub, name, split=split)
    except Exception as e:  # offline, gated (GPQA), renamed splits: all surface here
        raise BenchmarkError(
            f"cannot load hub dataset {path_or_hub!r} (config {name!r}, split {split!r}): {e}. "
            f"Check the name/split, run `hf auth login` for gated sets, or point path_or_hub at a local file") from e
    return [dict(r) for r in ds]


def _pick(row: dict, field: str, fields: dict[str, str]) -> Any:
    if field in fields:
        col = fields[field]
        if col not in row:
            raise BenchmarkError(f"options.fields maps {field} to column {col!r}, which the rows lack "
                                 f"(columns: {sorted(row)})")
        return row[col]
    for c in CANDIDATES[field]:
        if c in row and row[c] not in (None, ""):
            return row[c]
    return None


def normalize_answer(ans: Any) -> str | None:
    """Answers as strings; all-digit answers lose leading zeros ("025" and 25 are the same AIME answer)."""
    if ans is None:
        return None
    s = str(ans).strip()
    return str(int(s)) if s.isdigit() else s


def _tests(raw: Any) -> str | None:
    if raw in (None, ""):
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            try:  # LiveCodeBench joined files: Python-literal strings (single quotes)
                raw = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                return json.dumps([{"script": raw, "testtype": "script"}])
    return json.dumps(raw, ensure_ascii=False, default=str)


def shape_items(rows: list[dict], benchmark: str, domain: str, options: dict[str, Any], source: str) -> list[dict]:
    """`benchmark_items` rows (plus solution, starter_code, metadata, source) from raw rows."""
    if rows and all(c in rows[0] for c in ("Question", "Correct Answer", "Incorrect Answer 1")):
        items = items_from_hub_rows(rows, benchmark=benchmark)
        for it in items:
            it["source"] = source
        return items
    fields = dict(options.get("fields") or {})
    start, end = options.get("start_date"), options.get("end_date")
    out, seen = [], set()
    for i, row in enumerate(rows):
        date = str(row.get("contest_date") or "")[:10]
        if date and ((start and date < str(start)) or (end and date >= str(end))):
            continue  # outside the benchmark's date window (LiveCodeBench: after the student's cutoff)
        problem = _pick(row, "problem", fields)
        if not problem:
            raise BenchmarkError(f"{source} row {i} has no problem text; columns: {sorted(row)}. "
                                 f"Set options.fields.problem in the benchmark's params")
        rid = _pick(row, "id", fields)
        item_id = str(rid) if rid not in (None, "") else str(i)
        if item_id in seen:
            raise BenchmarkError(f"{source}: item id {item_id!r} repeats; set options.fields.id to a unique column")
        seen.add(item_id)
        meta = {k: row[k] for k in META if k in row and row[k] not in (None, "")}
        out.append({
            "benchmark": benchmark, "item_id": item_id,
            "problem": normalize_problem(str(problem)) if domain != "code" else str(problem).strip(),
            "answer": normalize_answer(_pick(row, "answer", fields)),
            "tests": _tests(_pick(row, "tests", fields)),
            "choices": json.dumps(row["choices"]) if isinstance(row.get("choices"), list) else None,
            "domain": domain,
            "solution": _pick(row, "solution", fields),
            "starter_code": _pick(row, "starter_code", fields),
            "metadata": json.dumps(meta, ensure_ascii=False, default=str) if meta else None,
            "source": source,
        })
    return out
