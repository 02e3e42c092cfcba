"""Accuracy versus corpus size across DVC experiments: the DED paper's Pareto frontier as a DVC plot.

    for b in 100 200 400 800; do dvc exp run -S select.budget=$b; done   # one experiment per budget
    python pipelines/pareto.py                                          # -> metrics/pareto.csv + the plot

Reads `dvc exp show --json` (the workspace, the baseline commit and every experiment), takes each run's
corpus size (metrics/sft/train.json: rows) and each benchmark's avg@n (metrics/eval/<benchmark>.json),
writes one CSV row per (experiment, benchmark) and renders it with `dvc plots show` (scatter, x = corpus
size, y = avg@n). docs/pipeline.md explains the recipe.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", default="metrics/pareto.csv")
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
        Path("reports").mkdir(exist_ok=True)
        subprocess.run(["dvc", "plots", "show", str(out), "--template", "scatter", "-x", "corpus_size",
                        "-y", "avg_at_n", "--title", "accuracy vs corpus size", "--out", "reports/pareto"], check=True)


if __name__ == "__main__":
    main()
