"""Every test shape of the field's code pools ingests AND grades right: each fixture of tests/data/code_shapes
(one per shape, in its dataset's real layout; README.md there) is ingested, then a correct and a wrong program
per problem go through the code verifier's sandbox. Also: trajectories of rejected questions are rejects,
LiveCodeBench's pickled private tests load without running pickled code, and the real shared files still
ingest with no reject."""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ded.ingest import ingest_paths
from ded.verifiers import grade_many
from ded.verifiers.sandbox import Limits

DATA = Path(__file__).parent / "data" / "code_shapes"

# (file, preset, questions inserted, rejected, [(problem marker, correct program, wrong program)])
CASES = [
    ("rllm_leetcode.json", "rllm", 4, 0, [
        ("nums[i] + nums[j] < target",
         "class Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n"
         "        return sum(nums[i] + nums[j] < target for i in range(len(nums)) for j in range(i + 1, len(nums)))\n",
         "class Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n"
         "        return sum(nums[i] + nums[j] <= target for i in range(len(nums)) for j in range(i + 1, len(nums)))\n"),
        ("reverse the list",  # ListNode in the annotations, list_node/is_same_list in the tests
         "class Solution:\n    def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:\n"
         "        prev = None\n        while head:\n            head.next, prev, head = prev, head, head.next\n        return prev\n",
         "class Solution:\n    def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:\n        return head\n"),
        ("invert the tree",  # TreeNode, tree_node/is_same_tree
         "class Solution:\n    def invertTree(self, root: Optional[TreeNode]) -> Optional[TreeNode]:\n"
         "        if root:\n            root.left, root.right = self.invertTree(root.right), self.invertTree(root.left)\n"
         "        return root\n",
         "class Solution:\n    def invertTree(self, root: Optional[TreeNode]) -> Optional[TreeNode]:\n        return root\n"),
    ]),
    ("rllm_codeforces.json", "rllm", 1, 0, [
        ("largest and the smallest", "input()\na = list(map(int, input().split()))\nprint(max(a) - min(a))\n",
         "input()\na = list(map(int, input().split()))\nprint(max(a))\n")]),
    ("rllm_code_contests.json", "rllm", 1, 0, [
        ("vowels", "for _ in range(int(input())):\n    print(sum(c in 'aeiou' for c in input()))\n",
         "for _ in range(int(input())):\n    print(sum(c in 'aeio' for c in input()))\n")]),
    ("rllm_taco.json", "rllm", 2, 0, [
        ("count_evens", "def count_evens(arr):\n    return sum(x % 2 == 0 for x in arr)\n",
         "def count_evens(arr):\n    return sum(x % 2 for x in arr)\n"),
        ("sum and their product", "a = int(input())\nb = int(input())\nprint(a + b)\nprint(a * b)\n",
         "a = int(input())\nb = int(input())\nprint(a + b)\n")]),
    ("rllm_primeintellect.json", "rllm", 2, 0, [
        ("pair_sums", "def pair_sums(pairs):\n    return [a + b for a, b in pairs]\n",
         "def pair_sums(pairs):\n    return [a - b for a, b in pairs]\n"),
        ("reverse order", "print(' '.join(input().split()[::-1]))\n", "print(input())\n")]),
    ("rllm_livecodebench.json", "rllm", 2, 0, [
        ("adjacent elements", "class Solution:\n    def maxGap(self, nums):\n        s = sorted(nums)\n"
                              "        return max(b - a for a, b in zip(s, s[1:]))\n",
         "class Solution:\n    def maxGap(self, nums):\n        return max(nums) - min(nums)\n"),
        ("sorted order", "print(''.join(sorted(input())))\n", "print(input())\n")]),
    ("rllm_humanevalplus.json", "rllm", 1, 0, [
        ("middle element", "def middle(xs: list) -> int:\n    return xs[len(xs) // 2]\n",
         "def middle(xs: list) -> int:\n    return xs[0]\n")]),
    ("rllm_verl.jsonl", "rllm", 1, 0, [
        ("triple(x)", "def triple(x):\n    return 3 * x\n", "def triple(x):\n    return x + x + 1\n")]),
    ("rllm_kodcode.json", "rllm", 1, 0, [
        ("clamp(x, lo, hi)", "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n",
         "def clamp(x, lo, hi):\n    return min(x, hi)\n")]),
    ("lcb_release.jsonl", "lcb", 2, 1, [
        ("Print their sum", "input()\nprint(sum(map(int, input().split())))\n",
         "input()\nprint(max(map(int, input().split())))\n"),
        ("nums[i] * k", "class Solution:\n    def scaleArray(self, nums: List[int], k: int) -> List[int]:\n"
                        "        return [x * k for x in nums]\n",
         "class Solution:\n    def scaleArray(self, nums: List[int], k: int) -> List[int]:\n"
         "        return [x * abs(k) for x in nums]\n")]),
    ("humaneval.jsonl", "humaneval", 1, 0, [
        ("upper-case letters", "    return sum(c.isupper() for c in s)\n",  # a completion of the prompt
         "def count_upper(s):\n    return sum(c.islower() for c in s)\n")]),
    ("mbpp.jsonl", "mbpp", 2, 0, [
        ("second largest", "def second_largest(xs):\n    return sorted(set(xs))[-2]\n",
         "def second_largest(xs):\n    return sorted(xs)[-2]\n"),
        ("hypotenuse", "import math\ndef hypotenuse(a, b):\n    return math.sqrt(a * a + b * b)\n",
         "def hypotenuse(a, b):\n    return a + b\n")]),
    ("apps.jsonl", "apps", 2, 0, [
        ("print a - b", "a, b = map(int, input().split())\nprint(a - b)\n",
         "a, b = map(int, input().split())\nprint(b - a)\n"),
        ("longest_word", "def longest_word(words):\n    return max(map(len, words), default=0)\n",
         "def longest_word(words):\n    return min(map(len, words), default=0)\n")]),
    ("taco.jsonl", "taco", 1, 0, [
        ("positive elements", "class Solution:\n    def positiveSum(self, arr, n):\n        return sum(x for x in arr if x > 0)\n",
         "class Solution:\n    def positiveSum(self, arr, n):\n        return sum(arr)\n")]),
    ("openr1_codeforces.jsonl", "codeforces", 1, 3, [
        ("Print 2x", "print(2 * int(input()))\n", "print(int(input()) + 2)\n")]),
]


@pytest.fixture(scope="module")
def shapes_lake(tmp_path_factory):
    from ded.lake import Lake

    lake = Lake(tmp_path_factory.mktemp("shapes") / "lake")
    reports = {f: ingest_paths(lake, [DATA / f], preset=preset, show_progress=False) for f, preset, *_ in CASES}
    return lake, reports


def _question(lake, marker: str) -> dict:
    rows = [q for q in lake.read("questions").to_pylist() if marker in q["problem"]]
    assert len(rows) == 1, marker
    return rows[0]


def test_each_shape_ingests_with_the_expected_rejects(shapes_lake):
    lake, reports = shapes_lake
    for f, _preset, n_q, n_rej, _ in CASES:
        r = reports[f]
        assert (r.questions_inserted, sum(r.rejected.values())) == (n_q, n_rej), (f, dict(r.rejected))
    for q in lake.read("questions").to_pylist():
        assert q["domain"] == "code" and json.loads(q["tests"]), q["problem"][:60]


def test_each_shape_is_normalized_to_the_tests_column(shapes_lake):
    lake, _ = shapes_lake
    t = json.loads(_question(lake, "reverse the list")["tests"])  # rllm LeetCode: {functional: script}
    assert t == [{"script": t[0]["script"], "testtype": "script", "prelude": "leetcode"}]
    assert t[0]["script"].rstrip().endswith("check(Solution().reverseList)")
    t = json.loads(_question(lake, "count_evens")["tests"])  # TACO call-based: argument lists, wrapped outputs
    assert t[0] == {"input": "[1, 2, 4]", "output": "[2]", "testtype": "functional", "fn_name": "count_evens",
                    "wrapped": True}
    t = json.loads(_question(lake, "sum and their product")["tests"])  # TACO stdin: lists of lines joined
    assert t[0] == {"input": "2\n3", "output": "5\n6", "testtype": "stdin"}
    q = _question(lake, "adjacent elements")  # rllm LCB: per-test metadata.func_name
    assert q["entry_point"] == "maxGap" and json.loads(q["tests"])[0]["fn_name"] == "maxGap"
    q = _question(lake, "nums[i] * k")  # LCB release: 1 public + 2 decoded private tests, metadata func_name
    t = json.loads(q["tests"])
    assert len(t) == 3 and {x["fn_name"] for x in t} == {"scaleArray"} and q["entry_point"] == "scaleArray"
    assert len(json.loads(_question(lake, "Print their sum")["tests"])) == 3
    t = json.loads(_question(lake, "hypotenuse")["tests"])  # MBPP sanitized: test_imports + asserts
    assert t[0]["script"].startswith("import math\nassert math.isclose(hypotenuse(3, 4), 5.0)")
    q = _question(lake, "second largest")  # MBPP: the tests are part of the prompt; challenge tests kept apart
    assert "Your code should pass these tests:" in q["problem"] and json.loads(q["metadata"])["challenge_tests"] == 1
    assert "challenge" not in json.loads(q["tests"])[0]["script"] and "[7, 7, 7, 1]" not in q["tests"]
    t = json.loads(_question(lake, "clamp(x, lo, hi)")["tests"])  # a pytest file: imports dropped, tests called
    assert "from solution" not in t[0]["script"] and t[0]["script"].rstrip().endswith("test_above()")
    q = _question(lake, "Print 2x")
    assert q["source_id"] == "9001/A" and len(json.loads(q["tests"])) == 3  # official_tests, not the 1 example


@pytest.fixture(scope="module")
def graded(shapes_lake):
    """Every (correct, wrong) program of CASES through grade_many, the path `ded verify` takes."""
    lake, _ = shapes_lake
    items, keys = [], []
    for f, _p, _n, _r, progs in CASES:
        for marker, good, bad in progs:
            q = _question(lake, marker)
            for which, prog in (("good", good), ("bad", bad)):
                items.append({"domain": q["domain"], "response": f"Here.\n```python\n{prog}```\n", "tests": q["tests"],
                              "starter_code": q["starter_code"], "entry_point": q["entry_point"], "answer": q["answer"]})
                keys.append((f, marker, which))
    res = grade_many(items, workers=2, show_progress=False, limits=Limits(timeout_s=5.0, memory_mb=1024))
    return dict(zip(keys, res))


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_correct_programs_pass_and_wrong_ones_fail(graded, case):
    mine = {k: v for k, v in graded.items() if k[0] == case}
    assert mine
    for (_f, marker, which), v in mine.items():
        assert v["verifier"] == "code", marker
        if which == "good":
            assert (v["status"], v["correct"]) == ("correct", True), (marker, v["detail"])
            assert v["tests_passed"] == v["tests_total"] > 0
        else:
            # a failed assertion of the test code is `wrong` too, not a crash of the program
            assert (v["status"], v["correct"]) == ("wrong", False), (marker, v["detail"])


def test_leetcode_prelude_needs_the_helpers(shapes_lake):
    """Without the prelude the same LeetCode program cannot even be defined (ListNode in its annotations)."""
    from ded.verifiers.code import grade_code
    from ded.verifiers.sandbox import Sandbox

    lake, _ = shapes_lake
    q = _question(lake, "reverse the list")
    good = CASES[0][4][1][1]
    bare = [{k: v for k, v in t.items() if k != "prelude"} for t in json.loads(q["tests"])]
    with Sandbox(Limits(timeout_s=5.0, memory_mb=1024)) as sb:
        assert grade_code(sb, good, q["tests"])["status"] == "correct"
        v = grade_code(sb, good, json.dumps(bare))
    assert v["status"] == "error" and "NameError" in v["detail"]


def _sortedcontainers_or_skip() -> None:
    """sortedcontainers is a dependency (pyproject.toml): CI installs it, so there it must be present."""
    import importlib.util

    if importlib.util.find_spec("sortedcontainers") is None:
        if os.environ.get("CI"):
            pytest.fail("sortedcontainers is a dependency of ded but is not installed: pip install -e .")
        pytest.skip("sortedcontainers not installed in this environment (pip install -e . installs it)")


def test_sortedcontainers_is_importable_inside_the_jail(shapes_lake):
    """LeetCode's judge offers sortedcontainers; so does our sandbox (the engine's interpreter runs the jail)."""
    _sortedcontainers_or_skip()
    lake, _ = shapes_lake
    q = _question(lake, "valueDiff")
    good = json.loads((DATA / "rllm_leetcode.json").read_text())[3]["solutions"]
    assert "from sortedcontainers import SortedList" in good
    res = grade_many([{"domain": "code", "response": f"```python\n{good}```", "tests": q["tests"]},
                      {"domain": "code", "response": f"```python\n{good.replace('<= x + valueDiff', '< x')}```",
                       "tests": q["tests"]}], workers=1, show_progress=False)
    assert [(r["status"], r["correct"]) for r in res] == [("correct", True), ("wrong", False)], res[0]["detail"]


def test_lcb_private_tests_load_without_running_pickled_code(lake, tmp_path, monkeypatch):
    marker = tmp_path / "pickle-ran"
    monkeypatch.setenv("DED_PICKLE_MARKER", str(marker))
    rows = [json.loads(x) for x in (DATA / "lcb_release.jsonl").read_text().splitlines()]
    hostile = next(r for r in rows if r["question_title"] == "Hostile")["private_test_cases"]
    # the fixture really is hostile: plain pickle.loads (what lcb_runner does) runs its code
    code = ("import base64, pickle, zlib, sys; pickle.loads(zlib.decompress(base64.b64decode(sys.argv[1])))")
    subprocess.run([sys.executable, "-c", code, hostile], check=True, env={**os.environ, "DED_PICKLE_MARKER": str(marker)})
    assert marker.read_text() == "ran"
    marker.unlink()
    rep = ingest_paths(lake, [DATA / "lcb_release.jsonl"], preset="lcb", show_progress=False)
    assert not marker.exists()
    assert rep.questions_inserted == 2
    [(reason, n)] = rep.rejected.items()
    assert n == 1 and "refused to load builtins.exec" in reason
    # a zlib bomb stops at the cap instead of filling memory
    from ded.ingest import code_tests

    monkeypatch.setattr(code_tests, "MAX_DECODED_BYTES", 1 << 20)
    bomb = base64.b64encode(zlib.compress(pickle.dumps("x" * (4 << 20)))).decode()
    with pytest.raises(code_tests.TestShapeError, match="decompress past 1 MiB"):
        code_tests.decode_lcb_private(bomb)


def test_codeforces_refusals_say_what_is_unsupported_and_cots_rows_attach(lake):
    rep = ingest_paths(lake, [DATA / "openr1_codeforces.jsonl"], preset="codeforces", show_progress=False)
    reasons = " | ".join(rep.rejected)
    assert "generated_checker" in reasons and "interactive" in reasons and "input_mode 'file'" in reasons
    cots = ingest_paths(lake, [DATA / "openr1_codeforces_cots.jsonl"], preset="codeforces", show_progress=False)
    # the plain problem's trajectory attaches to its question (same statement from the same fields); the
    # checker problem's trajectory is a reject: its own fields (examples) would make a wrongly graded question
    assert (cots.questions_present, cots.questions_inserted, cots.trajectories_inserted) == (1, 0, 1)
    [(reason, n)] = cots.rejected.items()
    assert n == 1 and reason.startswith("its question was rejected")
    stored = [r for r in lake.read("rejects").to_pylist() if r["reason"].startswith("its question was rejected")]
    assert len(stored) == 1 and "generated_checker" in stored[0]["reason"] and "openr1_codeforces.jsonl line 2" in stored[0]["reason"]


def test_trajectories_of_a_rejected_question_are_rejects_not_math_questions(lake, tmp_path):
    qs = tmp_path / "pool.jsonl"
    qs.write_text(json.dumps({"problem": "Echo the input.", "tests": [{"input": "a\n", "output": "a\n"}]}) + "\n"
                  + json.dumps({"problem": "Broken tests.", "tests": [{"input": "x\n"}]}) + "\n")
    tr = tmp_path / "responses.jsonl"
    tr.write_text(json.dumps({"problem": "Broken tests.", "response": "```python\nprint(input())\n```", "model": "m"}) + "\n"
                  + json.dumps({"problem": "Echo the input.", "response": "```python\nprint(input())\n```", "model": "m"}) + "\n")
    # one call (the questions' reject is in memory)
    rep = ingest_paths(lake, [qs, tr], preset="rllm", show_progress=False)
    assert rep.questions_inserted == 1 and rep.trajectories_inserted == 1
    assert sum(rep.rejected.values()) == 2 and any(r.startswith("its question was rejected") for r in rep.rejected)
    assert [q["problem"] for q in lake.read("questions").to_pylist()] == ["Echo the input."]  # no math orphan
    # a later call (the reject is read back from the `rejects` table), with another file of the same responses
    tr2 = tmp_path / "responses2.jsonl"
    tr2.write_text(tr.read_text().replace('"m"', '"m2"'))
    rep = ingest_paths(lake, [tr2], kind="trajectories", show_progress=False)
    assert (rep.trajectories_inserted, sum(rep.rejected.values())) == (1, 1)
    r = next(r for r in lake.read("rejects").to_pylist() if r["file"].endswith("responses2.jsonl"))
    assert "pool.jsonl line 2: each test must have input and output, or script" in r["reason"]
    assert lake.count("questions") == 1


def test_verify_says_no_question_and_no_reference_instead_of_grading_math(lake, tmp_path, monkeypatch):
    from ded.params import Params
    from ded.stages.verify import main

    monkeypatch.chdir(tmp_path)
    lake.append("questions", [{"question_id": "q_none", "domain": "math", "problem": "Say something.", "answer": None},
                              {"question_id": "q_code", "domain": "code", "problem": "Echo.", "tests": None}])
    lake.append("trajectories", [
        {"trajectory_id": "t_orphan", "question_id": "q_gone", "model": "m", "sample_idx": 0, "response": r"\boxed{1}"},
        {"trajectory_id": "t_noref", "question_id": "q_none", "model": "m", "sample_idx": 0, "response": r"\boxed{7}"},
        {"trajectory_id": "t_notests", "question_id": "q_code", "model": "m", "sample_idx": 0,
         "response": "```python\nprint(input())\n```"}])
    s = main(Params(), lake, workers=1, show_progress=False)
    assert s["graded"] == 3
    v = {r["trajectory_id"]: r for r in lake.read("verdicts").to_pylist()}
    assert (v["t_orphan"]["verifier"], v["t_orphan"]["status"], v["t_orphan"]["correct"]) == ("none", "no_question", None)
    assert "q_gone" in v["t_orphan"]["detail"] and "ded ingest" in v["t_orphan"]["detail"]
    assert (v["t_noref"]["verifier"], v["t_noref"]["status"], v["t_noref"]["correct"]) == ("math", "no_reference", None)
    assert v["t_noref"]["extracted"] == "7"
    assert (v["t_notests"]["verifier"], v["t_notests"]["status"], v["t_notests"]["correct"]) == ("code", "no_reference", None)
    assert main(Params(), lake, workers=1, show_progress=False)["graded"] == 0  # decided once, not every run


def test_real_code_pools_still_ingest_with_no_reject(lake, shared_data):
    for rel, preset, n in [("code_tests/rllm_codeforces_test.json", "rllm", 408),
                           ("code_tests/rllm_code_contests_test.json", "rllm", 165),
                           ("code_tests/HumanEval.jsonl.gz", "humaneval", 164),
                           ("lcb/lcb_v5_test_2408_2501_joined.jsonl", "lcb", 279),
                           ("lcb/lcb_v5_train_pre2408_joined.jsonl", "lcb", 580)]:
        rep = ingest_paths(lake, [shared_data / rel], preset=preset, show_progress=False)
        assert (rep.read, sum(rep.rejected.values())) == (n, 0), (rel, dict(rep.rejected))
    rows = lake.read("questions", columns=["source", "tests", "entry_point"]).to_pylist()
    lcb_fn = [r for r in rows if r["source"].startswith("lcb") and '"functional"' in r["tests"]]
    assert lcb_fn and all(r["entry_point"] for r in lcb_fn)


def test_shape_edge_cases():
    from ded.ingest.code_tests import TestShapeError, normalize_tests

    # argument-list tests hold values: the string "3" stays a string; LCB's text outputs are JSON already
    assert normalize_tests({"fn_name": "f", "inputs": [["a"]], "outputs": ["3"]})[0]["output"] == '"3"'
    assert normalize_tests([{"input": "1", "output": "3", "testtype": "functional"}])[0]["output"] == "3"
    with pytest.raises(TestShapeError, match="not JSON text"):
        normalize_tests([{"input": "1", "output": "abc", "testtype": "functional"}])
    with pytest.raises(TestShapeError, match="equal length"):
        normalize_tests({"inputs": ["1"], "outputs": []})
    with pytest.raises(TestShapeError, match="unknown test type"):
        normalize_tests([{"input": "1", "output": "1", "testtype": "interactive"}])
    with pytest.raises(TestShapeError, match="fixtures or is decorated"):
        normalize_tests("from solution import f\n\ndef test_a(tmp_path):\n    assert f()\n")
    assert normalize_tests({"language": "python", "test_cases": [{"type": "stdin_stdout", "input": "1", "output": "1"}]}) \
        == [{"input": "1", "output": "1", "testtype": "stdin"}]  # PrimeIntellect's whole verification_info
    assert normalize_tests("[]") is None and normalize_tests({"inputs": [], "outputs": []}) is None
