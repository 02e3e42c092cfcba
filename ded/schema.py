"""Every lake table's Arrow schema and key, in one place (ARCHITECTURE.md, "Core columns").

Stages may add columns to a table (schema evolution) but never rename or retype these.
`conform` turns whatever a stage produced (dicts or an Arrow table) into a table whose core
columns have exactly these types, in this order, followed by any extra columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
S = pa.string()
VEC = pa.list_(pa.float32())


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields])


SCHEMAS: dict[str, pa.Schema] = {
    "questions": _schema(
        ("question_id", S), ("domain", S), ("source", S), ("source_id", S), ("problem", S),
        ("answer", S), ("solution", S), ("tests", S), ("starter_code", S), ("entry_point", S),
        ("license", S), ("metadata", S), ("ingested_at", TS),
    ),
    "trajectories": _schema(
        ("trajectory_id", S), ("question_id", S), ("model", S), ("sample_idx", pa.int32()),
        ("prompt", S), ("response", S), ("reasoning", S), ("final", S), ("finish_reason", S),
        ("n_tokens", pa.int32()), ("gen_params", S), ("fingerprint", S), ("origin", S),
        ("created_at", TS),
    ),
    "verdicts": _schema(
        ("trajectory_id", S), ("verifier", S), ("verifier_version", S), ("status", S),
        ("correct", pa.bool_()), ("extracted", S), ("tests_passed", pa.int32()),
        ("tests_total", pa.int32()), ("format_ok", pa.bool_()), ("detail", S), ("verified_at", TS),
        # the format check's facts (ded/verifiers/format.py owns them; scores read these columns): n_tokens,
        # the response's length under the verifier's tokenizer; think_paired, its reasoning markers in order;
        # finished, not cut off (format_ok = think_paired and finished). Null where no format check ran
        # (an imported verdict).
        ("n_tokens", pa.int32()), ("think_paired", pa.bool_()), ("finished", pa.bool_()),
    ),
    "rejects": _schema(
        ("file", S), ("line", pa.int64()), ("source", S), ("reason", S), ("raw", S),
        ("rejected_at", TS),
    ),
    "question_vectors": _schema(
        ("id", S), ("chunk", pa.int32()), ("vector", VEC), ("embedding_model", S), ("text_hash", S),
    ),
    "trajectory_vectors": _schema(
        ("id", S), ("chunk", pa.int32()), ("vector", VEC), ("embedding_model", S), ("text_hash", S),
    ),
    "duplicates": _schema(
        ("question_id", S), ("group_id", S), ("representative", S), ("method", S),
        ("score", pa.float64()),
    ),
    "contamination": _schema(
        ("question_id", S), ("benchmark", S), ("item_id", S), ("method", S), ("score", pa.float64()),
    ),
    "benchmark_items": _schema(
        ("benchmark", S), ("item_id", S), ("problem", S), ("answer", S), ("tests", S),
        ("choices", S), ("domain", S),
    ),
    # `ded score` (sql/score/*.sql; their headers say what each column means)
    "question_scores": _schema(
        ("question_id", S), ("domain", S), ("source", S), ("attempts", pa.int64()), ("teacher_attempts", pa.int64()),
        ("teacher_correct", pa.int64()), ("teacher_undecided", pa.int64()), ("teacher_pass_rate", pa.float64()),
        ("student_attempts", pa.int64()), ("student_correct", pa.int64()), ("student_undecided", pa.int64()),
        ("student_pass_rate", pa.float64()), ("n_models", pa.int64()), ("n_models_correct", pa.int64()),
        ("n_clusters", pa.int64()), ("n_answered", pa.int64()), ("majority_answer", S),
        ("majority_correct", pa.bool_()), ("agreement", pa.float64()), ("answer_entropy", pa.float64()),
        ("contaminated", pa.bool_()), ("contaminated_by", S), ("benchmark_near_duplicate", pa.bool_()),
        ("near_duplicate_of", S), ("duplicate_group", S), ("is_duplicate", pa.bool_()), ("duplicate_of", S),
        ("band", S),
    ),
    "trajectory_scores": _schema(
        ("trajectory_id", S), ("question_id", S), ("model", S), ("sample_idx", pa.int32()), ("is_student", pa.bool_()),
        ("domain", S), ("verifier", S), ("status", S), ("correct", pa.bool_()), ("extracted", S), ("answer_key", S),
        ("format_ok", pa.bool_()), ("format_from_text", pa.bool_()), ("n_tokens", pa.int32()),
        ("n_tokens_estimated", pa.bool_()), ("finished", pa.bool_()), ("reasoning_chars", pa.int64()),
    ),
    "model_scores": _schema(
        ("model", S), ("domain", S), ("band", S), ("is_student", pa.bool_()), ("n", pa.int64()),
        ("decided", pa.int64()), ("undecided", pa.int64()), ("n_correct", pa.int64()), ("accuracy", pa.float64()),
        ("mean_tokens", pa.float64()), ("median_tokens", pa.float64()), ("format_ok_share", pa.float64()),
        ("finished_share", pa.float64()), ("mean_student_entropy", pa.float64()), ("mean_student_rsr", pa.float64()),
        ("n_student_scored", pa.int64()), ("entropy_source", S), ("rsr_source", S), ("smoke_score", pa.float64()),
        ("smoke_ci_low", pa.float64()), ("smoke_ci_high", pa.float64()), ("smoke_benchmarks", S),
    ),
    "smoke_results": _schema(
        ("model", S), ("benchmark", S), ("score", pa.float64()), ("n", pa.int64()),
        ("corpus_size", pa.int64()), ("score_ci_low", pa.float64()), ("score_ci_high", pa.float64()),
    ),
    "selection": _schema(
        ("run_id", S), ("trajectory_id", S), ("recipe", S), ("question_id", S), ("kept", pa.bool_()),
        ("dropped_by", S), ("rank", pa.int64()), ("reasons", S), ("params_hash", S),
        ("input_versions", S), ("model", S), ("domain", S), ("selected_at", TS),
    ),
    "eval_samples": _schema(
        ("run_id", S), ("benchmark", S), ("item_id", S), ("sample_idx", pa.int32()), ("model", S),
        ("response", S), ("extracted", S), ("correct", pa.bool_()), ("n_tokens", pa.int32()),
        ("fingerprint", S),
    ),
    # `ded ablate aggregate` (docs/ablation.md): one row per arm x benchmark (benchmark null for an arm
    # that was selected and exported only, ablate.train: false)
    "ablations": _schema(
        ("arm", S), ("recipe", S), ("stage", S), ("budget", pa.int64()), ("seed", pa.int64()), ("teacher", S),
        ("objective", S), ("benchmark", S), ("corpus_rows", pa.int64()), ("corpus_questions", pa.int64()),
        ("corpus_tokens", pa.int64()), ("avg_at_n", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()),
        ("items", pa.int64()), ("samples_per_item", pa.int64()), ("sft_tokens_per_s", pa.float64()),
        ("sft_wall_s", pa.float64()), ("eval_wall_s", pa.float64()), ("wall_s", pa.float64()),
        ("selection_run", S), ("eval_run", S), ("teachers_chosen", S), ("ablated_at", TS),
    ),
    # `sft.objective: t3s` (docs/training.md): one row per corpus trajectory and T3S run; the mask is over the
    # tokens SFT trains (the assistant turn's labels, in order), True = an anchor, left out of the loss
    "t3s_masks": _schema(
        ("run_id", S), ("trajectory_id", S), ("question_id", S), ("n_tokens", pa.int64()), ("n_anchors", pa.int64()),
        ("mask", pa.list_(pa.bool_())), ("token_ids", pa.list_(pa.int32())), ("delta", pa.list_(pa.float32())),
        ("anchor_tokens", pa.list_(S)), ("base_model", S), ("bottleneck", S), ("created_at", TS),
    ),
}

KEYS: dict[str, list[str]] = {
    "questions": ["question_id"],
    "trajectories": ["trajectory_id"],
    "verdicts": ["trajectory_id", "verifier"],
    "rejects": ["file", "line"],
    "question_vectors": ["id", "chunk"],
    "trajectory_vectors": ["id", "chunk"],
    "duplicates": ["question_id", "group_id"],
    "contamination": ["question_id", "benchmark", "item_id"],
    "benchmark_items": ["benchmark", "item_id"],
    "question_scores": ["question_id"],
    "trajectory_scores": ["trajectory_id"],
    "model_scores": ["model", "domain", "band"],
    "smoke_results": ["model", "benchmark"],
    "selection": ["run_id", "trajectory_id"],
    "eval_samples": ["run_id", "benchmark", "item_id", "sample_idx"],
    "ablations": ["arm", "benchmark"],
    "t3s_masks": ["run_id", "trajectory_id"],
}

TABLES = tuple(SCHEMAS)

# The student scores of one trajectory (`ded score` with score.student_scores; ded/scorers/student_run.py),
# joined into trajectory_scores and carried between runs for the same scoring model, settings and text.
STUDENT_SCHEMA = pa.schema([
    ("trajectory_id", S), ("student_model", S), ("student_text_hash", S),
    ("student_tokens", pa.int64()), ("student_entropy", pa.float64()), ("student_rsr", pa.float64()),
    ("student_surprisal", pa.float64()), ("student_scorer", S),
])


# Columns a table has only when the stage that adds them ran (declared here too, so every column of the lake
# has one definition): conform casts them to these types when present and does not add them when absent.
OPTIONAL: dict[str, pa.Schema] = {
    "trajectory_scores": pa.schema([
        # score.limo (ded/scorers/limo.py)
        ("limo_words", pa.uint32()), ("limo_verify_per_1k", pa.float64()), ("limo_explore_per_1k", pa.float64()),
        ("limo_connect_per_1k", pa.float64()), ("limo_score", pa.float64()),
        # score.student_scores (ded/scorers/student_run.py)
        *[(f.name, f.type) for f in STUDENT_SCHEMA if f.name != "trajectory_id"],
    ]),
}


class SchemaError(ValueError):
    """Data that cannot be shaped into a table's core schema."""


def schema_for(table: str) -> pa.Schema:
    try:
        return SCHEMAS[table]
    except KeyError:
        raise SchemaError(f"unknown table {table!r}; known tables: {', '.join(TABLES)}") from None


def _to_table(data: Any, schema: pa.Schema | None) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, Mapping):
        return pa.table(dict(data))
    rows = list(data) if isinstance(data, Iterable) else None
    if rows is None:
        raise SchemaError(f"cannot make a table from {type(data).__name__}")
    if not rows:
        return schema.empty_table() if schema is not None else pa.table({})
    names = list(dict.fromkeys(k for r in rows for k in r))
    cols = {}
    for n in names:
        vals = [r.get(n) for r in rows]
        t = schema.field(n).type if schema is not None and n in schema.names else None
        try:
            cols[n] = pa.array(vals, type=t)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # let conform cast, or explain why it cannot
            try:
                cols[n] = pa.array(vals)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise SchemaError(f"{n}: mixed or unsupported values: {e}") from e
    return pa.table(cols)


def conform(table: str, data: Any) -> pa.Table:
    """Shape `data` (Arrow table/batch, list of dicts, or dict of columns) into `table`'s schema.

    Core columns come first with their declared types (missing ones are null); extra columns
    follow, cast to their OPTIONAL declaration when they have one, which is how a stage adds columns to an
    existing table.
    """
    schema = schema_for(table)
    t = _to_table(data, schema)
    cols, fields = [], []
    for f in schema:
        if f.name in t.column_names:
            col = t.column(f.name)
            if col.type != f.type:
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise SchemaError(f"{table}.{f.name}: cannot cast {col.type} to {f.type}: {e}") from e
        else:
            col = pa.nulls(t.num_rows, f.type)
        cols.append(col)
        fields.append(f)
    optional = OPTIONAL.get(table, pa.schema([]))
    for name in t.column_names:
        if name not in schema.names:
            col = t.column(name)
            if name in optional.names and col.type != optional.field(name).type:
                try:
                    col = col.cast(optional.field(name).type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise SchemaError(f"{table}.{name}: cannot cast {col.type} to {optional.field(name).type}: {e}") from e
            elif pa.types.is_null(col.type):
                col = col.cast(pa.string())
            cols.append(col)
            fields.append(pa.field(name, col.type))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))
