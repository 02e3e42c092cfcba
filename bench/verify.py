"""Bench: `ded verify` on 20k math samples against a serial math-verify loop over the same items.

Data shaped like real samples: 2,000 questions (golds drawn from MATH-500's LaTeX answers when
../shared/data is present, else generated, plus AIME-style integers) × 10 samples; each question
gets 1–4 distinct answers, correct ones in mixed equivalent LaTeX forms (`\\dfrac` vs `\\frac`,
decimals, `a/b`, spacing, zero-padded integers) and wrong ones; each response has a `<think>` block
of filler and a `\\boxed{}` answer, a few are cut off mid-thought.

Ours: the verify stage (`ded.stages.verify.main`) on a temporary lake, all cores (2 here):
extraction, fast integer/exact paths, a cache on (gold, answer), math-verify in worker processes.
Baseline: the usual loop, `verify(parse(gold), parse(response))` one item at a time in one process.
Reported: both wall times, the speed-up (target >= 5×), and that verdicts are identical wherever
ours decided (correct is not None).

    python bench/verify.py [--questions 2000] [--samples 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds select.py, which shadows the stdlib `select` (subprocess, multiprocessing use it)
# once `python bench/x.py` puts bench/ first on sys.path; drop it before anything imports them.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILLER = ("We consider the cases one by one and simplify the expression, checking each step "
          "against the constraints of the problem. ") * 12


def golds(n: int, rng: random.Random) -> list[str]:
    pool: list[str] = []
    f = DATA / "math500" / "math500_test.jsonl"
    if f.exists():
        pool = [json.loads(line)["answer"] for line in f.open()]
    pool += [rf"\frac{{{a}}}{{{b}}}" for a in range(1, 30) for b in range(2, 9) if a % b][:150]
    out = []
    for i in range(n):
        out.append(f"{rng.randint(0, 999):03d}" if i % 3 == 0 else rng.choice(pool))
    return out


def equivalent(gold: str, rng: random.Random) -> str:
    spaced = re.sub(r",(?!\d{3}\b)", ", ", gold).replace("+", " + ").replace("=", " = ")
    forms = [gold, gold.replace(r"\frac", r"\dfrac"), spaced, gold + " "]
    if gold.isdigit():
        forms += [str(int(gold)), f"{int(gold)}.0"]
    m = re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}", gold)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        forms += [f"{a}/{b}", f"{a / b:.6g}" if len(f"{a / b}") < 8 else gold]
    return rng.choice(forms)


def wrong(gold: str, rng: random.Random, pool: list[str]) -> str:
    if gold.isdigit():
        return str(int(gold) + rng.randint(1, 50))
    return rng.choice(pool)


def build(nq: int, ns: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    gs = golds(nq, rng)
    questions, trajs = [], []
    for qi, g in enumerate(gs):
        qid = f"q{qi:05d}"
        questions.append({"question_id": qid, "domain": "math", "problem": f"problem {qi}", "answer": g})
        k = rng.randint(1, 4)
        answers = [equivalent(g, rng)] + [wrong(g, rng, gs) for _ in range(k - 1)]
        for s in range(ns):
            ans = rng.choice(answers) if rng.random() < 0.8 else equivalent(g, rng)
            cut = rng.random() < 0.03
            resp = f"<think>{FILLER}</think>\nTherefore the answer is $\\boxed{{{ans}}}$." if not cut \
                else f"<think>{FILLER} maybe \\boxed{{{ans}}}"
            trajs.append({"trajectory_id": f"t{qi:05d}_{s}", "question_id": qid, "model": "m", "sample_idx": s,
                          "response": resp, "finish_reason": "length" if cut else "stop"})
    return questions, trajs


class TreeCPU:
    """CPU seconds of this process and every descendant (math workers are grandchildren via the
    forkserver, so rusage misses them): descendants are sampled every 0.1 s, the last sample kept.
    On a shared machine wall time depends on the neighbours; CPU time does not."""

    def __init__(self):
        import threading

        import psutil

        self.me, self.seen, self.stop = psutil.Process(), {}, threading.Event()
        self.t = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import psutil

        while not self.stop.wait(0.1):
            for c in self.me.children(recursive=True):
                try:
                    ct = c.cpu_times()
                    self.seen[c.pid] = ct.user + ct.system
                except psutil.Error:
                    pass

    def __enter__(self):
        ct = self.me.cpu_times()
        self.start = ct.user + ct.system
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join()
        ct = self.me.cpu_times()
        self.seconds = ct.user + ct.system - self.start + sum(self.seen.values())


def serial_baseline(questions: list[dict], trajs: list[dict]) -> tuple[float, dict]:
    from math_verify import parse, verify

    gold = {q["question_id"]: q["answer"] for q in questions}
    out = {}
    t0 = time.perf_counter()
    for t in trajs:
        out[t["trajectory_id"]] = bool(verify(parse("$\\boxed{" + gold[t["question_id"]] + "}$"), parse(t["response"])))
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=10)
    args = ap.parse_args()
    from ded.lake import Lake
    from ded.params import Params
    from ded.stages.verify import main as verify_main

    questions, trajs = build(args.questions, args.samples)
    with tempfile.TemporaryDirectory() as d:
        lake = Lake(Path(d) / "lake")
        lake.append("questions", questions)
        lake.append("trajectories", trajs)
        import os

        os.chdir(d)  # the stage writes receipts/verify.json in the working directory
        t0 = time.perf_counter()
        load_ours = os.getloadavg()[0]
        with TreeCPU() as cpu:
            summary = verify_main(Params(), lake, show_progress=False)
        ours = time.perf_counter() - t0
        rows = lake.read("verdicts", columns=["trajectory_id", "correct", "status"]).to_pylist()
    print(f"ours: {ours:.1f} s for {summary['graded']} items: {summary['by_status']}", file=sys.stderr)
    load_base = os.getloadavg()[0]
    cpu0 = time.process_time()
    base, ref = serial_baseline(questions, trajs)
    base_cpu = time.process_time() - cpu0
    print(f"baseline serial math-verify: {base:.1f} s", file=sys.stderr)
    decided = [r for r in rows if r["correct"] is not None]
    mismatches = [r for r in decided if r["correct"] != ref[r["trajectory_id"]]]
    cut = {t["trajectory_id"] for t in trajs if t["finish_reason"] == "length"}
    # the baseline grades a cut-off response by the \boxed it finds inside the unfinished thought;
    # ours calls that no answer (ARCHITECTURE: an unclosed <think> is no answer): counted apart
    policy = [r for r in mismatches if r["trajectory_id"] in cut]
    other = [r for r in mismatches if r["trajectory_id"] not in cut]
    for r in other[:10]:
        print("mismatch", r, ref[r["trajectory_id"]], file=sys.stderr)
    print(json.dumps({"metric": f"wall seconds to grade {len(trajs)} math samples", "ours": round(ours, 2),
                      "baseline": round(base, 2), "ratio": round(ours / base, 4), "better": "lower",
                      "target": round(base / 5, 2), "speedup": round(base / ours, 2), "speedup_target": 5,
                      "items": len(trajs), "decided": len(decided), "undecided": len(rows) - len(decided),
                      "mismatches_where_both_decide": len(other),
                      "cut_off_policy_differences": len(policy), "cores": os.cpu_count(),
                      "ours_cpu_s": round(cpu.seconds, 2), "baseline_cpu_s": round(base_cpu, 2),
                      "cpu_ratio": round(cpu.seconds / base_cpu, 4),
                      "loadavg_at_start": {"ours": load_ours, "baseline": load_base}}))


if __name__ == "__main__":
    main()
