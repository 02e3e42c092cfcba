"""Bench: `ded verify` on the local engine and on a two-node Ray cluster on this machine, same run.

Data: ~20k math trajectories shaped like real samples (bench/verify.py's generator: MATH-500 LaTeX golds
when ../shared/data is present, answers in mixed equivalent forms, `<think>` filler, a few cut off) and
~2k code trajectories from the demo generator's five code families (stdin and LeetCode-style functional
tests, 3 tests each, correct and subtly wrong programs, teacher styles with cut-offs). Each verifier gets its
own lake, ingested once and copied, so both engines grade the very same rows.

Local: `ded.stages.verify.main` with `verify.workers = --cores` (math worker pool + sandbox servers here).
Ray: a `ray.cluster_utils.Cluster` of two nodes with `--cores / 2` CPUs each (started before the clock; a
real cluster is up before `ded verify`), `compute.engine: ray`: one grading actor per node, each with that
node's math pool and sandbox servers, the driver reading pending rows and committing. The Ray wall time
includes the actors' start-up (each verify call starts its actors: that is part of the engine's cost; each
verifier's lake is one call, so the Ray side pays it twice); `actor_start_s` times it alone.

Reported: wall seconds of each engine per verifier and in all, the overhead ratio ray/local (target <= 1.3),
items/s per core per verifier (items / wall / cores: a floor on a loaded machine), math items per CPU-second
of the local engine (CPU of this process and its descendants, load-independent; not for code, whose
short-lived sandboxed programs exit between samples), whether the verdicts of the
two engines are identical, and the load average.

`--generate N` also times `ded generate` of N requests with the tiny model (ded/tiny.py, transformers
backend, seeded sampling, 64 new tokens) on the local engine (this process; the backend gives a model this
small one torch thread, ded/cpu_threads.py) and on the cluster (one model actor per node; the actors'
start-up, a model load each, is inside the Ray time), and whether the rows are equal (every column but
created_at); reported under the "generate" key.

    python bench/scale.py [--math 20000] [--code 2000] [--cores 2] [--chunk-rows 256] [--generate 0]
    python bench/scale.py --math 2000 --code 200       # a quick run
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds select.py, which shadows the stdlib `select`; drop bench/ from sys.path before anything imports it
BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]

import argparse
import importlib.util
import json
import os
import random
import re
import shutil
import tempfile
import time

COMPARE = ["trajectory_id", "verifier", "verifier_version", "status", "correct", "extracted", "tests_passed",
           "tests_total", "format_ok", "detail"]


def _bench_verify():
    """bench/verify.py as a module (its generator and TreeCPU), without putting bench/ on sys.path."""
    spec = importlib.util.spec_from_file_location("bench_verify", BENCH / "verify.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def math_pool(n: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    samples = 10
    questions, trajs = _bench_verify().build(max(1, n // samples), samples, seed)
    return questions, trajs[:n]


def code_pool(n: int, seed: int = 0, samples: int = 8) -> tuple[list[dict], list[dict]]:
    """n code trajectories over n / samples questions from the demo's code families; each question's text
    carries its pool index (the families have few distinct statements; the tests differ per draw)."""
    from ded.demo import TEACHERS, _code_item, _response
    from ded.ids import question_id

    styles = list(TEACHERS.values())
    rng = random.Random(f"scale/{seed}")
    questions, trajs = [], []
    for i in range((n + samples - 1) // samples):
        d = i % 5 + 1
        item = _code_item(rng, d)
        item.update(domain="code", difficulty=d, problem=f"{item['problem']} (pool item {i})")
        qid = question_id(item["problem"])
        questions.append({"question_id": qid, "domain": "code", "problem": item["problem"],
                          "tests": json.dumps(item["tests"]), "starter_code": item.get("starter_code"),
                          "entry_point": item.get("entry_point")})
        style = styles[i % len(styles)]
        for s in range(samples):
            if len(trajs) == n:
                break
            correct = rng.random() < style.accuracy[d - 1]
            resp, cut, _ = _response(style, item, correct, rng, s % 8)  # (text, cut off?, correct?)
            trajs.append({"trajectory_id": f"tc{i:05d}_{s}", "question_id": qid, "model": "m", "sample_idx": s,
                          "response": resp, "finish_reason": "length" if cut else "stop"})
    return questions, trajs


def _params(engine: str, cores: int, chunk_rows: int):
    from ded.params import Params

    p = Params()
    return p.model_copy(update={
        "verify": p.verify.model_copy(update={"workers": cores}),
        "compute": p.compute.model_copy(update={"engine": engine, "chunk_rows": chunk_rows})})


def _verdicts(lake) -> list[dict]:
    rows = lake.read("verdicts", columns=COMPARE).to_pylist()
    for r in rows:  # which sandbox slot ran a program varies between runs on either engine
        r["detail"] = re.sub(r"uid=\d+", "uid=N", r["detail"] or "")
    return sorted(rows, key=lambda r: (r["trajectory_id"], r["verifier"]))


def run(engine: str, src: Path, work: Path, cores: int, chunk_rows: int, cpu_meter) -> dict:
    from ded.lake import Lake
    from ded.stages.verify import main as verify_main

    root = work / f"{engine}-{src.name}"
    shutil.copytree(src, root)
    lake = Lake(root)
    os.chdir(work)  # the stage writes receipts/verify.json in the working directory
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with cpu_meter() as cpu:
        summary = verify_main(_params(engine, cores, chunk_rows), lake, show_progress=False)
    wall = time.perf_counter() - t0
    print(f"{engine:5s} {src.name}: {summary['graded']} items in {wall:.1f} s (cpu {cpu.seconds:.1f} s, "
          f"load {load:.1f}) {summary['by_status']}", file=sys.stderr)
    return {"wall_s": wall, "cpu_s": cpu.seconds, "graded": summary["graded"], "load": load,
            "verdicts": _verdicts(lake)}


def generate_run(engine: str, model: Path, n: int, work: Path) -> dict:
    """`ded generate` of `n` requests (n/4 questions x 4 samples) of the tiny model on one engine."""
    from ded.ids import question_id
    from ded.lake import Lake
    from ded.params import parse_params
    from ded.stages.generate import main as generate_main

    lake = Lake(work / f"gen-{engine}")
    lake.merge("questions", [{"question_id": question_id(q), "domain": "math", "source": "bench", "problem": q}
                             for q in (f"Compute {i} plus {i * 7 % 13}." + " Show each step." * (i % 5)
                                       for i in range(max(1, n // 4)))])
    params = parse_params({
        "models": [{"name": "tiny", "backend": "transformers", "model": str(model),
                    "sampling": {"temperature": 0.8, "top_p": 0.95, "max_tokens": 64, "n": 4, "seed": 0}}],
        "generate": {"models": ["tiny"]}, "compute": {"engine": engine}})
    os.chdir(work)
    t0 = time.perf_counter()
    out = generate_main(params, lake, echo=lambda s: None)["models"]["tiny"]
    wall = time.perf_counter() - t0
    rows = sorted(({k: v for k, v in r.items() if k != "created_at"} for r in lake.read("trajectories").to_pylist()),
                  key=lambda r: r["trajectory_id"])
    print(f"{engine:5s} generate: {out['generated']} rows, {out['completion_tokens']} tokens in {wall:.1f} s",
          file=sys.stderr)
    return {"wall_s": wall, "rows": rows, "tokens": out["completion_tokens"], "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--math", type=int, default=20000, help="math trajectories")
    ap.add_argument("--code", type=int, default=2000, help="code trajectories")
    ap.add_argument("--cores", type=int, default=2, help="cores of the local engine; the Ray cluster gets two "
                                                            "nodes of cores/2 CPUs")
    ap.add_argument("--chunk-rows", type=int, default=None, help="compute.chunk_rows (default: the params default)")
    ap.add_argument("--generate", type=int, default=0, help="also time `ded generate` of this many tiny-model "
                                                             "requests on each engine (0: off)")
    args = ap.parse_args()
    if args.cores < 2 or args.cores % 2:
        ap.error("--cores must be even (two nodes of cores/2)")

    import ray
    from ray.cluster_utils import Cluster

    from ded.lake import Lake
    from ded.params import ComputeParams

    chunk_rows = args.chunk_rows or ComputeParams().chunk_rows
    tree_cpu = _bench_verify().TreeCPU
    out: dict = {}
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        srcs = {}
        for name, (qs, ts) in {"math": math_pool(args.math), "code": code_pool(args.code)}.items():
            if not ts:
                continue
            lake = Lake(work / "src" / name)
            lake.append("questions", qs)
            lake.append("trajectories", ts)
            srcs[name] = work / "src" / name
        res = {"local": {}, "ray": {}}
        for name, src in srcs.items():
            res["local"][name] = run("local", src, work, args.cores, chunk_rows, tree_cpu)
        gen = {}
        if args.generate:
            from ded.tiny import build_tiny_model

            model = build_tiny_model(work / "tiny-model")
            gen["local"] = generate_run("local", model, args.generate, work)
        t0 = time.perf_counter()
        # every Ray process on 127.0.0.1 (tests/ray_cluster.py says why this flag keeps Ray off other interfaces)
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.cores // 2, "include_dashboard": False,
                                                                "node_ip_address": "127.0.0.1"})
        cluster.add_node(num_cpus=args.cores // 2, node_ip_address="127.0.0.1")
        ray.init(address=cluster.address, log_to_driver=False)
        cluster_start = time.perf_counter() - t0
        try:
            from ded.compute.verify_actors import RayGraders

            t0 = time.perf_counter()  # the fixed cost of each Ray verify call: actors up, pools started
            graders = RayGraders(_params("ray", args.cores, chunk_rows))
            nodes = len({w["node_id"] for w in graders.where()})
            actor_start = time.perf_counter() - t0
            graders.close()
            for name, src in srcs.items():
                res["ray"][name] = run("ray", src, work, args.cores, chunk_rows, tree_cpu)
            if args.generate:
                gen["ray"] = generate_run("ray", model, args.generate, work)
        finally:
            ray.shutdown()
            cluster.shutdown()
    for name in srcs:
        loc, ry = res["local"][name], res["ray"][name]
        out[name] = {"items": loc["graded"], "local_s": round(loc["wall_s"], 2), "ray_s": round(ry["wall_s"], 2),
                     "ratio": round(ry["wall_s"] / loc["wall_s"], 3),
                     "items_per_s_per_core_local": round(loc["graded"] / loc["wall_s"] / args.cores, 1),
                     "items_per_s_per_core_ray": round(ry["graded"] / ry["wall_s"] / args.cores, 1),
                     **({"items_per_cpu_s_local": round(loc["graded"] / loc["cpu_s"], 1)} if name == "math" else {}),
                     "identical_verdicts": loc["verdicts"] == ry["verdicts"],
                     "loadavg": {"local": loc["load"], "ray": ry["load"]}}
    local = sum(res["local"][n]["wall_s"] for n in srcs)
    ray_s = sum(res["ray"][n]["wall_s"] for n in srcs)
    print(json.dumps({"metric": f"ded verify wall seconds, {args.math} math + {args.code} code trajectories: Ray "
                                f"engine (two nodes x {args.cores // 2} CPUs on this machine) vs local engine "
                                f"({args.cores} workers)",
                      "ours": round(ray_s, 2), "baseline": round(local, 2), "ratio": round(ray_s / local, 3),
                      "better": "lower", "target": 1.3, "cores": args.cores, "chunk_rows": chunk_rows,
                      "cluster_start_s": round(cluster_start, 2), "actor_start_s": round(actor_start, 2),
                      "actor_nodes": nodes, "verifiers": out,
                      **({"generate": {"requests": len(gen["local"]["rows"]), "tokens": gen["local"]["tokens"],
                                       "local_s": round(gen["local"]["wall_s"], 2), "ray_s": round(gen["ray"]["wall_s"], 2),
                                       "ratio": round(gen["ray"]["wall_s"] / gen["local"]["wall_s"], 3),
                                       "identical_rows": gen["local"]["rows"] == gen["ray"]["rows"],
                                       "loadavg": {"local": gen["local"]["load"], "ray": gen["ray"]["load"]}}}
                         if gen else {}),
                      "machine_cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
