"""Accuracy versus corpus size across DVC experiments (a budget-only sweep of the main pipeline; per recipe, with
seeds and intervals, the paper's Pareto frontier is `ded ablate`: docs/ablation.md) as a DVC plot.

    for b in 100 200 400 800; do dvc exp run -S select.budget=$b; done   # one experiment per budget
    python pipelines/pareto.py            # -> metrics/pareto.csv and reports/pareto.svg

Reads `dvc exp show --json` (the workspace, the baseline commit and every experiment), takes each run's
corpus size (metrics/sft/train.json: rows) and each benchmark's avg@n (metrics/eval/<benchmark>.json),
writes one CSV row per (experiment, benchmark, model) and draws accuracy against corpus size as a
self-contained SVG (one line per benchmark and model; no script, no network). The CSV is also a DVC plot
(`dvc plots show metrics/pareto.csv -x corpus_size -y avg_at_n`), but that HTML loads its scripts from a
CDN. docs/pipeline.md explains the recipe.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

FIELDS = ["experiment", "rev", "budget", "corpus_size", "benchmark", "model", "avg_at_n"]


def _revs(entries: list[dict]):
    for e in entries:
        yield e
        for exp in e.get("experiments") or []:
            yield from _revs(exp.get("revs") or [])


def rows_from_exp_show(entries: list[dict]) -> list[dict]:
    """One row per (experiment, benchmark, model) that has both a corpus size and an avg@n."""
    out, seen = [], set()
    revs = list(_revs(entries))
    for e in [r for r in revs if r.get("rev") != "workspace"] + [r for r in revs if r.get("rev") == "workspace"]:
        data = e.get("data") or {}
        metrics = data.get("metrics") or {}
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
        sft = (metrics.get("metrics/sft/train.json") or {}).get("data") or {}
        if "rows" not in sft or sft.get("corpus_sha256") in seen:  # the workspace repeats an experiment
            continue
        seen.add(sft.get("corpus_sha256"))
        for path, m in sorted(metrics.items()):
            doc = m.get("data") or {}
            if not path.startswith("metrics/eval/") or "models" not in doc:
                continue
            for model, entry in doc["models"].items():
                out.append({"experiment": e.get("name") or e.get("rev"), "rev": (e.get("rev") or "")[:7],
                            "budget": (params.get("select") or {}).get("budget"), "corpus_size": sft["rows"],
                            "benchmark": doc.get("benchmark", Path(path).stem), "model": model,
                            "avg_at_n": (entry.get("metrics") or {}).get("avg_at_n")})
    return sorted(out, key=lambda r: (r["benchmark"], r["corpus_size"]))


def pareto_svg(rows: list[dict]) -> str:
    """Accuracy (avg@n) against corpus size, one line per (benchmark, model)."""
    from ded.report.svg import lines

    series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r["avg_at_n"] is not None:
            series.setdefault(f"{r['benchmark']} · {r['model']}", []).append((r["corpus_size"], r["avg_at_n"]))
    if not series:
        raise SystemExit("no run has an avg@n yet: every metrics/eval/*.json lacks it")
    return lines(series, title="accuracy vs corpus size", xlabel="corpus size (rows)", ylabel="avg@n",
                 log_x=all(x > 0 for pts in series.values() for x, _ in pts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", default="metrics/pareto.csv")
    ap.add_argument("--svg", default="reports/pareto.svg", help="where the picture goes")
    ap.add_argument("--no-render", action="store_true", help="only write the CSV")
    args = ap.parse_args()
    shown = subprocess.run(["dvc", "exp", "show", "--json", "--no-pager"], capture_output=True, text=True, check=True)
    rows = rows_from_exp_show(json.loads(shown.stdout))
    if not rows:
        raise SystemExit("no run has both metrics/sft/train.json and metrics/eval/*.json: run `dvc repro` or "
                         "`dvc exp run -S select.budget=N` first")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {out}: {len(rows)} points from {len({r['experiment'] for r in rows})} runs")
    if not args.no_render:
        svg = Path(args.svg)
        svg.parent.mkdir(parents=True, exist_ok=True)
        svg.write_text(pareto_svg(rows), encoding="utf-8")
        print(f"wrote {svg}")


if __name__ == "__main__":
    main()
