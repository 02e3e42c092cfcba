"""Code run before a program when its tests assume it (a test's `prelude` key, see `ded.ingest.code_tests`).

Every program already gets LiveCodeBench's import prelude in the sandbox (`sandbox_server.PRELUDE`:
`from typing import *`, collections, heapq, bisect, math, itertools, functools, ...). On top of it:

- `leetcode`: the data structures LeetCode's judge defines for its problems and the helpers the
  LeetCodeDataset tests (rllm's LeetCode split) call: `ListNode`, `TreeNode`, `list_node(values)`
  (a linked list from a list), `tree_node(values)` (a binary tree from LeetCode's level-order list
  with `None` holes), `is_same_list`, `is_same_tree`. It runs before the program because the
  program's annotations (`Optional[ListNode]`) are evaluated when its methods are defined; a
  program that defines its own `ListNode` replaces ours (the helpers only use `.val`/`.next`/
  `.left`/`.right`). Written here from LeetCode's public definitions; behaviour matches the
  helpers rllm's harness prepends (`rllm/rewards/code_utils/utils.py`, BASE_LEETCODE_IMPORTS).
"""

from __future__ import annotations

from collections.abc import Iterable

LEETCODE = '''
from typing import Any, List, Optional
from collections import deque as _ded_deque


class ListNode:
    def __init__(self, val=0, next=None):
        self.val = val
        self.next = next


class TreeNode:
    def __init__(self, val=0, left=None, right=None):
        self.val = val
        self.left = left
        self.right = right


def list_node(values):
    head = tail = None
    for v in values:
        node = ListNode(v)
        if head is None:
            head = tail = node
        else:
            tail.next = node
            tail = node
    return head


def is_same_list(a, b):
    while a is not None and b is not None:
        if a.val != b.val:
            return False
        a, b = a.next, b.next
    return a is None and b is None


def tree_node(values):
    values = list(values)
    if not values or values[0] is None:
        return None
    root = TreeNode(values[0])
    todo, i = _ded_deque([root]), 1
    while todo and i < len(values):
        node = todo.popleft()
        if i < len(values) and values[i] is not None:
            node.left = TreeNode(values[i])
            todo.append(node.left)
        i += 1
        if i < len(values) and values[i] is not None:
            node.right = TreeNode(values[i])
            todo.append(node.right)
        i += 1
    return root


def is_same_tree(p, q):
    todo = [(p, q)]
    while todo:
        a, b = todo.pop()
        if a is None and b is None:
            continue
        if a is None or b is None or a.val != b.val:
            return False
        todo += [(a.left, b.left), (a.right, b.right)]
    return True

'''

PRELUDES = {"leetcode": LEETCODE}


def for_tests(tests: Iterable[dict]) -> str:
    """The preludes a question's tests name, in a fixed order, as one text to put before the program."""
    names = {t.get("prelude") for t in tests if t.get("prelude")}
    unknown = names - set(PRELUDES)
    if unknown:
        raise ValueError(f"unknown test prelude {min(unknown)!r} (known: {', '.join(PRELUDES)})")
    return "".join(PRELUDES[n] for n in PRELUDES if n in names)
