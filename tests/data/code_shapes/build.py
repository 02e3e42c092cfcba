"""Writes the fixtures of this folder (run from the repo root: `python tests/data/code_shapes/build.py`).

Every problem, test and program here was written for ded; only the *layouts* (field names, nesting,
encodings) copy the public datasets', as their builders/loaders write them (README.md names each).
The files are committed; this script is how they were made (the LCB private tests are compressed
the way LiveCodeBench's release compresses them, and one row carries a pickle that would run code).
"""

from __future__ import annotations

import base64
import builtins
import json
import pickle
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def dump_json(name: str, rows: list[dict]) -> None:
    (HERE / name).write_text(json.dumps(rows, indent=1) + "\n")


def dump_jsonl(name: str, rows: list[dict]) -> None:
    (HERE / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


LEETCODE_HEAD = "Please solve the programming task below using a self-contained code snippet in a markdown code block.\n\n"


def rllm() -> None:
    # rllm/data/{train,test}/code/leetcode.json: {problem, solutions, tests: {functional}}
    dump_json("rllm_leetcode.json", [
        {"problem": LEETCODE_HEAD + "Given an integer array nums and an integer target, return the number of pairs "
                    "(i, j) with 0 <= i < j < n and nums[i] + nums[j] < target.\n\nPlease complete the following python "
                    "code precisely:\n```python\nclass Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n```",
         "solutions": "class Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n"
                      "        return sum(nums[i] + nums[j] < target for i in range(len(nums)) for j in range(i + 1, len(nums)))\n",
         "tests": {"functional": "def check(candidate):\n    assert candidate(nums = [-1,1,2,3,1], target = 2) == 3\n"
                                 "    assert candidate(nums = [-6,2,5,-2,-7,-1,3], target = -2) == 10\n"
                                 "    assert candidate(nums = [1], target = 5) == 0\n\n\ncheck(Solution().countPairs)"}},
        {"problem": LEETCODE_HEAD + "Given the head of a singly linked list, reverse the list, and return the reversed "
                    "list.\n\nPlease complete the following python code precisely:\n```python\n# Definition for singly-linked list.\n"
                    "# class ListNode:\n#     def __init__(self, val=0, next=None):\n#         self.val = val\n#         self.next = next\n"
                    "class Solution:\n    def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:\n```",
         "solutions": "class Solution:\n    def reverseList(self, head: Optional[ListNode]) -> Optional[ListNode]:\n"
                      "        prev = None\n        while head:\n            head.next, prev, head = prev, head, head.next\n        return prev\n",
         "tests": {"functional": "def check(candidate):\n    assert is_same_list(candidate(head = list_node([1, 2, 3, 4, 5])), list_node([5, 4, 3, 2, 1]))\n"
                                 "    assert is_same_list(candidate(head = list_node([1, 2])), list_node([2, 1]))\n"
                                 "    assert is_same_list(candidate(head = list_node([])), list_node([]))\n\n\ncheck(Solution().reverseList)"}},
        {"problem": LEETCODE_HEAD + "Given the root of a binary tree, invert the tree, and return its root.\n\nPlease "
                    "complete the following python code precisely:\n```python\n# Definition for a binary tree node.\n"
                    "# class TreeNode:\n#     def __init__(self, val=0, left=None, right=None):\n#         self.val = val\n"
                    "#         self.left = left\n#         self.right = right\nclass Solution:\n"
                    "    def invertTree(self, root: Optional[TreeNode]) -> Optional[TreeNode]:\n```",
         "solutions": "class Solution:\n    def invertTree(self, root: Optional[TreeNode]) -> Optional[TreeNode]:\n"
                      "        if root:\n            root.left, root.right = self.invertTree(root.right), self.invertTree(root.left)\n        return root\n",
         "tests": {"functional": "def check(candidate):\n    assert is_same_tree(candidate(root = tree_node([4,2,7,1,3,6,9])), tree_node([4,7,2,9,6,3,1]))\n"
                                 "    assert is_same_tree(candidate(root = tree_node([2,1,None,None,5])), tree_node([2,None,1,5]))\n"
                                 "    assert is_same_tree(candidate(root = tree_node([])), tree_node([]))\n\n\ncheck(Solution().invertTree)"}},
        {"problem": LEETCODE_HEAD + "Given an integer array nums and two integers indexDiff and valueDiff, return true if "
                    "there is a pair of indices (i, j) with i != j, abs(i - j) <= indexDiff and abs(nums[i] - nums[j]) <= "
                    "valueDiff.\n\nPlease complete the following python code precisely:\n```python\nclass Solution:\n"
                    "    def containsNearbyAlmostDuplicate(self, nums: List[int], indexDiff: int, valueDiff: int) -> bool:\n```",
         "solutions": "from sortedcontainers import SortedList\n\nclass Solution:\n"
                      "    def containsNearbyAlmostDuplicate(self, nums: List[int], indexDiff: int, valueDiff: int) -> bool:\n"
                      "        window = SortedList()\n        for i, x in enumerate(nums):\n"
                      "            j = window.bisect_left(x - valueDiff)\n"
                      "            if j < len(window) and window[j] <= x + valueDiff:\n                return True\n"
                      "            window.add(x)\n            if i >= indexDiff:\n                window.remove(nums[i - indexDiff])\n"
                      "        return False\n",
         "tests": {"functional": "def check(candidate):\n    assert candidate(nums = [1,2,3,1], indexDiff = 3, valueDiff = 0) == True\n"
                                 "    assert candidate(nums = [1,5,9,1,5,9], indexDiff = 2, valueDiff = 3) == False\n"
                                 "    assert candidate(nums = [1,9,2], indexDiff = 1, valueDiff = 1) == False\n\n\n"
                                 "check(Solution().containsNearbyAlmostDuplicate)"}},
    ])
    # rllm/data/test/code/codeforces.json: {problem, tests: [{input, output}]}
    dump_json("rllm_codeforces.json", [
        {"problem": "\nYou are given n integers. Print the difference between the largest and the smallest.\n\nInput Format:\n"
                    "The first line contains n (1 <= n <= 100), the second n integers.\n\nOutput Format:\nPrint one integer.\n\n"
                    "Tags:\n['implementation']\n\nDemo input: ['3\\n1 5 3\\n']\nDemo output: ['4']\n",
         "tests": [{"input": "3\n1 5 3\n", "output": "4"}, {"input": "1\n7\n", "output": "0"},
                   {"input": "4\n-2 10 3 3\n", "output": "12"}]},
    ])
    # rllm/data/test/code/code_contests.json: {problem, tests: {inputs, outputs}}
    dump_json("rllm_code_contests.json", [
        {"problem": "\nFor each of t words print how many vowels (a, e, i, o, u) it has.\n\nTime Limit: 1 seconds\n"
                    "Memory Limit: 256000000 Bytes\n",
         "tests": {"inputs": ["2\nhello\nsky\n", "1\naeiou\n"], "outputs": ["2\n0\n", "5\n"]}},
    ])
    # rllm taco/apps splits (the notebooks keep `input_output` as `tests`): {inputs, outputs[, fn_name]};
    # call-based outputs are wrapped in a list, stdin inputs/outputs may be lists of lines
    dump_json("rllm_taco.json", [
        {"problem": "Write a function count_evens(arr) that returns how many numbers of arr are even.",
         "tests": {"fn_name": "count_evens", "inputs": [[[1, 2, 4]], [[]], [[7, 9]]], "outputs": [[2], [0], [0]]},
         "solutions": ["def count_evens(arr):\n    return sum(x % 2 == 0 for x in arr)\n"]},
        {"problem": "Read two lines, each with one integer, and print their sum and their product on two lines.",
         "tests": {"inputs": [["2", "3"], ["-1", "4"]], "outputs": [["5", "6"], ["3", "-4"]]},
         "solutions": ["a = int(input())\nb = int(input())\nprint(a + b)\nprint(a * b)\n"]},
    ])
    # rllm primeintellect split: verification_info["test_cases"] kept as `tests`
    dump_json("rllm_primeintellect.json", [
        {"problem": "Write a function pair_sums(pairs) that returns the list of the sums of the given [a, b] pairs.",
         "solutions": ["```python\ndef pair_sums(pairs):\n    return [a + b for a, b in pairs]\n```"],
         "tests": [{"type": "function_call", "fn_name": "pair_sums", "input": [[[1, 2], [3, 4]]], "output": [[3, 7]]},
                   {"type": "function_call", "fn_name": "pair_sums", "input": [[]], "output": [[]]}]},
        {"problem": "Read a line of words and print them in reverse order.",
         "solutions": ["```python\nprint(' '.join(input().split()[::-1]))\n```"],
         "tests": [{"type": "stdin_stdout", "input": "a b c\n", "output": "c b a\n"},
                   {"type": "stdin_stdout", "input": "one\n", "output": "one\n"}]},
    ])
    # rllm livecodebench split: LCB tests + each test's metadata {func_name} (scripts/data/deepcoder_dataset.py)
    meta = {"func_name": "maxGap"}
    dump_json("rllm_livecodebench.json", [
        {"problem": "You are given an integer array nums of length at least 2. Return the largest difference between two "
                    "adjacent elements of nums once it is sorted.",
         "starter_code": "class Solution:\n    def maxGap(self, nums: List[int]) -> int:\n        ",
         "tests": [{"input": "[3, 6, 9, 1]", "output": "3", "testtype": "functional", "metadata": meta},
                   {"input": "[10, 3]", "output": "7", "testtype": "functional", "metadata": meta}],
         "metadata": meta},
        {"problem": "Print the string S read from standard input with its characters in sorted order.",
         "starter_code": "",
         "tests": [{"input": "banana\n", "output": "aaabnn\n", "testtype": "stdin", "metadata": {}},
                   {"input": "z\n", "output": "z\n", "testtype": "stdin", "metadata": {}}],
         "metadata": {}},
    ])
    # rllm/data/test/code/humanevalplus.json: {problem, solutions, tests: "<test code>\ncheck(entry_point)"}
    dump_json("rllm_humanevalplus.json", [
        {"problem": "\n\ndef middle(xs: list) -> int:\n    \"\"\" Return the middle element of a list of odd length.\n"
                    "    >>> middle([1, 2, 3])\n    2\n    \"\"\"\n",
         "solutions": "\n\ndef middle(xs: list) -> int:\n    return xs[len(xs) // 2]\n",
         "tests": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate([1, 2, 3]) == 2\n"
                  "    assert candidate([5]) == 5\n    assert candidate([9, 8, 7, 6, 5]) == 7\n\ncheck(middle)"},
    ])
    # the verl parquet rows rllm trains from (scripts/data/deepcoder_dataset.py), written here as JSON lines:
    # prompt [{role, content}], ability, reward_model {style, ground_truth: the tests as JSON text}
    gt = [{"type": "function_call", "fn_name": "triple", "input": [4], "output": [12]},
          {"type": "function_call", "fn_name": "triple", "input": [-1], "output": [-3]}]
    dump_jsonl("rllm_verl.jsonl", [
        {"data_source": "primeintellect", "prompt": [{"role": "user", "content": "Write a function triple(x) returning 3 * x."}],
         "ability": "code", "reward_model": {"style": "rule", "ground_truth": json.dumps(gt)},
         "extra_info": {"split": "train", "index": 0, "reference": None}},
    ])
    # rllm kodcode split: a pytest file written against `from solution import ...`
    dump_json("rllm_kodcode.json", [
        {"problem": "Write a function `clamp(x, lo, hi)` that limits x to the range [lo, hi].",
         "tests": "from solution import clamp\n\ndef test_inside():\n    assert clamp(5, 0, 10) == 5\n\n"
                  "def test_below():\n    assert clamp(-3, 0, 10) == 0\n\ndef test_above():\n    assert clamp(11, 0, 10) == 10\n"},
    ])


class _RunsCode:
    """A pickle that would run code when loaded with plain `pickle.loads` (it writes a marker file)."""

    def __reduce__(self):
        return (builtins.exec, ("import os; open(os.environ['DED_PICKLE_MARKER'], 'w').write('ran')",))


def lcb_blob(obj) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(obj))).decode()


def lcb() -> None:
    # livecodebench/code_generation_lite rows (lcb_runner/benchmarks/code_generation.py): public_test_cases is
    # JSON text, private_test_cases base64(zlib(pickle(JSON text))), metadata JSON text with func_name
    base = {"platform": "atcoder", "contest_id": "ded001", "contest_date": "2024-09-01T00:00:00", "difficulty": "easy"}
    stdin_public = [{"input": "3\n1 2 3\n", "output": "6\n", "testtype": "stdin"}]
    stdin_private = [{"input": "2\n-5 5\n", "output": "0\n", "testtype": "stdin"},
                     {"input": "1\n100\n", "output": "100\n", "testtype": "stdin"}]
    fn_public = [{"input": "[1, 2, 3]\n2", "output": "[2, 4, 6]", "testtype": "functional"}]
    fn_private = [{"input": "[]\n5", "output": "[]", "testtype": "functional"},
                  {"input": "[-1]\n-3", "output": "[3]", "testtype": "functional"}]
    dump_jsonl("lcb_release.jsonl", [
        {**base, "question_title": "Sum Them", "question_id": "ded001_a",
         "question_content": "You are given N integers. Print their sum.", "starter_code": "",
         "public_test_cases": json.dumps(stdin_public), "private_test_cases": lcb_blob(json.dumps(stdin_private)),
         "metadata": "{}"},
        {**base, "platform": "leetcode", "question_title": "scale-array", "question_id": "9001",
         "question_content": "Given an integer array nums and an integer k, return the array of every nums[i] * k.",
         "starter_code": "class Solution:\n    def scaleArray(self, nums: List[int], k: int) -> List[int]:\n        ",
         "public_test_cases": json.dumps(fn_public), "private_test_cases": lcb_blob(json.dumps(fn_private)),
         "metadata": json.dumps({"func_name": "scaleArray"})},
        {**base, "question_title": "Hostile", "question_id": "ded001_z",
         "question_content": "A row whose private tests are a pickle that runs code when unpickled.", "starter_code": "",
         "public_test_cases": json.dumps(stdin_public), "private_test_cases": lcb_blob(_RunsCode()), "metadata": "{}"},
    ])


def humaneval_mbpp() -> None:
    # openai/human-eval HumanEval.jsonl: task_id, prompt, canonical_solution, test (check(candidate)), entry_point
    dump_jsonl("humaneval.jsonl", [
        {"task_id": "DedEval/0", "entry_point": "count_upper",
         "prompt": "\n\ndef count_upper(s: str) -> int:\n    \"\"\" Count the upper-case letters of s.\n"
                   "    >>> count_upper('aBcD')\n    2\n    \"\"\"\n",
         "canonical_solution": "    return sum(c.isupper() for c in s)\n",
         "test": "\n\nMETADATA = {\n    'author': 'ded',\n    'dataset': 'test'\n}\n\n\ndef check(candidate):\n"
                 "    assert candidate('aBcD') == 2\n    assert candidate('') == 0\n    assert candidate('XYZ') == 3\n"},
    ])
    # google-research/mbpp mbpp.jsonl (text, code, task_id, test_setup_code, test_list, challenge_test_list) and
    # sanitized-mbpp.json (source_file, task_id, prompt, code, test_imports, test_list)
    dump_jsonl("mbpp.jsonl", [
        {"text": "Write a function to return the second largest distinct number of a list.",
         "code": "def second_largest(xs):\n    return sorted(set(xs))[-2]", "task_id": 9001, "test_setup_code": "",
         "test_list": ["assert second_largest([1, 3, 2]) == 2", "assert second_largest([5, 5, 4]) == 4",
                       "assert second_largest([-1, -2]) == -2"],
         "challenge_test_list": ["assert second_largest([7, 7, 7, 1]) == 1"]},
        {"source_file": "ded.py", "task_id": 9002, "prompt": "Write a function to find the hypotenuse of a right triangle.",
         "code": "import math\ndef hypotenuse(a, b):\n    return math.sqrt(a * a + b * b)",
         "test_imports": ["import math"],
         "test_list": ["assert math.isclose(hypotenuse(3, 4), 5.0)", "assert math.isclose(hypotenuse(5, 12), 13.0)"]},
    ])


def apps_taco() -> None:
    # codeparrot/apps rows: problem_id, question, solutions (JSON list text), input_output (JSON text), difficulty,
    # url, starter_code
    dump_jsonl("apps.jsonl", [
        {"problem_id": 90001, "question": "Given a line with two integers a and b, print a - b.",
         "solutions": json.dumps(["a, b = map(int, input().split())\nprint(a - b)\n"]),
         "input_output": json.dumps({"inputs": ["5 3\n", "0 7\n"], "outputs": ["2\n", "-7\n"]}),
         "difficulty": "introductory", "url": "https://example.invalid/apps/90001", "starter_code": ""},
        {"problem_id": 90002, "question": "Write a function longest_word(words) returning the length of the longest word.",
         "solutions": json.dumps(["def longest_word(words):\n\treturn max(map(len, words), default=0)\n"]),
         "input_output": json.dumps({"fn_name": "longest_word", "inputs": [[["a", "abc", "ab"]], [[]]], "outputs": [[3], [0]]}),
         "difficulty": "introductory", "url": "https://example.invalid/apps/90002", "starter_code": "def longest_word(words):\n\t"},
    ])
    # BAAI/TACO rows: question, solutions, starter_code, input_output, difficulty, raw_tags, name, source, tags,
    # skill_types, url, Expected Auxiliary Space, time_limit, date, picture_num, memory_limit, Expected Time Complexity
    dump_jsonl("taco.jsonl", [
        {"question": "Given an array arr of N integers, return the sum of its positive elements.",
         "solutions": json.dumps(["class Solution:\n    def positiveSum(self, arr, n):\n        return sum(x for x in arr if x > 0)\n"]),
         "starter_code": "#User function Template for python3\nclass Solution:\n    def positiveSum(self, arr, n):\n        # code here\n",
         "input_output": json.dumps({"fn_name": "positiveSum", "inputs": [[[1, -2, 3], 3], [[-1], 1]], "outputs": [4, 0]}),
         "difficulty": "EASY", "raw_tags": "['Arrays']", "name": None, "source": "geeksforgeeks", "tags": "['Data structures']",
         "skill_types": "['Data structures']", "url": "https://example.invalid/taco/positive-sum",
         "Expected Auxiliary Space": "O(1)", "time_limit": None, "date": None, "picture_num": None,
         "memory_limit": None, "Expected Time Complexity": "O(N)"},
    ])


def openr1_codeforces() -> None:
    # open-r1/codeforces rows (default config); codeforces-cots rows repeat these fields with prompt/generation
    base = {"aliases": None, "contest_id": "9001", "contest_name": "Ded Round", "contest_type": "CF",
            "contest_start": 1700000000, "contest_start_year": 2023, "time_limit": 1.0, "memory_limit": 256.0,
            "interaction_format": None, "note": None, "editorial": None, "rating": 800, "tags": ["math"],
            "official_tests_complete": True, "input_mode": "stdio", "generated_checker": None, "executable": True,
            "generated_tests": 0}
    plain = {**base, "id": "9001/A", "index": "A", "title": "Double It",
             "description": "You are given an integer x. Print 2x.", "input_format": "One integer x (|x| <= 10^9).",
             "output_format": "Print one integer.", "examples": [{"input": "3\n", "output": "6\n"}],
             "testset_size": 3, "official_tests": [{"input": "3\n", "output": "6\n"}, {"input": "-4\n", "output": "-8\n"},
                                                   {"input": "0\n", "output": "0\n"}]}
    checker = {**base, "id": "9001/B", "index": "B", "title": "Any Divisor",
               "description": "You are given n > 1. Print any divisor d of n with 1 < d <= n.",
               "input_format": "One integer n.", "output_format": "Print d.",
               "examples": [{"input": "6\n", "output": "2\n"}], "testset_size": 1,
               "official_tests": [{"input": "6\n", "output": "2\n"}],
               "generated_checker": "import sys\n\ndef main():\n    n = int(open(sys.argv[1]).read())\n"
                                    "    d = int(open(sys.argv[3]).read())\n    print(1 if 1 < d <= n and n % d == 0 else 0)\n\nmain()\n"}
    interactive = {**base, "id": "9001/C", "index": "C", "title": "Guess", "description": "Guess the hidden number.",
                   "input_format": None, "output_format": None,
                   "interaction_format": "Print queries `? x`; the judge answers < or >.", "examples": [],
                   "testset_size": 0, "official_tests": []}
    filemode = {**base, "id": "9001/D", "index": "D", "title": "From File",
                "description": "Read n from input.txt and write n + 1 to output.txt.", "input_format": "n",
                "output_format": "n + 1", "examples": [{"input": "1\n", "output": "2\n"}], "testset_size": 1,
                "official_tests": [{"input": "1\n", "output": "2\n"}], "input_mode": "file"}
    dump_jsonl("openr1_codeforces.jsonl", [plain, checker, interactive, filemode])
    # codeforces-cots rows (solutions config): the problem's fields again, plus prompt, generation, messages
    cots = []
    for row, code in ((plain, "print(2 * int(input()))"), (checker, "print(int(input()))")):
        gen = f"<think>\nEasy.\n</think>\n```python\n{code}\n```"
        cots.append({k: v for k, v in row.items() if k not in ("official_tests", "generated_checker", "testset_size")}
                    | {"prompt": "You will be given a competitive programming problem. ...", "generation": gen,
                       "finish_reason": "stop", "messages": [{"role": "user", "content": "..."},
                                                              {"role": "assistant", "content": gen}]})
    dump_jsonl("openr1_codeforces_cots.jsonl", cots)


if __name__ == "__main__":
    rllm()
    lcb()
    humaneval_mbpp()
    apps_taco()
    openr1_codeforces()
