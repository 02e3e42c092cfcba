"""Presets: the row shapes this field publishes, mapped onto questions, trajectories and verdicts.

A preset turns one source record into a `Parsed` (a question, its trajectories, imported
verdicts), or raises `Reject(reason)`. Presets only map fields; ids, reasoning splitting and
dedup happen in `ded.ingest.core`, so every preset gets them the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from ded.ingest import code_tests
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
    tests = normalize_tests(rec.get("tests") or rec.get("public_tests") or rec.get("test") or rec.get("input_output")
                            or rec.get("test_list"))
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


def _func_name(meta: Any) -> str | None:
    """LiveCodeBench's `metadata` ({"func_name": ...}, a dict or JSON text) → the functional tests' method."""
    meta = _literal(meta) if isinstance(meta, str) else meta
    name = meta.get("func_name") if isinstance(meta, dict) else None
    return str(name) if name else None


def _starter_method(starter: str | None) -> str | None:
    m = re.search(r"def\s+(\w+)\s*\(\s*self", starter or "")
    return m.group(1) if m else None


def lcb(rec: dict[str, Any], kind: str) -> Parsed:
    """LiveCodeBench rows: question_content, starter_code, tests (stdin and functional) as the joined files
    (`public_tests`) or the release (`public_test_cases` JSON, `private_test_cases` base64+zlib+pickle, decoded
    without running pickled code) name them; `metadata.func_name` names the functional tests' method."""
    problem = rec.get("question_content")
    if not problem:
        raise Reject("missing required field: question_content")
    fn = _func_name(rec.get("metadata"))
    tests = normalize_tests(rec.get("public_tests") if rec.get("public_tests") is not None else rec.get("public_test_cases"), fn) or []
    private = rec.get("private_tests") if rec.get("private_tests") is not None else rec.get("private_test_cases")
    if private:
        try:
            private = code_tests.decode_lcb_private(private)
        except code_tests.TestShapeError as e:
            raise Reject(str(e)) from None
        tests += normalize_tests(private, fn) or []
    starter = rec.get("starter_code") or None
    p = Parsed(problem=_text(problem, "question_content"), domain="code", source_id=_str(rec.get("question_id"), "question_id"),
               tests=tests or None, starter_code=starter, entry_point=fn or _starter_method(starter))
    p.metadata = _metadata(rec, {"question_content", "question_id"})
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


def _chat_user(v: Any) -> Any:
    """A chat-format prompt (verl parquet rows: [{role, content}]) → its last user message."""
    if isinstance(v, list) and v and all(isinstance(m, dict) and "role" in m for m in v):
        users = [m.get("content") for m in v if m.get("role") == "user"]
        return users[-1] if users else None
    return v


def rllm(rec: dict[str, Any], kind: str) -> Parsed:
    """rllm math and code pools: problem, answer (OlympiadBench: a list), tests in every shape of its code splits
    (codeforces `[{input, output}]`, code_contests/taco/apps `{inputs, outputs[, fn_name]}`, primeintellect
    `[{type, input, output, fn_name}]`, livecodebench `[{input, output, testtype, metadata}]` with `starter_code`,
    leetcode `{functional: script}`, humanevalplus test code); the verl parquet form (`prompt` chat,
    `reward_model.ground_truth`) too."""
    problem = rec.get("problem") or _chat_user(rec.get("prompt"))
    if not problem:
        raise Reject("missing required field: problem")
    raw_tests = rec.get("tests")
    rm = rec.get("reward_model")
    if raw_tests is None and isinstance(rm, dict) and rec.get("ability") == "code":
        raw_tests = rm.get("ground_truth")
    fn = _func_name(rec.get("metadata"))
    tests = normalize_tests(raw_tests, fn)
    starter = _str(rec.get("starter_code"), "starter_code") or None
    p = Parsed(problem=_text(problem, "problem"), domain="code" if tests else "math",
               source_id=_str(rec.get("id") or rec.get("unique_id"), "id"), answer=_answer(rec.get("answer")),
               tests=tests, starter_code=starter,
               entry_point=fn or next((t["fn_name"] for t in tests or [] if t.get("fn_name")), None) or _starter_method(starter))
    sol = _literal(rec.get("solution") if rec.get("solution") is not None else rec.get("solutions"))
    p.solution = "\n\n".join(map(str, sol)) if isinstance(sol, list) else _str(sol, "solution")
    p.metadata = _metadata(rec, {"problem", "answer", "id", "unique_id"})
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


def apps(rec: dict[str, Any], kind: str) -> Parsed:
    """APPS (codeparrot/apps) and TACO (BAAI/TACO): question, solutions (JSON list), starter_code, input_output
    (JSON {inputs, outputs[, fn_name]}: stdin tests, or call-based tests of `fn_name` with argument lists)."""
    problem = rec.get("question")
    if not problem:
        raise Reject("missing required field: question")
    tests = normalize_tests(rec.get("input_output"))
    starter = _str(rec.get("starter_code"), "starter_code") or None
    sols = _literal(rec.get("solutions"))
    p = Parsed(problem=_text(problem, "question"), domain="code",
               source_id=_str(rec.get("problem_id") if rec.get("problem_id") is not None else rec.get("id"), "problem_id"),
               tests=tests, starter_code=starter,
               entry_point=next((t["fn_name"] for t in tests or [] if t.get("fn_name")), None),
               solution=_str(sols[0], "solutions") if isinstance(sols, list) and sols else _str(sols or None, "solutions"),
               license=_str(rec.get("license"), "license"))
    p.metadata = _metadata(rec, {"question", "problem_id", "id"})
    if isinstance(sols, list):
        p.metadata["n_solutions"] = len(sols)
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


def mbpp_problem(rec: dict[str, Any]) -> str | None:
    """MBPP's prompt as its paper gives it: the task text, then the tests the code must pass (they name the function)."""
    text = rec.get("text") or rec.get("prompt")
    tests = _literal(rec.get("test_list"))
    if not text or not isinstance(tests, list):
        return text
    return f"{text}\nYour code should pass these tests:\n\n" + "\n".join(map(str, tests))


def mbpp(rec: dict[str, Any], kind: str) -> Parsed:
    """MBPP (text, code, test_list, test_setup_code, challenge_test_list) and MBPP sanitized (prompt, code,
    test_imports, test_list): one `script` test of the imports, the setup and the asserts of `test_list`
    (`challenge_test_list` is kept apart, as MBPP's evaluation does: its count goes to metadata)."""
    problem = mbpp_problem(rec)
    if not problem:
        raise Reject("missing required field: text (or prompt)")
    asserts = _list(rec, "test_list")
    if not asserts or not all(isinstance(a, str) for a in asserts):
        raise Reject("missing required field: test_list (a list of assert lines)")
    imports = _list(rec, "test_imports")
    setup = _str(rec.get("test_setup_code"), "test_setup_code") or ""
    script = "\n".join(x for x in [*map(str, imports), setup.strip("\n"), *asserts] if x) + "\n"
    p = Parsed(problem=_text(problem, "text"), domain="code", source_id=_str(rec.get("task_id"), "task_id"),
               solution=_str(rec.get("code"), "code"), tests=[{"script": script, "testtype": "script"}])
    p.metadata = _metadata(rec, {"text", "prompt", "task_id", "code"})
    p.metadata["challenge_tests"] = len(_list(rec, "challenge_test_list"))
    if kind == "trajectories":
        p.trajectories = _generic_trajs(rec)
    return p


def codeforces_problem(rec: dict[str, Any]) -> str | None:
    """open-r1/codeforces: the statement from its parts (title, description, input/output format, examples,
    note), the same for its codeforces-cots rows, so both map onto one question."""
    if not rec.get("description"):
        return None
    parts = [f"# {rec['title']}" if rec.get("title") else None, rec["description"],
             f"## Input Format\n{rec['input_format']}" if rec.get("input_format") else None,
             f"## Output Format\n{rec['output_format']}" if rec.get("output_format") else None,
             f"## Interaction Format\n{rec['interaction_format']}" if rec.get("interaction_format") else None]
    ex = _literal(rec.get("examples"))
    for i, e in enumerate(ex if isinstance(ex, list) else []):
        if isinstance(e, dict):
            parts.append(f"## Example {i + 1}\nInput:\n{e.get('input', '')}\nOutput:\n{e.get('output', '')}")
    if rec.get("note"):
        parts.append(f"## Note\n{rec['note']}")
    return "\n\n".join(str(x).strip() for x in parts if x)


def codeforces(rec: dict[str, Any], kind: str) -> Parsed:
    """open-r1/codeforces (and codeforces-cots rows, which repeat its fields): `official_tests` [{input, output}]
    (the `examples` when there are none) as stdin tests. Refused, with the reason: problems graded by their
    `generated_checker` (several outputs are right; checkers are not run, and an exact comparison would grade
    right programs wrong), interactive problems, and `input_mode` file (the sandbox feeds stdin)."""
    problem = codeforces_problem(rec)
    if not problem:
        raise Reject("missing required field: description")
    if rec.get("interaction_format"):
        raise Reject("interactive problem (interaction_format): interactive judging is not supported")
    if rec.get("input_mode") not in (None, "", "stdio"):
        raise Reject(f"input_mode {rec.get('input_mode')!r}: the program reads/writes files; only stdio is supported")
    if rec.get("generated_checker"):
        raise Reject("graded by a checker (generated_checker): several outputs can be right and checkers are not "
                     "run, so an exact-output comparison would grade right programs wrong")
    official = rec.get("official_tests")
    tests = normalize_tests(official) or normalize_tests(rec.get("examples"))
    p = Parsed(problem=problem, domain="code", source_id=_str(rec.get("id"), "id"), tests=tests,
               solution=_str(rec.get("editorial") or None, "editorial"))
    p.metadata = _metadata(rec, {"id", "description", "title", "input_format", "output_format", "note", "editorial",
                                 "prompt", "generation"})
    p.metadata["tests_from"] = "official_tests" if normalize_tests(official) else ("examples" if tests else None)
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


def problem_of(rec: dict[str, Any], preset: str | None = None) -> str | None:
    """The problem text `preset` reads from `rec` (the text its question id hashes), or None; works on records
    the preset rejected (to know which question was rejected). `preset=None` (a stored reject, its preset
    unknown) guesses from the record's fields."""
    if not isinstance(rec, dict):
        return None
    if preset == "codeforces" or (preset is None and rec.get("description") and "official_tests" in rec):
        return codeforces_problem(rec)
    if preset == "mbpp" or (preset is None and "test_list" in rec and ("text" in rec or "prompt" in rec)):
        return mbpp_problem(rec)
    if preset == "openthoughts" or (preset is None and isinstance(rec.get("conversations"), list)):
        conv = rec.get("conversations") or []
        user = [c.get("value") for c in conv if isinstance(c, dict) and c.get("from") in ("user", "human")]
        return user[0] if user and isinstance(user[0], str) else None
    keys = {"lcb": ("question_content",), "apps": ("question",), "taco": ("question",), "humaneval": ("prompt",),
            "s1k": ("question",), "qwen-math-eval": ("question", "problem"), "openr1-math": ("problem",),
            "rllm": ("problem", "prompt")}.get(preset or "", PROBLEM_KEYS)
    _k, v = _first(rec, keys)
    v = _chat_user(v)
    return v if isinstance(v, str) and v.strip() else None


PRESETS: dict[str, Callable[[dict[str, Any], str], Parsed]] = {
    "generic": generic,
    "qwen-math-eval": qwen_math_eval,
    "lcb": lcb,
    "rllm": rllm,
    "humaneval": humaneval,
    "mbpp": mbpp,
    "apps": apps,
    "taco": apps,
    "codeforces": codeforces,
    "openr1-math": openr1_math,
    "openthoughts": openthoughts,
    "s1k": s1k,
}


def get_preset(name: str) -> Callable[[dict[str, Any], str], Parsed]:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}") from None
