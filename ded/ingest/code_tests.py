"""Test shapes of the field's code pools → the `tests` column (ARCHITECTURE.md).

The column is a list of `{input, output, testtype: stdin|functional}` or `{script, testtype: script}`;
optional keys the code verifier reads:
- `fn_name`: the function or `Solution` method a functional test calls (APPS/TACO `fn_name`,
  LiveCodeBench `metadata.func_name`, PrimeIntellect `fn_name`); without it the verifier takes the
  first `def` of `starter_code`.
- `wrapped`: the harness the test comes from (APPS/TACO `run_test`, PrimeIntellect through it) also
  accepts the first element of a list `output` (their call-based outputs are written `[value]`).
- `prelude: "leetcode"`: the test needs LeetCode's helpers (`ListNode`, `TreeNode`, `list_node`,
  `tree_node`, `is_same_list`, `is_same_tree`) defined before the program (rllm's LeetCode split).

Shapes read (each checked against the dataset's builder or loader; tests/data/code_shapes has a
fixture of each):
- a list of `{input, output}` (rllm codeforces, open-r1 codeforces `official_tests`), with
  `testtype` stdin|functional (LiveCodeBench) or `type` stdin_stdout|function_call (PrimeIntellect),
  `fn_name` or `metadata.func_name` per test (rllm's LiveCodeBench split);
- `{inputs: [...], outputs: [...]}` with optional `fn_name` (code_contests, APPS/TACO `input_output`,
  LiveCodeBench's `get_evaluation_sample`): stdin inputs/outputs may be lists of lines; call-based
  inputs are argument lists (APPS) or newline-separated JSON text (LiveCodeBench);
- `{"functional": "<check(candidate) script ending with check(Solution().method)>"}` (rllm LeetCode);
- test code as one string (HumanEval `test`, rllm humanevalplus) or a list of `assert` lines (MBPP);
- LiveCodeBench's `private_test_cases`: base64 of zlib of a pickle of the JSON text, decoded by
  `decode_lcb_private` with an unpickler that refuses every global (only plain data loads).
"""

from __future__ import annotations

import ast
import base64
import io
import json
import pickle
import re
import zlib
from typing import Any


class TestShapeError(ValueError):
    """A tests field in no known shape; the message is the reject reason."""


def literal(v: Any) -> Any:
    """JSON text or a Python literal (single quotes, as LCB/rllm publish) → the value; other text as is."""
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
            raise TestShapeError("unparseable tests/list field (neither JSON nor a Python literal)") from None


def _lines(v: Any) -> str:
    """stdin input / expected stdout: text as is, a list of lines joined (APPS, TACO), anything else as text."""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in v)
    return json.dumps(v) if isinstance(v, (dict, bool)) or v is None else str(v)


def _args(v: Any) -> str:
    """Functional arguments: LCB's newline-separated JSON text as is; an argument list (APPS, TACO,
    PrimeIntellect: `method(*inputs)`) one JSON value per line."""
    if isinstance(v, str):
        return v
    if not isinstance(v, list):
        raise TestShapeError(f"a call-based test's input must be a list of arguments, got {type(v).__name__}")
    try:
        return "\n".join(json.dumps(a) for a in v)
    except (TypeError, ValueError) as e:
        raise TestShapeError(f"a call-based test's arguments are not JSON values: {e}") from None


def _result(v: Any, as_text: bool) -> str:
    """Functional expected result as JSON text. `as_text`: LCB's shape, whose outputs are JSON text already;
    otherwise (APPS/TACO/PrimeIntellect argument-list tests) the output is the value itself, so a string
    "3" stays the string "3"."""
    if as_text and isinstance(v, str):
        try:
            json.loads(v)
            return v
        except ValueError:
            raise TestShapeError(f"a functional test's output is not JSON text: {v[:80]!r}") from None
    try:
        return json.dumps(v)
    except (TypeError, ValueError) as e:
        raise TestShapeError(f"a call-based test's output is not a JSON value: {e}") from None


def _func_name(d: dict) -> str | None:
    meta = literal(d.get("metadata"))
    name = d.get("fn_name") or (meta.get("func_name") if isinstance(meta, dict) else None)
    return str(name) if name else None


def _functional(inp: Any, out: Any, fn: str | None, wrapped: bool) -> dict:
    t = {"input": _args(inp), "output": _result(out, as_text=isinstance(inp, str)), "testtype": "functional"}
    if fn:
        t["fn_name"] = fn
    if wrapped:
        t["wrapped"] = True
    return t


def _one(t: Any, fn_name: str | None) -> dict:
    if not isinstance(t, dict):
        raise TestShapeError("each test must be an object with input/output or script")
    if "script" in t:
        return {"script": str(t["script"]), "testtype": "script"}
    if "input" not in t or "output" not in t:
        raise TestShapeError("each test must have input and output, or script")
    kind = t.get("testtype") or t.get("type") or ("functional" if (t.get("fn_name")) else "stdin")
    kind = {"stdin_stdout": "stdin", "function_call": "functional"}.get(kind, kind)
    if kind == "stdin":
        return {"input": _lines(t["input"]), "output": _lines(t["output"]), "testtype": "stdin"}
    if kind == "functional":
        fn = _func_name(t) or fn_name
        # PrimeIntellect's function_call tests come from TACO/APPS: argument lists, outputs wrapped
        return _functional(t["input"], t["output"], fn, wrapped=not isinstance(t["input"], str))
    raise TestShapeError(f"unknown test type {kind!r} (expected stdin or functional)")


def normalize_tests(v: Any, fn_name: str | None = None) -> list[dict[str, Any]] | None:
    """Every published test shape → the `tests` column's list (see the module doc); None when empty.
    `fn_name`: the method functional tests call when the tests do not name it (LCB `metadata`).
    Raises TestShapeError naming what is wrong."""
    v = literal(v)
    if v is None or v == "" or v == [] or v == {}:
        return None
    if isinstance(v, str):  # test code; a pytest file (KodCode) made a script
        return [{"script": pytest_to_script(v) if is_pytest_file(v) else v, "testtype": "script"}]
    if isinstance(v, dict) and isinstance(v.get("test_cases"), list):  # PrimeIntellect `verification_info`
        return normalize_tests(v["test_cases"], fn_name)
    if isinstance(v, dict) and "functional" in v and isinstance(v["functional"], str):  # rllm LeetCode
        return [{"script": v["functional"], "testtype": "script", "prelude": "leetcode"}]
    if isinstance(v, dict) and "inputs" in v and "outputs" in v:
        ins, outs = v["inputs"], v["outputs"]
        if not isinstance(ins, list) or not isinstance(outs, list) or len(ins) != len(outs):
            raise TestShapeError("tests {inputs, outputs} must be two lists of equal length")
        fn = _func_name(v) or (fn_name if v.get("testtype") == "functional" else None)
        if fn:
            return [_functional(i, o, fn, wrapped=not isinstance(i, str)) for i, o in zip(ins, outs)] or None
        return [{"input": _lines(i), "output": _lines(o), "testtype": "stdin"} for i, o in zip(ins, outs)] or None
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        raise TestShapeError(f"wrong type for tests: {type(v).__name__}")
    if all(isinstance(t, str) for t in v):  # MBPP's list of assert lines
        return [{"script": "\n".join(v), "testtype": "script"}]
    return [_one(t, fn_name) for t in v] or None


# -- LiveCodeBench private tests ---------------------------------------------------------------
MAX_DECODED_BYTES = 1 << 30  # a zlib bomb stops here


class _PlainData(pickle.Unpickler):
    """Loads strings, numbers, lists, dicts, tuples; refuses every global (class, function), so no
    code can run while decoding (the `find_class` restriction of Python's pickle docs)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only plain data is accepted")


def decode_lcb_private(v: Any) -> Any:
    """`private_test_cases` as LiveCodeBench publishes them → the list of tests.

    JSON text (older releases) or base64(zlib(pickle(JSON text))) (code_generation_lite), decoded as
    lcb_runner's `CodeGenerationProblem` does, but the pickle may hold plain data only."""
    if not isinstance(v, str):
        return v
    s = v.strip()
    if not s or s[0] in "[{":
        return literal(s) if s else None
    try:
        raw = base64.b64decode(s.encode(), validate=False)
        d = zlib.decompressobj()
        data = d.decompress(raw, MAX_DECODED_BYTES)
        if d.unconsumed_tail:
            raise TestShapeError(f"private tests decompress past {MAX_DECODED_BYTES >> 20} MiB")
        obj = _PlainData(io.BytesIO(data)).load()
    except TestShapeError:
        raise
    except pickle.UnpicklingError as e:
        raise TestShapeError(f"private tests: {e}") from None
    except Exception as e:  # noqa: BLE001 - binascii/zlib/pickle errors: a malformed field, named
        raise TestShapeError(f"private tests are neither JSON nor base64+zlib+pickle: {type(e).__name__}: {e}") from None
    if isinstance(obj, (bytes, bytearray)):
        obj = obj.decode()
    return literal(obj) if isinstance(obj, str) else obj


# -- pytest-style test files (KodCode, rllm's kodcode split) ---------------------------------------
_SOLUTION_IMPORT = re.compile(r"^\s*(from\s+solution\s+import|import\s+solution\b)", re.MULTILINE)


def pytest_to_script(src: str) -> str:
    """A pytest file written against `from solution import f` → a script run in the program's namespace:
    the solution imports dropped (the names are the program's), every zero-argument `test_*` function
    called in order. Fixtures, parametrize and `import solution` are refused (TestShapeError)."""
    try:
        tree = ast.parse(src)
    except SyntaxError as e:
        raise TestShapeError(f"test file does not parse: {e}") from None
    drop: set[int] = set()
    calls = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "solution":
            drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        elif isinstance(node, ast.Import) and any(a.name == "solution" for a in node.names):
            raise TestShapeError("test file uses `import solution` (module attributes): not supported")
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            if node.args.args or node.args.posonlyargs or node.args.kwonlyargs or node.args.vararg or node.decorator_list:
                raise TestShapeError(f"pytest test {node.name} takes fixtures or is decorated (parametrize): not supported")
            calls.append(node.name)
    if not calls:
        raise TestShapeError("test file defines no test_* function")
    lines = [ln for i, ln in enumerate(src.splitlines(), 1) if i not in drop]
    return "\n".join(lines) + "\n\n" + "".join(f"{c}()\n" for c in calls)


def is_pytest_file(src: Any) -> bool:
    return isinstance(src, str) and bool(_SOLUTION_IMPORT.search(src))
