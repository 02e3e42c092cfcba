"""Presets: the row shapes this field publishes, mapped onto questions, trajectories and verdicts.

A preset turns one source record into a `Parsed` (a question, its trajectories, imported
verdicts), or raises `Reject(reason)`. Presets only map fields; ids, reasoning splitting and
dedup happen in `ded.ingest.core`, so every preset gets them the same way.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ded.text import last_boxed


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
    """Python-literal strings (single quotes) as published by LCB/rllm; JSON strings too."""
    if not isinstance(v, str):
        return v
    s = v.strip()
    if not s or s[0] not in "[{":
        return v
    try:
        return json.loads(s)
    except ValueError:
        try:
            return ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise Reject("unparseable tests/list field (neither JSON nor a Python literal)") from None


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


def normalize_tests(v: Any) -> list[dict[str, Any]] | None:
    """Every published test shape → ARCHITECTURE.md's list of {input, output, testtype} or {script, testtype}."""
    v = _literal(v)
    if v is None or v == "" or v == []:
        return None
    if isinstance(v, str):  # test code
        return [{"script": v, "testtype": "script"}]
    if isinstance(v, dict) and "inputs" in v and "outputs" in v:
        ins, outs = v["inputs"], v["outputs"]
        if not isinstance(ins, list) or not isinstance(outs, list) or len(ins) != len(outs):
            raise Reject("tests {inputs, outputs} must be two lists of equal length")
        tt = v.get("testtype", "stdin")
        return [{"input": str(i), "output": str(o), "testtype": tt} for i, o in zip(ins, outs)]
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        raise Reject(f"wrong type for tests: {type(v).__name__}")
    out = []
    for t in v:
        if not isinstance(t, dict):
            raise Reject("each test must be an object with input/output or script")
        if "script" in t:
            out.append({"script": str(t["script"]), "testtype": "script"})
        elif "input" in t and "output" in t:
            out.append({"input": t["input"] if isinstance(t["input"], str) else json.dumps(t["input"]),
                        "output": t["output"] if isinstance(t["output"], str) else json.dumps(t["output"]),
                        "testtype": t.get("testtype") or "stdin"})
        else:
            raise Reject("each test must have input and output, or script")
    return out


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


# -- questions ------------------------------------------------------------------------------
def generic(rec: dict[str, Any], kind: str) -> Parsed:
    pk, problem = _first(rec, PROBLEM_KEYS)
    qid = rec.get("question_id") if kind == "trajectories" and not problem else None
    if problem is None and qid is None:
        raise Reject(f"missing required field: problem (looked for {', '.join(PROBLEM_KEYS)})")
    if isinstance(problem, list) and problem and all(isinstance(m, dict) and "role" in m for m in problem):
        users = [m.get("content") for m in problem if isinstance(m, dict) and m.get("role") == "user"]
        if not users:
            raise Reject("prompt is a list without a user message")
        problem = users[-1]
    ak, answer = _first(rec, ANSWER_KEYS)
    sk, solution = _first(rec, SOLUTION_KEYS)
    ik, sid = _first(rec, ID_KEYS)
    tests = normalize_tests(rec.get("tests") or rec.get("public_tests") or rec.get("test"))
    p = Parsed(problem=_text(problem, pk or "problem"), question_id=_str(qid, "question_id"),
               domain=_str(rec.get("domain"), "domain"), source_id=_str(sid, ik or "id"),
               answer=_answer(answer), solution=_str(solution, sk or "solution"), tests=tests,
               starter_code=_str(rec.get("starter_code"), "starter_code"),
               entry_point=_str(rec.get("entry_point"), "entry_point"),
               license=_str(rec.get("license"), "license"))
    if p.domain is None and (tests or p.starter_code):
        p.domain = "code"
    p.metadata = _metadata(rec, {k for k in (pk, ak, sk, ik) if k})
    split = gsm8k_split(answer)
    if split:  # GSM8K: `answer` is the solution and its `#### 72` line the final answer
        p.answer = split[1]
        p.solution = p.solution or split[0]
        p.metadata["answer_field"] = f"{ak}:gsm8k_final_line"
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


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
_LETTER_ANSWER = re.compile(r"^\(?[A-J]\)?$")


def gsm8k_split(answer: Any) -> tuple[str, str] | None:
    """GSM8K's `answer` is the worked solution ending in a line `#### 72`: (solution, final answer), else None."""
    if not isinstance(answer, str):
        return None
    m = _GSM8K_FINAL.search(answer)
    return (answer[:m.start()].strip(), m.group(1).strip()) if m and "\n" not in m.group(1) else None


def harness_reference(rec: dict[str, Any]) -> tuple[Any, str]:
    """(reference answer, where it came from) for a Qwen2.5-Math harness row.

    The harness stores `gt`, its own normal form of the reference (`strip_string` in its parser.py), and
    copies the source example's `answer` when the source has one. `gt` is lossy: it deletes any unit word
    of its list that stands alone, `a` among them (`(a+5)(b+2)` → `(+5)(b+2)`), all spaces (`\\cot x` →
    `\\cotx`), and `\\\\` in some matrices; so the source's `answer` wins when it is the final answer.
    Two sources' `answer` is not: GSM8K's is the whole solution ending `#### 72` (its last line is the
    answer) and MMLU-STEM's an option index (0–3) whose letter is `gt`; there, and when `answer` is
    absent, `gt` is what there is."""
    gt, ans = rec.get("gt"), rec.get("answer")
    if ans is None or ans == "" or isinstance(ans, (list, dict)):
        return gt, "gt:no_answer_field" if gt not in (None, "") else "none"
    split = gsm8k_split(ans)
    if split:
        return split[1], "answer:gsm8k_final_line"
    if isinstance(ans, (int, float)) and not isinstance(ans, bool) and isinstance(gt, str) and _LETTER_ANSWER.match(gt.strip()):
        return gt, "gt:answer_is_option_index"
    return ans, "answer"


def qwen_math_eval(rec: dict[str, Any], kind: str) -> Parsed:
    """Qwen2.5-Math evaluation-harness rows: question, gt, answer, code[] (responses), pred[], score[].

    The reference is the source's `answer` (see `harness_reference`); the harness's `gt` is kept in
    metadata as `harness_gt`, and `answer_field` says which field the answer came from."""
    problem = rec.get("question") or rec.get("problem")
    if not problem:
        raise Reject("missing required field: question")
    codes = _list(rec, "code")
    preds = _list(rec, "pred")
    scores = _list(rec, "score")
    if kind == "trajectories" and not codes:
        raise Reject("missing required field: code (the list of responses)")
    ref, where = harness_reference(rec)
    p = Parsed(problem=_text(problem, "question"), domain="math", source_id=_str(rec.get("idx"), "idx"),
               answer=_answer(ref), solution=_str(rec.get("solution"), "solution"))
    p.metadata = _metadata(rec, {"question", "gt", "idx"})
    if rec.get("gt") not in (None, ""):
        p.metadata["harness_gt"] = _answer(rec["gt"])
    p.metadata["answer_field"] = where
    if kind == "trajectories":
        for i, c in enumerate(codes):
            p.trajectories.append(Traj(_text(c, "code"), i, None, correct=_bool(scores[i]) if i < len(scores) else None,
                                       extracted=_str(preds[i], "pred") if i < len(preds) else None))
    return p


def lcb(rec: dict[str, Any], kind: str) -> Parsed:
    """LiveCodeBench rows: question_content, starter_code, public_tests (stdin and functional)."""
    problem = rec.get("question_content")
    if not problem:
        raise Reject("missing required field: question_content")
    tests = normalize_tests(rec.get("public_tests"))
    starter = rec.get("starter_code") or None
    entry = None
    if starter:
        m = re.search(r"def\s+(\w+)\s*\(\s*self", starter)
        entry = m.group(1) if m else None
    p = Parsed(problem=_text(problem, "question_content"), domain="code", source_id=_str(rec.get("question_id"), "question_id"),
               tests=tests, starter_code=starter, entry_point=entry)
    p.metadata = _metadata(rec, {"question_content", "question_id"})
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


def rllm(rec: dict[str, Any], kind: str) -> Parsed:
    """rllm math and code pools: problem, answer (OlympiadBench: a list), tests in three shapes."""
    problem = rec.get("problem")
    if not problem:
        raise Reject("missing required field: problem")
    tests = normalize_tests(rec.get("tests"))
    p = Parsed(problem=_text(problem, "problem"), domain="code" if tests else "math",
               source_id=_str(rec.get("id") or rec.get("unique_id"), "id"), answer=_answer(rec.get("answer")),
               tests=tests)
    sol = _literal(rec.get("solution"))
    p.solution = "\n\n".join(map(str, sol)) if isinstance(sol, list) else _str(sol, "solution")
    p.metadata = _metadata(rec, {"problem", "answer", "id", "unique_id"})
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


def humaneval(rec: dict[str, Any], kind: str) -> Parsed:
    """HumanEval: prompt (signature + docstring), entry_point, canonical_solution, test (check(candidate))."""
    for k in ("prompt", "entry_point", "test"):
        if not rec.get(k):
            raise Reject(f"missing required field: {k}")
    p = Parsed(problem=_text(rec["prompt"], "prompt"), domain="code", source_id=_str(rec.get("task_id"), "task_id"),
               solution=_str(rec.get("canonical_solution"), "canonical_solution"),
               tests=[{"script": _str(rec["test"], "test"), "testtype": "script"}],
               starter_code=rec["prompt"], entry_point=_str(rec["entry_point"], "entry_point"))
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


def openr1_math(rec: dict[str, Any], kind: str) -> Parsed:
    """open-r1/OpenR1-Math-220k: problem, answer, solution, generations[], correctness_math_verify[]."""
    if not rec.get("problem"):
        raise Reject("missing required field: problem")
    p = Parsed(problem=_text(rec["problem"], "problem"), domain="math", source_id=_str(rec.get("uuid"), "uuid"),
               answer=_answer(rec.get("answer")), solution=_str(rec.get("solution"), "solution"))
    p.metadata = _metadata(rec, {"problem", "answer", "solution", "uuid"})
    if kind == "trajectories":
        gens = _list(rec, "generations")
        if not gens:
            raise Reject("missing required field: generations")
        ok = _list(rec, "correctness_math_verify")
        fr = _list(rec, "finish_reasons")
        for i, g in enumerate(gens):
            p.trajectories.append(Traj(_text(g, "generations"), i, rec.get("model"),
                                       finish_reason=_str(fr[i], "finish_reasons") if i < len(fr) else None,
                                       correct=_bool(ok[i]) if i < len(ok) else None))
    return p


def openthoughts(rec: dict[str, Any], kind: str) -> Parsed:
    """OpenThoughts-114k default config: system + conversations [{from: user|assistant, value}]."""
    conv = rec.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise Reject("missing required field: conversations (a list of {from, value})")
    user = [c.get("value") for c in conv if isinstance(c, dict) and c.get("from") in ("user", "human")]
    asst = [c.get("value") for c in conv if isinstance(c, dict) and c.get("from") in ("assistant", "gpt")]
    if not user:
        raise Reject("conversations without a user turn")
    p = Parsed(problem=_text(user[0], "conversations"), domain=_str(rec.get("domain"), "domain"))
    p.metadata = _metadata(rec, set())
    if kind == "trajectories":
        if not asst:
            raise Reject("conversations without an assistant turn")
        p.trajectories = [Traj(_text(asst[0], "conversations"), 0, rec.get("model"))]
    return p


def reference_from_solution(solution: str | None) -> tuple[str | None, str | None]:
    """s1K has no answer field: its `solution` is the reference, a worked solution ending in `\\boxed{}`
    (NuminaMath, MATH) or the bare answer (AIME's "128"). (answer, where) from it: the last `\\boxed{}`, else
    the whole solution when it is one short line; else (None, None), and the math verifier calls it
    undecidable (a judge can still grade it)."""
    if not solution or not solution.strip():
        return None, None
    boxed = last_boxed(solution)
    if boxed:
        return boxed, "solution:boxed"
    s = solution.strip()
    if len(s) <= 64 and "\n" not in s:
        return s, "solution:short"
    return None, None


S1K_TEACHERS = (  # (reasoning field, answer field, model name, grade field)
    ("thinking_trajectories", "attempt", "gemini-2.0-flash-thinking", None),
    ("gemini_thinking_trajectory", "gemini_attempt", "gemini-2.0-flash-thinking", "gemini_grade"),
    ("deepseek_thinking_trajectory", "deepseek_attempt", "deepseek-r1", "deepseek_grade"),
)


def s1k(rec: dict[str, Any], kind: str) -> Parsed:
    """simplescaling/s1K and s1K-1.1: question, solution, thinking trajectories and attempts per teacher."""
    if not rec.get("question"):
        raise Reject("missing required field: question")
    cot = rec.get("cot_type")
    domain = {"math": "math", "science": "science", "crossword": "other"}.get(str(cot), "math" if cot is None else "other")
    p = Parsed(problem=_text(rec["question"], "question"), domain=domain, solution=_str(rec.get("solution"), "solution"))
    p.metadata = _metadata(rec, {"question", "solution"})
    p.answer, where = reference_from_solution(p.solution)
    if where:
        p.metadata["answer_field"] = where
    if kind == "trajectories":
        seen = set()
        for rk, ak, model, gk in S1K_TEACHERS:
            if rec.get(rk) is None or model in seen:
                continue
            seen.add(model)
            thinking = rec[rk]
            thinking = "\n".join(map(str, thinking)) if isinstance(thinking, list) else _text(thinking, rk)
            final = _str(rec.get(ak), ak) or ""
            grade = rec.get(gk) if gk else None
            p.trajectories.append(Traj(f"<think>\n{thinking}\n</think>\n\n{final}", 0, model, reasoning=thinking,
                                       final=final, correct=_bool(grade) if isinstance(grade, (bool, str)) and str(grade).lower() in ("yes", "no", "true", "false") else None))
        if not p.trajectories:
            raise Reject("missing required field: thinking_trajectories (or gemini_/deepseek_thinking_trajectory)")
    return p


# Presets whose rows are model responses (a question set does not come in these shapes): with the
# default kind (auto) they ingest as trajectories.
TRAJECTORY_PRESETS = ("qwen-math-eval", "openr1-math", "openthoughts", "s1k")


def _filled(v: Any) -> bool:
    return v is not None and v != "" and v != [] and v != "[]"


def _has_turn(v: Any, key: str, roles: tuple[str, ...]) -> bool:
    return isinstance(v, list) and any(isinstance(m, dict) and m.get(key) in roles and _filled(m.get("content", m.get("value")))
                                       for m in v)


def response_field(rec: dict[str, Any], preset: str) -> str | None:
    """The field of `rec` that carries model responses as `preset` reads them, or None.

    Decides the default kind (auto) and finds the rows that `--kind questions` would drop."""
    if preset == "qwen-math-eval":
        return "code" if _filled(rec.get("code")) else None
    if preset == "openr1-math":
        return "generations" if _filled(rec.get("generations")) else None
    if preset == "openthoughts":
        return "conversations" if _has_turn(rec.get("conversations"), "from", ("assistant", "gpt")) else None
    if preset == "s1k":
        return next((rk for rk, *_ in S1K_TEACHERS if _filled(rec.get(rk))), None)
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


PRESETS: dict[str, Callable[[dict[str, Any], str], Parsed]] = {
    "generic": generic,
    "qwen-math-eval": qwen_math_eval,
    "lcb": lcb,
    "rllm": rllm,
    "humaneval": humaneval,
    "openr1-math": openr1_math,
    "openthoughts": openthoughts,
    "s1k": s1k,
}


def get_preset(name: str) -> Callable[[dict[str, Any], str], Parsed]:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None
