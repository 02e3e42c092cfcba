"""The demo's two wall times on this machine: `dvc repro` (the README's first command) and the default demo
ablation (`dvc repro pipelines/ablate/dvc.yaml`, the demo profile's `ablate` section). Absolute claims
(baseline null): repro <= 600 s and ablation <= 900 s on 2 cores (issue 13).

Builds its own workspace: a copy of the repository's tracked files (as a clone gives them) in a temporary git
repository, then times the two commands there, each from where the one before left off (the ablation reuses
the main stages it depends on). Prints the arms, the paired differences against random and, last, one JSON line.

    python bench/ablate.py [--keep DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

from bench._util import emit

REPO = Path(__file__).resolve().parents[1]


def _clone(ws: Path) -> dict:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if (REPO / f).is_file():
            (ws / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, ws / f)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DED_PROGRESS": "0",
           "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(ws),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], git + ["commit", "-q", "-m", "clone"]):
        subprocess.run(cmd, cwd=ws, env=env, check=True, capture_output=True)
    return env


def _timed(cmd: list[str], ws: Path, env: dict) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=ws, env=env, capture_output=True, text=True)
    secs = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return secs, out.stdout + out.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()
    ws = Path(args.keep or tempfile.mkdtemp(prefix="ded-bench-ablate-"))
    ws.mkdir(parents=True, exist_ok=True)
    env = _clone(ws)
    repro_s, _ = _timed(["dvc", "repro"], ws, env)
    ablate_s, _ = _timed(["dvc", "repro", "pipelines/ablate/dvc.yaml"], ws, env)
    doc = json.loads((ws / "metrics" / "ablate.json").read_text())
    arms = sorted({a["arm"] for a in doc["arms"]})
    for c in doc["comparisons"]:
        print(f"{c['recipe']:>16} vs {c['vs']:<16} budget {c['budget']:>4} {c['benchmark']:<10} "
              f"diff {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] seeds {len(c['seeds'])} items {c['items']}")
    if not args.keep:
        shutil.rmtree(ws, ignore_errors=True)
    emit("demo ablation wall time, s (dvc repro pipelines/ablate/dvc.yaml after dvc repro)", ablate_s, None, "lower",
         900, repro_s=round(repro_s, 1), repro_target=600, ablation_s=round(ablate_s, 1), arms=len(arms),
         cores=os.cpu_count(), sft_seconds=doc["cost"]["sft_seconds"], eval_seconds=doc["cost"]["eval_seconds"],
         comparisons=[{k: (round(v, 4) if isinstance(v, float) else v) for k, v in c.items() if k in
                       ("recipe", "vs", "budget", "benchmark", "diff", "ci_low", "ci_high")} for c in doc["comparisons"]])


if __name__ == "__main__":
    main()
