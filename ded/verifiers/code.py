"""Code verdicts: run the extracted program against a question's tests in the sandbox.

Test kinds (the `tests` column, ARCHITECTURE.md):
- `stdin`: the program reads `input`, its stdout is compared with `output` line by line after
  whitespace normalisation; tokens that differ must both be numbers and agree within
  `float_tol` (relative; 0 = numerically equal, so "1.0" matches "1", as LiveCodeBench's Decimal
  comparison does).
- `functional` (LeetCode style): `input` is newline-separated JSON arguments, `output` is JSON; the
  method named in `starter_code` is called (`Solution().method(*args)`, or a top-level function),
  its result compared after a JSON round trip (tuples become lists, as LiveCodeBench does).
- `script`: test code run after the program in the same namespace; passing = no exception. A
  script that defines `check(candidate)` without calling it (HumanEval) gets
  `check(<entry_point>)` appended; scripts that call the solution themselves run as they are.
  A program that does not define `entry_point` is taken as a completion of `starter_code` (HumanEval's
  prompt) and runs after it. An AssertionError raised by the test code itself is `wrong`.
- per-test keys (`ded.ingest.code_tests`): `fn_name` names the method a functional test calls;
  `wrapped` also accepts the first element of a list output (APPS/TACO); `prelude` puts helpers the
  tests assume before the program (`ded.verifiers.preludes`: LeetCode's ListNode/TreeNode).

A verdict: `correct` when every test passes; otherwise the first failure decides the status:
`wrong` (wrong output), `timeout` (a test ran past its wall limit: the program is too slow, so
`correct=False`, as LiveCodeBench counts it), `error` (crash, memory, output limit; `correct=False`);
a question without (readable) tests is `error` with `correct=None` (undecidable). A failure of the
sandbox itself (a server that dies or cannot start, a jail that could not be built or cannot import the
standard library) is never the program's: `error`, `correct=None`, `detail.infra` says why, and the
result carries `infra=True` so the stage can stop (`verify.max_infra_failure_share`) and a rerun regrades it.
`detail` is JSON: {first_failure: {test, kind, reason, expected, got, stderr}, isolation[, infra]}.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ded.verifiers import preludes
from ded.verifiers.base import GradeOptions, Verifier
from ded.verifiers.extract import extract_code
from ded.verifiers.sandbox import Limits, Sandbox, SandboxError, SandboxPool

VERSION = "code-2"  # bump when a change can alter a verdict (code-2: sandbox failures are null, not false; fn_name,
#   wrapped, LeetCode prelude, a failed test assert = wrong)
_SHOW = 300  # characters of expected/got/stderr kept in `detail`


def parse_tests(tests: Any) -> list[dict]:
    """The tests column as a list of dicts: JSON text, a Python-literal string (LCB files), a list, or the
    code_contests shape {inputs: [...], outputs: [...]}. Raises ValueError naming the problem."""
    if tests is None or (isinstance(tests, str) and not tests.strip()):
        return []
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except json.JSONDecodeError:
            try:
                tests = ast.literal_eval(tests)
            except (ValueError, SyntaxError) as e:
                raise ValueError(f"tests is neither JSON nor a Python literal: {e}") from None
    if isinstance(tests, dict) and "inputs" in tests:
        tests = [{"input": i, "output": o, "testtype": "stdin"} for i, o in zip(tests["inputs"], tests["outputs"])]
    if isinstance(tests, dict):
        tests = [tests]
    out = []
    for t in tests:
        if not isinstance(t, dict):
            raise ValueError(f"a test must be an object, got {type(t).__name__}")  # noqa: TRY004
        kind = t.get("testtype") or ("script" if "script" in t else "stdin")
        if kind not in ("stdin", "functional", "script"):
            raise ValueError(f"unknown testtype {kind!r} (expected stdin, functional or script)")
        out.append({**t, "testtype": kind})
    return out


def method_name(starter_code: str | None) -> str | None:
    """The function a functional test calls: the first `def` of the starter code (LiveCodeBench)."""
    m = re.search(r"def\s+(\w+)\s*\(", starter_code or "")
    return m.group(1) if m else None


def _num(tok: str) -> float | None:
    try:
        return float(tok)
    except ValueError:
        return None


def same_stdout(got: str, expected: str, float_tol: float = 0.0) -> bool:
    """Line-by-line comparison of whitespace-split tokens; blank lines are ignored."""
    g = [ln.split() for ln in got.splitlines() if ln.strip()]
    e = [ln.split() for ln in expected.splitlines() if ln.strip()]
    if len(g) != len(e):
        return False
    for gl, el in zip(g, e):
        if gl == el:
            continue
        if len(gl) != len(el):
            return False
        for a, b in zip(gl, el):
            if a == b:
                continue
            x, y = _num(a), _num(b)
            if x is None or y is None or not math.isclose(x, y, rel_tol=float_tol, abs_tol=float_tol):
                return False
    return True


def _same_value(got: Any, expected: Any, float_tol: float) -> bool:
    if isinstance(got, float) or isinstance(expected, float):  # noqa: SIM102
        if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
            return math.isclose(got, expected, rel_tol=float_tol, abs_tol=float_tol) if float_tol else got == expected
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(_same_value(a, b, float_tol) for a, b in zip(got, expected))
    return got == expected


def _script(test: dict, entry_point: str | None) -> str:
    script = test["script"]
    calls_check = re.search(r"^check\s*\(", script, re.MULTILINE)
    if not calls_check and re.search(r"^def check\s*\(", script, re.MULTILINE) and entry_point:
        script += f"\n\ncheck({entry_point})\n"
    return script


def _first_result(text: str) -> dict | None:
    try:
        return json.JSONDecoder().raw_decode(text)[0] if text.strip() else None
    except json.JSONDecodeError:
        return None


def run_test(sb: Sandbox, program: str, test: dict, entry_point: str | None, method: str | None,
             float_tol: float = 0.0, timeout_s: float | None = None) -> tuple[str, dict]:
    """One test → ('pass'|'wrong'|'timeout'|'error'|'undecidable'|'sandbox_error', info)."""
    kind = test["testtype"]
    method = test.get("fn_name") or method  # the test's own method name (APPS/TACO fn_name, LCB func_name)
    if kind == "functional":
        if not method:
            return "undecidable", {"reason": "functional test but no method name in starter_code"}
        args = [json.loads(line) for line in str(test["input"]).split("\n") if line.strip()]
        r = sb.run(program, call={"method": method, "args": args}, timeout_s=timeout_s)
    elif kind == "script":
        r = sb.run(program, script=_script(test, entry_point), timeout_s=timeout_s)
    else:
        r = sb.run(program, stdin=str(test.get("input") or ""), timeout_s=timeout_s)
    info = {"stderr": (r.get("stderr") or "")[-_SHOW:], "isolation": r.get("isolation")}
    if r.get("reason") == "sandbox_error":
        return "sandbox_error", {**info, "reason": r.get("error")}
    if r.get("reason") == "timeout":
        return "timeout", {**info, "reason": f"wall limit {timeout_s or sb.limits.timeout_s:g} s"}
    if r.get("reason") == "output_limit":
        return "error", {**info, "reason": "output limit exceeded"}
    if r.get("exit_code") is None and r.get("signal") is None:  # no exit status: the jail, not the program
        return "sandbox_error", {**info, "reason": f"the jail reported no exit status ({r.get('error') or 'no error'})"}
    if r.get("exit_code") != 0:
        why = f"exit code {r.get('exit_code')}" if r.get("signal") is None else f"killed by signal {r['signal']}"
        res = _first_result(r.get("result") or "")
        if res and not res.get("ok"):
            why = res.get("error") or why
        frames = re.findall(r'File "([^"]+)"', r.get("stderr") or "")
        if kind == "script" and why.startswith("AssertionError") and frames and frames[-1] == "<test>":
            return "wrong", {**info, "reason": f"a test assertion failed: {why}"}  # the test's assert, not the program's
        return "error", {**info, "reason": f"runtime error: {why}"}
    if kind == "functional":
        res = _first_result(r.get("result") or "")
        expected = json.loads(test["output"]) if isinstance(test["output"], str) else test["output"]
        if not res or "value" not in res:
            return "wrong", {**info, "reason": "result is not JSON", "got": (res or {}).get("repr", "")[:_SHOW]}
        ok = _same_value(res["value"], expected, float_tol)
        if not ok and test.get("wrapped") and isinstance(expected, list) and expected:  # APPS/TACO's `[value]`
            ok = _same_value(res["value"], expected[0], float_tol)
        if not ok:
            return "wrong", {**info, "reason": "wrong result", "expected": json.dumps(expected)[:_SHOW],
                             "got": json.dumps(res["value"])[:_SHOW]}
        return "pass", info
    if kind == "script":
        return "pass", info
    if not same_stdout(r.get("stdout") or "", str(test.get("output") or ""), float_tol):
        return "wrong", {**info, "reason": "wrong output", "expected": str(test.get("output"))[:_SHOW],
                         "got": (r.get("stdout") or "")[:_SHOW]}
    return "pass", info


def grade_code(sb: Sandbox, program: str | None, tests: Any, starter_code: str | None = None,
               entry_point: str | None = None, float_tol: float = 0.0, stop_at_first_failure: bool = True,
               timeout_s: float | None = None) -> dict:
    """Grade one program against its tests; returns the verdict fields (status, correct, tests_*, detail)."""
    try:
        cases = parse_tests(tests)
        prelude = preludes.for_tests(cases)  # helpers some tests assume (LeetCode's ListNode, TreeNode)
    except (ValueError, TypeError) as e:
        return _verdict("error", None, 0, 0, {"reason": f"unreadable tests: {e}"})
    if not cases:
        return _verdict("error", None, 0, 0, {"reason": "question has no tests"})
    if program is None or not program.strip():
        return _verdict("no_answer", False, 0, len(cases), {"reason": "no code extracted"})
    method = method_name(starter_code)
    if entry_point and starter_code and not re.search(rf"\bdef\s+{re.escape(entry_point)}\s*\(", program):
        # a completion of the prompt (HumanEval style: only the body): run it after the signature
        program = starter_code.rstrip("\n") + "\n" + program
    program = prelude + program
    passed, first, worst, isolation = 0, None, None, None
    for i, t in enumerate(cases):
        try:
            outcome, info = run_test(sb, program, t, entry_point, method, float_tol, timeout_s)
        except SandboxError as e:
            outcome, info = "sandbox_error", {"reason": str(e)}
        except (ValueError, KeyError) as e:  # a malformed test (bad JSON arguments): undecidable
            outcome, info = "undecidable", {"reason": f"malformed test {i}: {e}"}
        isolation = info.pop("isolation", None) or isolation
        if outcome == "pass":
            passed += 1
            continue
        if outcome == "sandbox_error":  # the sandbox failed, not the program
            if worst is not None:  # an earlier test already failed by the program's fault: that decides
                break
            return sandbox_failure(info.get("reason"), {"test": i, "kind": t["testtype"], **info}, isolation,
                                   passed, len(cases))
        if first is None:
            first, worst = {"test": i, "kind": t["testtype"], **info}, outcome
        if stop_at_first_failure or outcome in ("timeout", "undecidable"):
            break
    detail = {"first_failure": first, "isolation": isolation}
    if worst is None:
        return _verdict("correct", True, passed, len(cases), detail)
    if worst == "undecidable":
        return _verdict("error", None, passed, len(cases), detail)
    return _verdict(worst, False, passed, len(cases), detail)


def sandbox_failure(reason: str | None, first: dict | None = None, isolation: str | None = None,
                    passed: int = 0, total: int = 0) -> dict:
    """The verdict fields when the sandbox itself failed: error, correct None, the reason in `detail.infra`."""
    detail = {"infra": f"sandbox failure: {reason}", "first_failure": first, "isolation": isolation}
    return {**_verdict("error", None, passed, total, detail), "infra": True}


def _verdict(status: str, correct: bool | None, passed: int, total: int, detail: dict) -> dict:
    return {"status": status, "correct": correct, "tests_passed": passed, "tests_total": total,
            "detail": json.dumps(detail, ensure_ascii=False), "infra": False}


def grade_items(items: list[dict], opts: GradeOptions, on_done: Callable[[int], None] | None) -> list[dict]:
    """Code verdicts of items (response, tests, starter_code, entry_point): each program run against its tests
    in a pool of sandbox servers; no sandbox at all (no free uid) makes every item undecided, not wrong."""
    lim = opts.limits or Limits()
    if opts.code_timeout_s:
        lim.timeout_s = opts.code_timeout_s
    try:
        pool = SandboxPool(min(opts.workers, len(items)), lim, opts.uid_base)
    except SandboxError as e:
        out = [{**sandbox_failure(str(e)), "extracted": extract_code(it.get("response")), "verifier": "code",
                "verifier_version": VERSION} for it in items]
        if on_done:
            on_done(len(items))
        return out

    def one(it: dict) -> dict:
        program = extract_code(it.get("response"))
        sb = pool.acquire()
        try:
            v = grade_code(sb, program, it.get("tests"), it.get("starter_code"), it.get("entry_point"),
                           opts.float_tol, opts.stop_at_first_failure)
        finally:
            pool.release(sb)
        return {**v, "extracted": program, "verifier": "code", "verifier_version": VERSION}

    out = []
    with pool, ThreadPoolExecutor(len(pool.all)) as ex:  # threads only wait on the servers' pipes
        for v in ex.map(one, items):
            out.append(v)
            if on_done:
                on_done(1)
    return out


VERIFIER = Verifier(name="code", version=VERSION, domains=("code",), grade=grade_items,
                    doc="the program in the response run against the question's tests in the sandbox")
