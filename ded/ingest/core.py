"""Ingest: source files → questions, trajectories (origin imported:SOURCE), imported verdicts, rejects.

Streaming: records are read and parsed one at a time and the big table (trajectories for
trajectory files, questions for question files) is streamed into one Lance commit, so memory
does not grow with the file. The other tables are small per file and are committed after it.
Dedup is by key against what the lake already holds, so ingesting a file twice adds nothing and
a rerun after a kill finishes the job.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from ded.ids import question_id as make_qid
from ded.ids import trajectory_id
from ded.ingest.presets import (
    PRESETS,
    TRAJECTORY_PRESETS,
    Parsed,
    Reject,
    get_preset,
    problem_of,
    response_field,
)
from ded.ingest.readers import Record, read_records, source_stem
from ded.lake import Lake, now
from ded.params import SourceShape
from ded.progress import progress
from ded.schema import SCHEMAS, conform
from ded.text import split_reasoning

DOMAINS = ("math", "code", "science", "other")


class StrictReject(RuntimeError):
    """`--strict` and a bad record: nothing was written."""


@dataclass
class IngestReport:
    read: int = 0
    rejected: Counter = field(default_factory=Counter)
    questions_inserted: int = 0  # distinct questions new to the lake
    questions_present: int = 0  # distinct questions the call names that the lake held before it
    questions_repeated: int = 0  # question records whose question an earlier record of the call gave
    trajectories_inserted: int = 0
    trajectories_present: int = 0
    verdicts_inserted: int = 0
    rejects_new: int = 0
    # records ingested as questions that carry model responses (--kind questions keeps the question only)
    responses_ignored: int = 0
    response_fields: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)  # (kind, why it was chosen) → files, for the default kind
    files: list[str] = field(default_factory=list)

    def merge(self, o: IngestReport) -> None:
        for k in ("read", "questions_inserted", "questions_present", "questions_repeated", "trajectories_inserted",
                  "trajectories_present", "verdicts_inserted", "rejects_new", "responses_ignored"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        self.rejected.update(o.rejected)
        self.response_fields.update(o.response_fields)
        self.kinds.update(o.kinds)
        self.files += o.files

    def warnings(self) -> list[str]:
        if not self.responses_ignored:
            return []
        fields = ", ".join(f for f, _ in self.response_fields.most_common())
        return [f"warning: {self.responses_ignored} record(s) carry responses (field {fields}) that were not ingested: "
                f"they were read as questions only; rerun with --kind trajectories to load the responses"]

    def summary(self, warnings: bool = True) -> str:
        """The report as printed by `ded ingest`; `warnings=False` leaves the warnings out (the CLI
        prints them on stderr)."""
        lines = [f"read {self.read} records from {len(self.files)} file(s)"]
        for (kind, why), n in sorted(self.kinds.items()):
            lines.append(f"kind: {kind} ({why})" + (f" for {n} file(s)" if n != len(self.files) else ""))
        rep = f" ({self.questions_repeated} repeated records within this call skipped)" if self.questions_repeated else ""
        lines += [f"questions: {self.questions_inserted} inserted, {self.questions_present} already present{rep}",
                 f"trajectories: {self.trajectories_inserted} inserted, {self.trajectories_present} already present",
                 f"imported verdicts: {self.verdicts_inserted} inserted"]
        n = sum(self.rejected.values())
        lines.append(f"rejected: {n}" + (" (kept in table `rejects`)" if n else ""))
        for reason, c in self.rejected.most_common(10):
            lines.append(f"  {c:>7}  {reason}")
        if warnings:
            lines += self.warnings()
        return "\n".join(lines)


def _reason_key(reason: str) -> str:
    """Group reasons for the summary (drop the variable tail of JSON errors)."""
    if reason.startswith("its question was rejected"):
        return "its question was rejected (see `rejects` for each question's reason)"
    return reason.split(":")[0] if reason.startswith(("malformed JSON", "invalid UTF-8", "truncated")) else reason


def _too_large(rec: dict[str, Any], limit: int) -> str | None:
    for k, v in rec.items():
        if isinstance(v, str) and len(v) > limit:
            return f"field too large: {k} has {len(v):,} characters (limit {limit:,}; raise ingest.max_field_bytes)"
        if isinstance(v, list):
            for x in v:
                if isinstance(x, str) and len(x) > limit:
                    return f"field too large: an element of {k} has {len(x):,} characters (limit {limit:,})"
    return None


def _file_label(path: str | Path) -> str:
    p = os.path.normpath(str(path))
    try:
        rel = os.path.relpath(p)
        return rel if not rel.startswith("..") else os.path.abspath(p)
    except ValueError:
        return p


@dataclass
class LakeKeys:
    """The keys already stored, read once per ingest and grown as rows are added, so that several files
    in one call do not rescan the tables (a 10^6-row key column per file)."""

    questions: set
    trajectories: set | None  # None: not read yet (read when a file turns out to be trajectories)
    verdicts: set | None
    rejects: set
    # questions this call inserted or already counted as present: a trajectory file counts a stored
    # question once per call, so 16 files naming the same 30 questions report 30, not 480, and
    # questions an earlier file of the call inserted are not "already present"
    touched_q: set = field(default_factory=set)
    # question_id → why its question record was rejected (this call's rejects and the stored ones): a
    # trajectory of such a question is rejected too, with that reason, instead of making a question of its
    # own fields (a math question without answer, or tests the source said cannot grade it)
    rejected_q: dict = field(default_factory=dict)
    stored_rejects_read: bool = False

    @classmethod
    def read(cls, lake: Lake, kind: str) -> LakeKeys:
        keys = cls(lake.keys("questions"), None, None, lake.keys("rejects"))
        if kind == "trajectories":  # auto: read when a file turns out to be trajectories
            keys.for_trajectories(lake)
        return keys

    def for_trajectories(self, lake: Lake) -> LakeKeys:
        if self.trajectories is None:
            self.trajectories, self.verdicts = lake.keys("trajectories"), lake.keys("verdicts")
        if not self.stored_rejects_read:
            self.stored_rejects_read = True
            for b in lake.scan("rejects", columns=["file", "line", "reason", "raw"]):
                for f, line, reason, raw in zip(*(b.column(c).to_pylist() for c in ("file", "line", "reason", "raw"))):
                    self.note_rejected(_raw_record(raw), None, f"{f} line {line}: {reason}")
        return self

    def note_rejected(self, rec: dict | None, preset: str | None, why: str) -> None:
        """Remember the question of a rejected question record (records carrying responses are not questions)."""
        if rec is None or response_field(rec, preset or "generic"):
            return
        text = problem_of(rec, preset)
        if text:
            self.rejected_q.setdefault(make_qid(text), why)


def _raw_record(raw: str | None) -> dict | None:
    try:
        rec = json.loads(raw) if raw else None
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def resolve_kind(path: str | Path, opts: SourceShape, batch_rows: int = 2000) -> tuple[str, str | None]:
    """The kind a file is ingested as, and why (None when `opts.kind` says it).

    `auto`: trajectories for the presets whose rows are model responses (TRAJECTORY_PRESETS);
    otherwise trajectories when the first readable record carries responses as the preset reads
    them (response, responses, generations, completion, a list `code`, ...), questions when not.
    Later records that carry responses in a file read as questions are counted and warned about."""
    if opts.kind in ("questions", "trajectories"):
        return opts.kind, None
    if opts.kind != "auto":
        raise ValueError(f"--kind must be questions, trajectories or auto, got {opts.kind!r}")
    if opts.preset in TRAJECTORY_PRESETS:
        return "trajectories", f"preset {opts.preset}: its rows are model responses"
    get_preset(opts.preset)  # an unknown preset is an error before any reading
    records = read_records(path, batch_rows=batch_rows, split=None)
    try:
        for rec in records:
            if rec.data is None:
                continue
            data = {opts.map.get(k, k): v for k, v in rec.data.items()} if opts.map else rec.data
            f = response_field(data, opts.preset)
            if f:
                return "trajectories", f"the records carry responses: {f}"
            return "questions", "the records carry no responses"
    finally:
        close = getattr(records, "close", None)
        if close:
            close()
    return "questions", "no readable record"


class _FileIngest:
    """State for one source file: seen keys, pending small tables, the report."""

    def __init__(self, lake: Lake, path: str | Path, opts: SourceShape, max_field: int,
                 keys: LakeKeys | None = None):
        self.lake, self.path, self.opts, self.max_field = lake, path, opts, max_field
        self.file = _file_label(path)
        self.source = opts.source or source_stem(path)
        self.origin = f"imported:{self.source}"
        self.default_model = opts.model or source_stem(path)
        self.preset = get_preset(opts.preset)
        self.report = IngestReport(files=[self.file])
        keys = keys or LakeKeys.read(lake, opts.kind)
        if opts.kind == "trajectories":
            keys.for_trajectories(lake)
        self.q_keys, self.t_keys, self.v_keys, self.r_keys = keys.questions, keys.trajectories, keys.verdicts, keys.rejects
        self.keys = keys
        self.questions: list[dict] = []
        self.verdicts: list[dict] = []
        self.rejects: list[dict] = []
        self.counters: Counter = Counter()
        self.touched_q: set[str] = keys.touched_q  # shared by the call's files (counted once per call)
        self.ts = now()

    def reject(self, rec: Record, reason: str, raw: str | None = None) -> None:
        self.report.rejected[_reason_key(reason)] += 1
        if self.opts.kind == "questions" and rec.data is not None:
            data = {self.opts.map.get(k, k): v for k, v in rec.data.items()} if self.opts.map else rec.data
            self.keys.note_rejected(data, self.opts.preset, f"{self.file} line {rec.line}: {reason}")
        if (self.file, rec.line) in self.r_keys:
            return
        self.r_keys.add((self.file, rec.line))
        if raw is None:
            raw = json.dumps(rec.data, ensure_ascii=False, default=str) if rec.data is not None else (rec.raw or "")
        self.rejects.append({"file": self.file, "line": rec.line, "source": self.source, "reason": reason,
                             "raw": raw, "rejected_at": self.ts})

    def parse(self, rec: Record) -> Parsed | None:
        data = rec.data
        if self.opts.map:
            data = {self.opts.map.get(k, k): v for k, v in data.items()}
        big = _too_large(data, self.max_field)
        if big:
            self.reject(rec, big)
            return None
        try:
            p = self.preset(data, self.opts.kind)
        except Reject as e:
            self.reject(rec, str(e))
            return None
        if p.question_id is None and not (p.problem or "").strip():
            self.reject(rec, "empty problem text")
            return None
        if self.opts.kind == "questions":
            f = response_field(data, self.opts.preset)
            if f:  # kept as a question; the responses are not ingested, and the summary says so
                self.report.responses_ignored += 1
                self.report.response_fields[f] += 1
        p.domain = p.domain or self.opts.domain or "math"
        if p.domain not in DOMAINS:
            self.reject(rec, f"unknown domain {p.domain!r} (expected one of {', '.join(DOMAINS)})")
            return None
        return p

    def question_row(self, p: Parsed, qid: str) -> dict:
        return {"question_id": qid, "domain": p.domain, "source": self.source, "source_id": p.source_id,
                "problem": p.problem, "answer": p.answer, "solution": p.solution,
                "tests": json.dumps(p.tests, ensure_ascii=False) if p.tests else None,
                "starter_code": p.starter_code, "entry_point": p.entry_point,
                "license": p.license or self.opts.license,
                "metadata": json.dumps(p.metadata, ensure_ascii=False, default=str) if p.metadata else None,
                "ingested_at": self.ts}

    def rows(self, records: Iterator[Record]) -> Iterator[dict]:
        """Yield the streamed table's rows; collect the small tables on the side."""
        for rec in records:
            self.report.read += 1
            if rec.data is None:
                self.reject(rec, rec.reason or "unreadable record", rec.raw)
                continue
            p = self.parse(rec)
            if p is None:
                continue
            if p.problem is not None:
                qid = make_qid(p.problem)
            else:
                qid = p.question_id
                if qid not in self.q_keys:
                    self.reject(rec, f"unknown question_id {qid!r}: ingest its questions first, or give the problem text")
                    continue
            new_q = qid not in self.q_keys
            if new_q and self.opts.kind == "trajectories" and qid in self.keys.rejected_q:
                # the record's own fields would make a question of it (the wrong domain, no answer, or tests the
                # question's source said cannot grade it, e.g. a Codeforces checker problem): a reject too
                self.reject(rec, f"its question was rejected ({self.keys.rejected_q[qid]}); fix and ingest the "
                                 "question first, then these trajectories")
                continue
            if new_q:
                self.q_keys.add(qid)
                self.touched_q.add(qid)
                row = self.question_row(p, qid)
                if self.opts.kind == "questions":
                    self.report.questions_inserted += 1
                    yield row
                else:
                    self.questions.append(row)
                    self.report.questions_inserted += 1
            elif qid not in self.touched_q:  # stored before this call: counted once a call
                self.touched_q.add(qid)
                self.report.questions_present += 1
            elif self.opts.kind == "questions":  # a question record repeating one of this call
                self.report.questions_repeated += 1
            if self.opts.kind == "trajectories":
                yield from self.traj_rows(p, qid)

    def traj_rows(self, p: Parsed, qid: str) -> Iterator[dict]:
        for t in p.trajectories:
            model = t.model or self.default_model
            idx = t.sample_idx
            if idx is None:
                idx = self.counters[(qid, model)]
            self.counters[(qid, model)] = max(self.counters[(qid, model)], idx + 1)
            tid = trajectory_id(qid, model, self.origin, idx)
            if tid in self.t_keys:
                self.report.trajectories_present += 1
                continue
            self.t_keys.add(tid)
            if t.reasoning is not None or t.final is not None:
                reasoning, final = t.reasoning, t.final or ""
            else:
                reasoning, final, closed = split_reasoning(t.response)
            self.report.trajectories_inserted += 1
            yield {"trajectory_id": tid, "question_id": qid, "model": model, "sample_idx": idx, "prompt": None,
                   "response": t.response, "reasoning": reasoning, "final": final,
                   "finish_reason": t.finish_reason or "imported", "n_tokens": t.n_tokens,
                   "gen_params": json.dumps(t.gen_params) if t.gen_params else None, "fingerprint": None,
                   "origin": self.origin, "created_at": self.ts}
            if t.correct is not None and (tid, "imported") not in self.v_keys:
                self.v_keys.add((tid, "imported"))
                self.verdicts.append({"trajectory_id": tid, "verifier": "imported", "verifier_version": self.origin,
                                      "status": "correct" if t.correct else "wrong", "correct": t.correct,
                                      "extracted": t.extracted, "detail": "label recorded by the source",
                                      "verified_at": self.ts})


def _batched(rows: Iterator[dict], n: int, max_bytes: int = 48 << 20) -> Iterator[list[dict]]:
    """Batches of at most n rows and about max_bytes of text, so memory stays bounded for long CoT."""
    buf: list[dict] = []
    size = 0
    for r in rows:
        buf.append(r)
        size += sum(len(v) for v in r.values() if isinstance(v, str))
        if len(buf) >= n or size >= max_bytes:
            yield buf
            buf, size = [], 0
    if buf:
        yield buf


def _columns(table: str, rows: list[dict]) -> pa.Table:
    """Rows of one shape → an Arrow table column by column (much faster than from_pylist)."""
    schema = SCHEMAS[table]
    cols = {}
    for k in rows[0]:
        t = schema.field(k).type if k in schema.names else None
        cols[k] = pa.array([r[k] for r in rows], type=t)
    return pa.table(cols)


def ingest_file(lake: Lake, path: str | Path, opts: SourceShape, *, strict: bool = False, keys: LakeKeys | None = None,
                batch_rows: int = 2000, max_field_bytes: int = 4_000_000, progress: Any = None) -> IngestReport:
    """Ingest one source file. With `strict`, the first rejected record aborts and nothing is written."""
    kind, why = resolve_kind(path, opts, batch_rows)
    if kind != opts.kind:
        opts = opts.model_copy(update={"kind": kind})
    st = _FileIngest(lake, path, opts, max_field_bytes, keys)
    if why:
        st.report.kinds[(kind, why)] += 1
    records = read_records(path, batch_rows=batch_rows, split=None)

    def checked() -> Iterator[dict]:
        for row in st.rows(records):
            if strict and st.rejects:
                break
            yield row
            if progress is not None:
                progress.advance(1)
        if strict and (st.rejects or st.report.rejected):
            r = st.rejects[0] if st.rejects else {"line": "?", "reason": next(iter(st.report.rejected))}
            raise StrictReject(f"--strict: {st.file} line {r['line']}: {r['reason']}; nothing was written "
                               f"(drop --strict to load the good rows and keep the bad ones in `rejects`)")

    main_table = "trajectories" if opts.kind == "trajectories" else "questions"
    batches = (_columns(main_table, b) for b in _batched(checked(), batch_rows))
    lake.append_stream(main_table, _conformed(main_table, batches))
    if strict and st.rejects:  # a file whose only records were bad never reached the generator's end
        raise StrictReject(f"--strict: {st.file} line {st.rejects[0]['line']}: {st.rejects[0]['reason']}; nothing was written")
    # Small tables after the big one: a kill in between is finished by a rerun (dedup by key).
    if st.questions:
        lake.append("questions", st.questions)
    if st.verdicts:
        lake.append("verdicts", st.verdicts)
        st.report.verdicts_inserted = len(st.verdicts)
    if st.rejects:
        lake.append("rejects", st.rejects)
        st.report.rejects_new = len(st.rejects)
    return st.report


def _conformed(table: str, batches: Iterator[pa.Table]) -> Iterator[pa.Table]:
    for b in batches:
        yield conform(table, b)


def ingest_paths(lake: Lake, paths: list[str | Path], shape: SourceShape | None = None, *, strict: bool = False,
                 batch_rows: int = 2000, max_field_bytes: int = 4_000_000, show_progress: bool = True,
                 touched: set | None = None, mapping: dict[str, str] | None = None, **fields: Any) -> IngestReport:
    """Ingest several files with the same options; returns the combined report.

    How to read them is a `SourceShape` (ded/params.py: kind, preset, source, model, domain, map, license), given
    as `shape` (an `ingest.sources[]` entry) or as its fields (`kind="questions", preset="lcb"`; `mapping` is
    `map`), validated like a params file. `kind`: questions, trajectories, or auto (per file, `resolve_kind`).

    `touched`: question ids this command already inserted or counted, shared by the calls of one command
    (`ded ingest` over `ingest.sources`), so a question is "already present" only if stored before it."""
    if mapping is not None:
        fields["map"] = dict(mapping)
    try:
        opts = SourceShape.model_validate({**(shape.model_dump(include=set(SourceShape.model_fields)) if shape else {}),
                                           **fields})
    except ValidationError as e:
        bad = {err["loc"][0]: err for err in e.errors()}
        if "preset" in bad:  # the common slip: say what exists
            raise ValueError(f"unknown preset {bad['preset'].get('input')!r}; presets: {', '.join(PRESETS)} "
                             f"(one file each in ded/ingest/presets/)") from None
        raise ValueError("invalid ingest options: " + "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']} (got {err.get('input')!r})" for err in e.errors())) from None
    total = IngestReport()
    if strict:  # validate every file first so that a bad one leaves all tables untouched
        for p in paths:
            _validate(p, opts, batch_rows, max_field_bytes)
    # One read of the stored keys for all files; an exception ends the call, so keys of a failed
    # (uncommitted) file never outlive it.
    keys = LakeKeys.read(lake, opts.kind)
    if touched is not None:
        keys.touched_q = touched
    with progress(desc="ingest", unit="rows") as bar:
        for p in paths:
            total.merge(ingest_file(lake, p, opts, strict=strict, keys=keys, batch_rows=batch_rows,
                                    max_field_bytes=max_field_bytes, progress=bar if show_progress else None))
    return total


def _validate(path: str | Path, opts: SourceShape, batch_rows: int, max_field: int) -> None:
    preset = get_preset(opts.preset)
    kind, _ = resolve_kind(path, opts, batch_rows)
    for rec in read_records(path, batch_rows=batch_rows, split=None):
        reason = rec.reason if rec.data is None else _too_large(rec.data, max_field)
        if reason is None:
            data = {opts.map.get(k, k): v for k, v in rec.data.items()} if opts.map else rec.data
            try:
                preset(data, kind)
            except Reject as e:
                reason = str(e)
        if reason:
            raise StrictReject(f"--strict: {_file_label(path)} line {rec.line}: {reason}; nothing was written "
                               f"(drop --strict to load the good rows and keep the bad ones in `rejects`)")
