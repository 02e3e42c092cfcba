"""The raw table of one bench/gpu_run.sh session: one row per JSON result line of the checks' logs.

    python bench/gpu_table.py OUT_DIR        # reads OUT_DIR/*.log, prints a Markdown table
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(out: Path) -> list[dict]:
    found = []
    for log in sorted(out.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        if not any(ln.startswith("{") for ln in lines):  # stopped by its time cap: the last partial result
            lines = [ln[len("PARTIAL "):] for ln in lines if ln.startswith("PARTIAL ")][-1:]
        for line in lines:
            if line.startswith("{"):
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue
                r.setdefault("check", log.stem)
                found.append(r)
    return found


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ded-gpu-out")
    print("| check | ours | baseline | ratio | MFU ours (6N only) | MFU baseline | peak GiB ours / baseline | max rel diff |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows(out):
        mfu = f"{fmt(r.get('mfu_ours'))} ({fmt(r.get('mfu_6n_ours'))})" if "mfu_ours" in r else "-"
        peak_o = r.get("peak_mem_gib_ours", r.get("peak_gb_ours"))
        peak_b = r.get("peak_mem_gib_baseline", r.get("peak_gb_baseline"))
        diff = r.get("max_rel_diff_logprob", (r.get("layouts") or {}).get(r.get("best_layout"), {}).get("max_rel_diff_summary"))
        print(f"| {r['check']} | {fmt(r.get('ours'))} | {fmt(r.get('baseline'))} | {fmt(r.get('ratio'))} | {mfu} "
              f"| {fmt(r.get('mfu_baseline'))} | {fmt(peak_o)} / {fmt(peak_b)} | {fmt(diff)} |")


if __name__ == "__main__":
    main()
