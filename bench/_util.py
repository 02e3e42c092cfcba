"""Shared helpers for bench scripts: peak RSS of a child, timing, the final JSON line."""

from __future__ import annotations

import json
import multiprocessing as mp
import resource
import statistics
import time
from typing import Any, Callable


def _child(fn: Callable[..., Any], args: tuple, q: "mp.Queue") -> None:
    t = time.perf_counter()
    out = fn(*args)
    q.put((time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, out))


def run_isolated(fn: Callable[..., Any], *args: Any) -> tuple[float, float, Any]:
    """Run fn(*args) in a fresh process: (seconds, peak RSS in GB, result). Start-up is not timed."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(fn, args, q))
    p.start()
    secs, rss, out = q.get()
    p.join()
    if p.exitcode:
        raise RuntimeError(f"child failed with exit code {p.exitcode}")
    return secs, rss / 1e9, out


def median_time(fn: Callable[[], Any], repeat: int = 3) -> float:
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def emit(metric: str, ours: float, baseline: float | None, better: str, target: float, **extra: Any) -> None:
    ratio = (ours / baseline) if baseline else None
    print(json.dumps({"metric": metric, "ours": round(ours, 4), "baseline": None if baseline is None else round(baseline, 4),
                      "ratio": None if ratio is None else round(ratio, 4), "better": better, "target": target, **extra}))
