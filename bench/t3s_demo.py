"""The SFT objectives on the demo, through the ablation harness: plain vs t3s vs rrt (ded.training.t3s), with
intervals, and what t3s and rrt cost on top of plain SFT (pilot run, training-accuracy sampling per checkpoint,
the two confidence passes, the final run).

Builds its own workspace (a copy of the repository's tracked files in a temporary git repository, as
bench/ablate.py), sets the demo profile's `ablate` to one recipe (ded), one budget, three seeds and the three
objectives, runs `dvc repro pipelines/ablate/dvc.yaml` and reads metrics/ablate.json. No direction is
asserted: the demo's tiny student learns little today (README). The last line is one JSON object: ours = the
t3s arms' SFT-stage seconds per arm, baseline = the plain arms', and the paired differences against plain.

    python bench/t3s_demo.py [--keep DIR] [--budget 24] [--seeds 0 1 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import os
import shutil
import tempfile

import yaml

from bench._util import emit
from bench.ablate import _clone, _timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    ap.add_argument("--budget", type=int, default=24)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--checkpoints", type=int, default=4, help="sft.t3s.checkpoints of the arms")
    args = ap.parse_args()
    ws = Path(args.keep or tempfile.mkdtemp(prefix="ded-bench-t3s-"))
    ws.mkdir(parents=True, exist_ok=True)
    env = _clone(ws)
    p = yaml.safe_load((ws / "pipelines" / "demo.yaml").read_text())
    p["ablate"].update(recipes=["ded"], budgets=[args.budget], seeds=args.seeds, teachers=["auto"],
                       objectives=["plain", "t3s", "rrt"])
    p["ablate"]["sft"] = {**p["ablate"].get("sft", {}), "t3s": {"checkpoints": args.checkpoints, "n": 1, "max_tokens": 128}}
    (ws / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    secs, _ = _timed(["dvc", "repro", "pipelines/ablate/dvc.yaml"], ws, env)
    doc = json.loads((ws / "metrics" / "ablate.json").read_text())
    comps = [c for c in doc["comparisons"] if c.get("vs_objective") == "plain" and c.get("objective") != "plain"]
    for c in comps:
        print(f"{c['recipe']}+{c['objective']:<5} vs {c['vs']}+plain budget {c['budget']} {c['benchmark']:<10} "
              f"diff {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] seeds {len(c['seeds'])} items {c['items']}")
    for a in doc["arms"]:
        print(f"{a['arm']:<24} {a['objective']:<5} {a.get('benchmark')}: {a.get('avg_at_n')} "
              f"[{a.get('ci_low')}, {a.get('ci_high')}] sft {a.get('sft_wall_s')} s")
    curves = {}
    for arm in sorted({a["arm"] for a in doc["arms"] if a["objective"] == "t3s"}):
        r = json.loads((ws / "ablate" / arm.rsplit("-t3s", 1)[0] / "t3s" / "result.json").read_text())
        curves[arm] = {"curve": [(pt["step"], pt["accuracy"]) for pt in r["t3s"]["curve"]],
                       "bottleneck_step": r["t3s"]["bottleneck"]["step"],
                       "anchor_share": r["t3s"]["masks"]["anchor_share"]}
    print(json.dumps(curves, indent=1))
    cost = doc["cost"]["by_objective"]
    if not args.keep:
        shutil.rmtree(ws, ignore_errors=True)
    emit("SFT-stage wall time per demo arm, s (t3s: pilot + accuracy sampling + 2 confidence passes + final run; "
         "baseline: plain SFT)", cost["t3s"]["sft_seconds_per_arm"], cost["plain"]["sft_seconds_per_arm"], "lower",
         None, rrt_seconds_per_arm=cost["rrt"]["sft_seconds_per_arm"], by_objective=cost, ablation_s=round(secs, 1),
         cores=os.cpu_count(), t3s_curves=curves,
         comparisons=[{k: (round(v, 4) if isinstance(v, float) else v) for k, v in c.items() if k in
                       ("recipe", "objective", "vs_objective", "budget", "benchmark", "diff", "ci_low", "ci_high")}
                      for c in comps])


if __name__ == "__main__":
    main()
