"""LiveCodeBench at evaluation time: the date window, the difficulty split, and honesty about the tests.

LiveCodeBench scores a model only on problems released after its training cutoff (Jain et al. 2024,
arXiv 2403.07974, section 3), and reports pass@1 per difficulty (easy / medium / hard). The loader
(ded/benchmarks) already applies a benchmark's `options.start_date`/`end_date`; `evaluate.lcb_start` and
`evaluate.lcb_end` narrow that window for one evaluation without reloading, and `evaluate.lcb_difficulties`
picks the difficulties.

Public tests only: the official scorer runs each problem's hidden tests (tens per problem). Copies such as the
one in ../shared/data carry only the public examples (about 2.6 per problem), so a wrong program can pass them
and scores come out higher than the official ones. Unless a benchmark's params say `options.private_tests:
true`, results are marked "public tests only" and not comparable to the official leaderboard.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

PUBLIC_ONLY_NOTE = ("graded on public tests only ({per:.1f} per problem on average): scores run higher than "
                    "the official LiveCodeBench scorer's hidden tests and are not comparable to its leaderboard")


def is_livecodebench(name: str, spec: Any = None) -> bool:
    """A benchmark is treated as LiveCodeBench when its name or source says so."""
    src = str(getattr(spec, "path_or_hub", "") or "").lower()
    return "livecodebench" in name.lower() or "lcb" in name.lower() or "livecodebench" in src or "lcb" in src


def metadata(item: dict) -> dict:
    raw = item.get("metadata")
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}


def filter_items(items: Iterable[dict], start: str | None = None, end: str | None = None,
                 difficulties: Iterable[str] | None = None) -> tuple[list[dict], Counter]:
    """Items inside [start, end) by contest_date and of the given difficulties; counts of what was dropped."""
    keep, dropped = [], Counter()
    diffs = {d.lower() for d in difficulties} if difficulties is not None else None
    for it in items:
        meta = metadata(it)
        date = str(meta.get("contest_date") or "")[:10]
        diff = str(meta.get("difficulty") or "").lower()
        if (start or end) and not date:
            dropped["no contest_date"] += 1
        elif start and date < start[:10]:
            dropped[f"before {start[:10]}"] += 1
        elif end and date >= end[:10]:
            dropped[f"on or after {end[:10]}"] += 1
        elif diffs is not None and diff and diff not in diffs:
            dropped[f"difficulty {diff}"] += 1
        else:
            keep.append(it)
    return keep, dropped


def difficulty_of(item: dict) -> str | None:
    d = metadata(item).get("difficulty")
    return str(d).lower() if d else None


def tests_per_item(items: Iterable[dict]) -> float:
    counts = []
    for it in items:
        try:
            counts.append(len(json.loads(it.get("tests") or "[]")))
        except (json.JSONDecodeError, TypeError):
            counts.append(0)
    return sum(counts) / len(counts) if counts else 0.0


def public_tests_only(spec: Any) -> bool:
    """True unless the benchmark's params declare its hidden tests are loaded (`options.private_tests: true`)."""
    opts = getattr(spec, "options", None) or (spec.get("options") if isinstance(spec, dict) else None) or {}
    return not bool(opts.get("private_tests"))


def notes(items: list[dict], spec: Any) -> list[str]:
    """The caveats a LiveCodeBench result must carry."""
    out = []
    if public_tests_only(spec):
        out.append(PUBLIC_ONLY_NOTE.format(per=tests_per_item(items)))
    dates = sorted(str(metadata(i).get("contest_date") or "")[:10] for i in items if metadata(i).get("contest_date"))
    if dates:
        out.append(f"problems dated {dates[0]} to {dates[-1]}")
    return out
