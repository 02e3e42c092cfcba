"""Every repository path the README, docs/*.md and the commands' help texts name exists (no stale names)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# A path that starts with one of the repository's folders; `*`, `<x>`, `{x}` or an ALL-CAPS segment marks a pattern.
PATH = re.compile(r"(?<![\w./-])((?:ded|sql|pipelines|bench|tests|docs|prompts|data|smoke|\.ci)/[\w./*<>{}-]*[\w*>}])")
PLACEHOLDER = re.compile(r"[*<>{}]|(?:^|/)[A-Z][A-Z_]*(?:\.|/|$)")
# Example inputs a help text shows for the user's own files, not files of this repository.
USER_FILES = {"data/pool.jsonl"}
SOURCES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "ded" / "commands").glob("*.py"))]


def named_paths(text: str) -> list[str]:
    return [p for p in (m.group(1).rstrip(".") for m in PATH.finditer(text))
            if not PLACEHOLDER.search(p) and p not in USER_FILES]


def test_the_pattern_finds_paths_and_skips_placeholders():
    text = "see pipelines/accelerate/fsdp.yaml, sql/score/*.sql, pipelines/NAME.yaml and metrics/eval/x.json."
    assert named_paths(text) == ["pipelines/accelerate/fsdp.yaml"]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_named_paths_exist(source):
    stale = [p for p in named_paths(source.read_text(encoding="utf-8")) if not (REPO / p).exists()]
    assert not stale, f"{source.relative_to(REPO)} names paths that do not exist: {stale}"
