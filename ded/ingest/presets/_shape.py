"""The shapes every preset maps onto (`Parsed`, `Traj`, `Reject`), the field names the field's datasets use,
and the readers the presets share (ded/ingest/presets/<name>.py each map one published row shape)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ded.ingest import code_tests


class Reject(ValueError):
    """A record that cannot be ingested; the message is the reason stored in `rejects`."""


@dataclass
class Traj:
    response: str
    sample_idx: int | None = None
    model: str | None = None
    finish_reason: str | None = None
    n_tokens: int | None = None
    correct: bool | None = None  # an imported label → a verdict with verifier "imported"
    extracted: str | None = None
    reasoning: str | None = None  # when the source splits reasoning and answer itself (s1K)
    final: str | None = None
    gen_params: dict[str, Any] | None = None


@dataclass
class Parsed:
    problem: str | None = None
    question_id: str | None = None  # a trajectory row may link a stored question by id instead of text
    domain: str | None = None
    source_id: str | None = None
    answer: str | None = None
    solution: str | None = None
    tests: list[dict[str, Any]] | None = None
    starter_code: str | None = None
    entry_point: str | None = None
    license: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    trajectories: list[Traj] = field(default_factory=list)


PROBLEM_KEYS = ("problem", "question", "prompt", "question_content", "input", "instruction", "query", "content")
ANSWER_KEYS = ("answer", "gt", "ground_truth", "final_answer", "expected_answer", "reference_answer", "target")
SOLUTION_KEYS = ("solution", "reference_solution", "canonical_solution", "gt_cot")
ID_KEYS = ("id", "unique_id", "task_id", "question_id", "problem_id", "idx", "uuid", "_key")
RESPONSE_KEYS = ("response", "completion", "output", "generation", "answer_text", "model_output")
LIST_RESPONSE_KEYS = ("responses", "generations", "completions", "outputs", "code")
LABEL_KEYS = ("correct", "is_correct", "score", "correctness")
# Big per-sample lists are the trajectories themselves: never copied into question metadata.
NOT_METADATA = set(PROBLEM_KEYS + ANSWER_KEYS + SOLUTION_KEYS + RESPONSE_KEYS + LIST_RESPONSE_KEYS + LABEL_KEYS) | {
    "pred", "report", "history", "pred_score", "tests", "public_tests", "private_tests", "starter_code",
    "entry_point", "test", "generations", "correctness_math_verify", "correctness_llama", "finish_reasons",
    "conversations", "system", "thinking_trajectories", "attempt", "messages", "model", "domain", "license",
    # code pools' tests and reference programs (kept in their own columns, or too big for metadata)
    "input_output", "solutions", "public_test_cases", "private_test_cases", "test_list", "challenge_test_list",
    "test_setup_code", "test_imports", "official_tests", "examples", "generated_checker", "reward_model",
}


def _str(v: Any, name: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    raise Reject(f"wrong type for {name}: expected a string, got {type(v).__name__}")


def _text(v: Any, name: str) -> str | None:
    """Question and response text: a string or nothing. A number or a bool where text belongs is a
    broken record (`{"problem": 5}`), not a question "5"; CSV cells are read as text, so they pass."""
    if v is None or isinstance(v, str):
        return v
    raise Reject(f"wrong type for {name}: expected text, got {type(v).__name__}"
                 + (" (quote it in the source if it is meant as text)" if isinstance(v, (int, float)) else ""))


def _first(rec: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for k in keys:
        if k in rec and rec[k] is not None and rec[k] != "":
            return k, rec[k]
    return None, None


def _metadata(rec: dict[str, Any], used: set[str]) -> dict[str, Any]:
    out = {}
    for k, v in rec.items():
        if k in used or k in NOT_METADATA or k.startswith("_"):
            continue
        if isinstance(v, (str, int, float, bool)) or v is None:
            if isinstance(v, str) and len(v) > 2000:
                continue
            out[k] = v
    return out


def _literal(v: Any) -> Any:
    """Python-literal strings (single quotes) as published by LCB/rllm; JSON strings too (code_tests.literal);
    an unparseable one is a Reject."""
    try:
        return code_tests.literal(v)
    except code_tests.TestShapeError as e:
        raise Reject(str(e)) from None


def _bool(v: Any) -> bool | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "1", "correct", "yes"):
        return True
    if isinstance(v, str) and v.strip().lower() in ("false", "0", "wrong", "incorrect", "no"):
        return False
    return None


def normalize_tests(v: Any, fn_name: str | None = None) -> list[dict[str, Any]] | None:
    """Every published test shape → ARCHITECTURE.md's list of {input, output, testtype} or {script, testtype}
    (the shapes: `ded.ingest.code_tests`)."""
    try:
        return code_tests.normalize_tests(v, fn_name)
    except code_tests.TestShapeError as e:
        raise Reject(str(e)) from None


def _answer(v: Any) -> str | None:
    """Answers as text; a one-element list (OlympiadBench's "['2']") becomes its element."""
    v = _literal(v) if isinstance(v, str) and v.strip().startswith("[") else v
    if isinstance(v, list):
        if not v:
            return None
        return str(v[0]) if len(v) == 1 else ", ".join(str(x) for x in v)
    if isinstance(v, bool):
        return str(v)
    return _str(v, "answer")


def _list(rec: dict[str, Any], key: str) -> list[Any]:
    v = _literal(rec.get(key))
    if v is None:
        return []
    if not isinstance(v, list):
        raise Reject(f"wrong type for {key}: expected a list, got {type(v).__name__}")
    return v


def _generic_trajs(rec: dict[str, Any]) -> list[Traj]:
    model = _str(rec.get("model"), "model")
    label = _first(rec, LABEL_KEYS)[1]
    rk, resp = _first(rec, RESPONSE_KEYS)
    if resp is not None and not isinstance(resp, list):
        return [Traj(_text(resp, rk), _int(rec.get("sample_idx")), model, _str(rec.get("finish_reason"), "finish_reason"),
                     _int(rec.get("n_tokens")), _bool(label), _str(rec.get("extracted"), "extracted"))]
    lk, lst = _first(rec, LIST_RESPONSE_KEYS)
    if resp is not None and isinstance(resp, list):
        lk, lst = rk, resp
    if lst is None:
        if "messages" in rec:
            return [_from_messages(rec["messages"], model)]
        raise Reject(f"missing required field: response (looked for {', '.join(RESPONSE_KEYS + LIST_RESPONSE_KEYS)})")
    lst = _literal(lst)
    if isinstance(lst, dict) and lst and all(isinstance(v, dict) and "content" in v for v in lst.values()):
        return _keyed_trajs(rec, lk, lst, model)
    if not isinstance(lst, list):
        raise Reject(f"wrong type for {lk}: expected a list")
    labels = _literal(label) if isinstance(label, (list, str)) else None
    labels = labels if isinstance(labels, list) else [None] * len(lst)
    return [Traj(_text(r, lk), i, model, correct=_bool(labels[i]) if i < len(labels) else None) for i, r in enumerate(lst)]


def _keyed_trajs(rec: dict[str, Any], lk: str, resp: dict[str, Any], model: str | None) -> list[Traj]:
    """SkyThought tools dumps: responses {"0.0": {content, correctness, reason}} keyed by temperature,
    token_usages {"0.0": {completion_tokens}}."""
    usage = rec.get("token_usages") if isinstance(rec.get("token_usages"), dict) else {}
    out = []
    for i, (key, r) in enumerate(resp.items()):
        try:
            gen = {"temperature": float(key)}
        except ValueError:
            gen = {"key": key}
        u = usage.get(key)
        out.append(Traj(_text(r.get("content"), lk), i, model, n_tokens=_int(u.get("completion_tokens")) if isinstance(u, dict) else None,
                        correct=_bool(r.get("correctness")), gen_params=gen))
    return out


def _from_messages(msgs: Any, model: str | None) -> Traj:
    if not isinstance(msgs, list):
        raise Reject("messages must be a list")
    asst = [m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "assistant"]
    if not asst:
        raise Reject("messages without an assistant turn")
    return Traj(_text(asst[-1], "messages"), 0, model)


def _int(v: Any) -> int | None:
    if v is None or v == "":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        raise Reject(f"wrong type: expected an integer, got {v!r}") from None


_GSM8K_FINAL = re.compile(r"\n\s*####\s*(.+?)\s*$", re.DOTALL)


_GSM8K_FINAL = re.compile(r"\n\s*####\s*(.+?)\s*$", re.DOTALL)
_LETTER_ANSWER = re.compile(r"^\(?[A-J]\)?$")


def gsm8k_split(answer: Any) -> tuple[str, str] | None:
    """GSM8K's `answer` is the worked solution ending in a line `#### 72`: (solution, final answer), else None."""
    if not isinstance(answer, str):
        return None
    m = _GSM8K_FINAL.search(answer)
    return (answer[:m.start()].strip(), m.group(1).strip()) if m and "\n" not in m.group(1) else None


def _func_name(meta: Any) -> str | None:
    """LiveCodeBench's `metadata` ({"func_name": ...}, a dict or JSON text) → the functional tests' method."""
    meta = _literal(meta) if isinstance(meta, str) else meta
    name = meta.get("func_name") if isinstance(meta, dict) else None
    return str(name) if name else None


def _starter_method(starter: str | None) -> str | None:
    m = re.search(r"def\s+(\w+)\s*\(\s*self", starter or "")
    return m.group(1) if m else None


def _chat_user(v: Any) -> Any:
    """A chat-format prompt (verl parquet rows: [{role, content}]) → its last user message."""
    if isinstance(v, list) and v and all(isinstance(m, dict) and "role" in m for m in v):
        users = [m.get("content") for m in v if m.get("role") == "user"]
        return users[-1] if users else None
    return v


def _filled(v: Any) -> bool:
    return v is not None and v != "" and v != [] and v != "[]"


def _has_turn(v: Any, key: str, roles: tuple[str, ...]) -> bool:
    return isinstance(v, list) and any(isinstance(m, dict) and m.get(key) in roles and _filled(m.get("content", m.get("value")))
                                       for m in v)


def default_response_field(rec: dict[str, Any]) -> str | None:
    """The field carrying responses in a row of the common field names (generic and the code presets), or None."""
    for k in RESPONSE_KEYS + LIST_RESPONSE_KEYS:
        v = rec.get(k)
        if not _filled(v):
            continue
        if k == "code" and not (isinstance(v, list) or (isinstance(v, str) and v.lstrip().startswith("["))):
            continue  # a reference `code` string, not a list of responses
        return k
    if _has_turn(rec.get("messages"), "role", ("assistant",)):
        return "messages"
    return None


@dataclass(frozen=True)
class Preset:
    """One published row shape. `parse(record, kind)` → Parsed, or raises Reject(reason)."""

    name: str  # what `--preset` / ingest.sources[].preset says; the file is the name with - as _
    parse: Callable[[dict[str, Any], str], Parsed]
    doc: str  # one line: whose rows these are (ded ingest --help, README)
    trajectories: bool = False  # its rows are model responses: with kind auto they ingest as trajectories
    response_field: Callable[[dict[str, Any]], str | None] = default_response_field  # where its responses are
    problem_keys: tuple[str, ...] = PROBLEM_KEYS  # the fields its problem text comes from
    problem: Callable[[dict[str, Any]], str | None] | None = None  # or how it builds the text from the record
    looks_like: Callable[[dict[str, Any]], bool] | None = None  # a stored reject of unknown preset is this shape
