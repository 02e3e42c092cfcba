"""T3S: training-trajectory-aware token selection as the SFT objective (`sft.objective: t3s | rrt`).

Shen et al., "Training-Trajectory-Aware Token Selection" (arXiv 2601.10348, ICML 2026). The paper's method
section was not available to us: the formulas below follow a detailed third-party summary, and every choice
it leaves open is a `sft.t3s` field (docs/training.md, "T3S").

- token confidence c_t(θ) = log p_θ(y_t | y_<t, x) over the tokens SFT trains on (the labels TRL builds:
  the assistant turn with assistant_only_loss), computed by the student scorer's chunked log-probs
  (`ded.scorers.student.StudentScorer.token_stats_many`);
- pilot run: plain SFT from θ0, `t3s.checkpoints` evenly spaced checkpoints kept;
- imitation bottleneck θ_b: the checkpoint with the lowest (smoothed) training-set accuracy: sampled answers
  on the corpus's own questions, graded by the verifiers, through `ded evaluate`'s machinery;
- anchors A = {t : c_t(θ_b) − c_t(θ0) > margin} per trajectory, special tokens and the final answer exempt
  by default; masks go to the lake table `t3s_masks` (one row per trajectory);
- final run: SFT from θ0 with the anchors' labels set to -100: L = Σ_{t ∉ A} −log p_θ(y_t | y_<t, x), divided
  by the kept tokens (plain SFT's normalisation);
- diagnostic `rrt` ("recovering residual transfer"): θ0 + (θ_pilot_final − θ_b), no mask and no final run.

`run` is one resumable stage: every step keeps its result under `<t3s.work_dir>/<run key>/` (the pilot's
checkpoints and metrics, curve.json updated after each checkpoint, the eval samples in the lake, the masks
in the lake, the final run's checkpoints) and a rerun picks up after the last finished step.
`anchor_mask`, `smoothed`, `bottleneck_index` and `exempt_positions` are the pure parts that tests check by
hand.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ded.backends import get_backend
from ded.backends.run_requests import done_fingerprints, run_requests
from ded.errors import DedError
from ded.evaluation.results import run_entry
from ded.evaluation.runner import build_plan, grade_run, row_maker, run_filter
from ded.lake import now, open_lake
from ded.params import EvaluateParams, ModelSpec
from ded.scorers.student import StudentScorer
from ded.training.data import file_sha256, load_corpus
from ded.training.plan import make_plan
from ded.training.trainer import trained_rows

log = logging.getLogger(__name__)

TRAIN_BENCHMARK = "t3s-train"  # eval_samples.benchmark of the training-accuracy samples
MASKS_TABLE = "t3s_masks"


class T3sError(DedError):
    """The T3S pipeline cannot run; the message says what to set or run."""


# -- pure parts -------------------------------------------------------------------------------------------
def anchor_mask(c0: list[float], cb: list[float], margin: float = 0.0,
                exempt: list[bool] | None = None) -> list[bool]:
    """A_t = c_t(θ_b) − c_t(θ0) > margin, False where `exempt`; one entry per trained token."""
    if len(c0) != len(cb):
        raise ValueError(f"confidences under θ0 and θ_b cover {len(c0)} and {len(cb)} tokens")
    ex = exempt or [False] * len(c0)
    return [bool((b - a) > margin and not e) for a, b, e in zip(c0, cb, ex)]


def smoothed(values: list[float], window: int) -> list[float]:
    """Centred moving average of `window` points, the window shrinking at the ends (window 1: the values)."""
    half = max(0, int(window) - 1) // 2
    out = []
    for i in range(len(values)):
        lo, hi = max(0, i - half), min(len(values), i + (int(window) - 1 - half) + 1)
        out.append(sum(values[lo:hi]) / (hi - lo))
    return out


def bottleneck_index(accuracy: list[float | None], window: int = 1) -> int:
    """Index of the lowest smoothed accuracy (the earliest on ties); None (no decided sample) is an error."""
    if not accuracy:
        raise T3sError("no pilot checkpoint to search for the bottleneck")
    if any(a is None for a in accuracy):
        bad = [i for i, a in enumerate(accuracy) if a is None]
        raise T3sError(f"pilot checkpoints {bad} have no graded training sample: the bottleneck is unknown "
                       f"(check the verifiers and t3s.max_tokens)")
    s = smoothed([float(a) for a in accuracy], window)
    return min(range(len(s)), key=lambda i: (s[i], i))


def exempt_positions(tokenizer, ids: list[int], labels: list[int], exempt_special: bool,
                     exempt_final: bool) -> list[bool]:
    """Per trained token (labels != -100, in order): never an anchor? Special tokens, the final answer (tokens
    after the last `</think>`), and position 0 (no context: causal LMs never train it)."""
    trained = [i for i, lab in enumerate(labels) if lab != -100]
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    special |= set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    final_from = None
    if exempt_final:
        text, ends = "", []
        for i in trained:  # decoded text up to and including each trained token
            text += tokenizer.decode([ids[i]])
            ends.append(len(text))
        j = text.rfind("</think>")
        if j >= 0:
            stop = j + len("</think>")
            starts = [0, *ends[:-1]]
            final_from = next((k for k, s in enumerate(starts) if s >= stop), None)
    out = []
    for k, i in enumerate(trained):
        out.append(i == 0 or (exempt_special and ids[i] in special)
                   or (final_from is not None and k >= final_from))
    return out


# -- the model-side steps ------------------------------------------------------------------------------------
def token_confidences(model_path: str, rows: list[tuple[list[int], list[int]]], t3s) -> list[list[float]]:
    """c_t = log p(y_t | y_<t) at each trained position of each (input_ids, labels) row, by the student
    scorer's packed, chunked forward (one teacher-forced pass over all rows)."""
    scorer = StudentScorer(model_path, device=t3s.device, chunk_tokens=t3s.chunk_tokens,
                           max_batch_tokens=t3s.max_batch_tokens)
    items, spans = [], []
    for ids, labels in rows:
        trained = [i for i, lab in enumerate(labels) if lab != -100]
        scored = [i for i in trained if i > 0]
        if not scored:
            items.append((list(ids[:1]), 1))
        else:
            items.append((list(ids[: scored[-1] + 1]), scored[0]))
        spans.append((trained, scored[0] if scored else None))
    stats = scorer.token_stats_many(items)
    out = []
    for (trained, start), st in zip(spans, stats):
        lp = st["logprob"].double().tolist() if start is not None else []
        out.append([0.0 if i == 0 else lp[i - start] for i in trained])
    del scorer
    return out


def residual_transfer(theta0: str, final: str, bottleneck: str, out_dir: str | Path) -> Path:
    """θ0 + (θ_final − θ_b), parameter by parameter in fp32, saved with θ0's config and θ_final's tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m0 = AutoModelForCausalLM.from_pretrained(theta0, dtype=torch.float32)
    sf = AutoModelForCausalLM.from_pretrained(final, dtype=torch.float32).state_dict()
    sb = AutoModelForCausalLM.from_pretrained(bottleneck, dtype=torch.float32).state_dict()
    with torch.no_grad():
        # parameters, not the state dict: a tied embedding / LM head is one tensor under two names, moved once
        for name, p in m0.named_parameters():
            p.add_(sf[name] - sb[name])
    out = Path(out_dir)
    m0.save_pretrained(out)
    AutoTokenizer.from_pretrained(final).save_pretrained(out)
    return out


def _student_spec(params, name: str, path: str):
    if params.student is not None:
        return params.model(params.student.model).model_copy(update={"name": name, "model": path})
    return ModelSpec(name=name, backend="transformers", model=path)


def train_items(lake, question_ids: list[str], limit: int | None) -> list[dict]:
    """The corpus's questions as evaluation items (item_id = question_id), the first `limit` by id."""
    qids = sorted(set(question_ids))
    if limit:
        qids = qids[:limit]
    if not lake.exists("questions"):
        raise T3sError("t3s measures training accuracy on the corpus's questions: the lake has no `questions` "
                       "table (run `ded ingest`, or point --lake at the lake the corpus was selected from)")
    want = set(qids)
    rows = [r for r in lake.read("questions").to_pylist() if r["question_id"] in want]
    missing = want - {r["question_id"] for r in rows}
    if missing:
        raise T3sError(f"{len(missing)} corpus questions are not in the lake's `questions` (e.g. "
                       f"{sorted(missing)[:2]}): run on the lake the corpus was selected from")
    return [{"item_id": r["question_id"], "problem": r["problem"], "answer": r.get("answer"),
             "tests": r.get("tests"), "domain": r.get("domain"), "starter_code": r.get("starter_code"),
             "entry_point": r.get("entry_point"), "metadata": r.get("metadata"), "choices": None}
            for r in sorted(rows, key=lambda r: r["question_id"])]


def train_accuracy(params, lake, model_path: str, name: str, items: list[dict], t3s, seed: int = 0) -> dict[str, Any]:
    """avg@n of `model_path` on the training items: `ded evaluate`'s plan, generation (resumed by fingerprint
    in eval_samples), grading and metrics, under benchmark `t3s-train` and the model name `name`."""
    # sampling from the t3s section, else the student's own (not `evaluate`'s: the sft stage does not depend on
    # it); seed: sft.seed. Only pass@k's ks and the intervals' level and resamples come from `evaluate` (the sft
    # stage declares those three keys); grade_workers only sets how many processes grade.
    ev = EvaluateParams(n=t3s.n, temperature=t3s.temperature, max_tokens=t3s.max_tokens, seed=seed,
                        ks=params.evaluate.ks, ci_level=params.evaluate.ci_level,
                        bootstrap=params.evaluate.bootstrap, grade_workers=params.evaluate.grade_workers)
    p = params.model_copy(update={"evaluate": ev})
    spec = _student_spec(params, name, model_path)
    plan = build_plan(p, spec, TRAIN_BENCHMARK, items)
    done = done_fingerprints(lake, "eval_samples", filter=run_filter(plan.run_id))
    todo = [r for r in plan.requests if r.key not in done]
    if todo:
        be = get_backend(spec)
        try:
            run_requests(be, todo, lake, "eval_samples", row_maker(plan), done=done, desc=f"t3s accuracy {name}")
        finally:
            be.close()
    grade_run(lake, plan, workers=ev.grade_workers)
    entry = run_entry(lake, plan, p)
    m = entry["metrics"]
    acc = m.get("avg_at_n")
    return {"accuracy": None if acc is None or math.isnan(acc) else float(acc), "ci": m.get("avg_at_n_ci"),
            "items": len(items), "n": t3s.n, "eval_run": plan.run_id, "samples": len(plan.requests),
            "generated": len(todo)}


# -- the stage ------------------------------------------------------------------------------------------------
def _corpus_ids(path: str) -> list[dict[str, str | None]]:
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.strip():
                row = json.loads(line)
                out.append({"trajectory_id": row.get("trajectory_id") or f"row-{i}",
                            "question_id": row.get("question_id")})
    return out


def _write_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _checkpoints(ckpt_root: Path) -> list[tuple[int, Path]]:
    found = []
    for d in ckpt_root.glob("*/checkpoint-*") if ckpt_root.exists() else []:
        try:
            found.append((int(d.name.split("-")[-1]), d))
        except ValueError:
            continue
    return sorted(found)


def pilot_curve(params, lake, sft, base: str, work: Path, items: list[dict]) -> tuple[dict[str, Any], dict]:
    """Pilot run (resumed by its own checkpoints) and the training accuracy of θ0 and of every checkpoint
    (curve.json rewritten after each, so a killed run keeps the measured points). Returns (curve.json's
    document, what this call spent: seconds of pilot SFT and of accuracy sampling, samples generated)."""
    # lazy: torch and transformers (ded.training.run imports ded.training.callbacks)
    from ded.training.run import train

    t3s = sft.t3s
    curve_path = work / "curve.json"
    doc = json.loads(curve_path.read_text()) if curve_path.exists() else {"points": []}
    t0 = time.perf_counter()
    this = {"pilot_seconds": 0.0, "accuracy_seconds": 0.0, "generated": 0}
    pilot_metrics = work / "pilot" / "metrics" / "train.json"
    if not pilot_metrics.exists():
        pilot = sft.model_copy(update={"objective": "plain", "keep_checkpoints": True})
        train(pilot, base, output_dir=str(work / "pilot" / "model"), metrics_dir=str(work / "pilot" / "metrics"),
              checkpoint_dir=str(work / "pilot" / "checkpoints"), desc="t3s pilot", checkpoints=t3s.checkpoints)
        this["pilot_seconds"] = round(time.perf_counter() - t0, 3)
    doc["pilot"] = {k: v for k, v in json.loads(pilot_metrics.read_text()).items() if k != "plan"}
    ckpts = _checkpoints(work / "pilot" / "checkpoints")
    if not ckpts:
        raise T3sError(f"the pilot run left no checkpoints under {work / 'pilot' / 'checkpoints'}")
    have = {pt["step"]: pt for pt in doc["points"]}
    t1 = time.perf_counter()
    key = work.name[:8]
    for step, path in [(0, Path(base)), *ckpts]:
        if step in have:
            continue
        acc = train_accuracy(params, lake, str(path), f"t3s:{key}:step-{step}", items, t3s, seed=sft.seed)
        have[step] = {"step": step, "checkpoint": str(path), **acc}
        this["generated"] += acc["generated"]
        doc["points"] = [have[s] for s in sorted(have)]
        _write_json(curve_path, doc)
    this["accuracy_seconds"] = round(time.perf_counter() - t1, 3)
    pts = [pt for pt in doc["points"] if pt["step"] > 0]
    b = bottleneck_index([pt["accuracy"] for pt in pts], t3s.smooth)
    # a flat curve (every checkpoint equally accurate, e.g. a student that solves nothing) has no bottleneck:
    # the earliest checkpoint is taken, and the result says so
    flat = len({pt["accuracy"] for pt in pts}) == 1
    if flat:
        log.warning("t3s: the pilot's training accuracy is flat at %s over %d checkpoints: there is no imitation "
                    "bottleneck to find; taking the earliest checkpoint (step %d). Raise t3s.n or t3s.questions, or "
                    "check that the student can solve some training questions", pts[0]["accuracy"], len(pts),
                    pts[0]["step"])
    doc["bottleneck"] = {"step": pts[b]["step"], "checkpoint": pts[b]["checkpoint"], "accuracy": pts[b]["accuracy"],
                         "smooth": t3s.smooth, "flat_curve": flat}
    doc["final_checkpoint"] = pts[-1]["checkpoint"]
    _write_json(curve_path, doc)
    return doc, this


def compute_masks(params, lake, sft, base: str, run_id: str, bottleneck: str) -> tuple[list, dict[str, Any]]:
    """Anchor masks of every corpus row (cached in the lake table `t3s_masks` under `run_id`)."""
    from transformers import AutoTokenizer


    t3s = sft.t3s
    ids = _corpus_ids(sft.corpus)
    if lake.exists(MASKS_TABLE):
        got = {r["trajectory_id"]: r for r in lake.read(MASKS_TABLE, columns=["trajectory_id", "mask"],
                                                        filter=f"run_id = '{run_id}'").to_pylist()}
        if got and all(r["trajectory_id"] in got for r in ids):
            return [got[r["trajectory_id"]]["mask"] for r in ids], {"cached": True}
    conversations = load_corpus(sft.corpus)
    tok = AutoTokenizer.from_pretrained(base)
    rows = trained_rows(sft, make_plan(sft, cuda=False), tok, conversations)
    t0 = time.perf_counter()
    c0 = token_confidences(base, rows, t3s)
    cb = token_confidences(bottleneck, rows, t3s)
    seconds = time.perf_counter() - t0
    at, out, masks = now(), [], []
    for r, (input_ids, labels), a, b in zip(ids, rows, c0, cb):
        ex = exempt_positions(tok, input_ids, labels, t3s.exempt_special, t3s.exempt_final)
        mask = anchor_mask(a, b, t3s.margin, ex)
        trained = [input_ids[i] for i, lab in enumerate(labels) if lab != -100]
        masks.append(mask)
        out.append({"run_id": run_id, "trajectory_id": r["trajectory_id"], "question_id": r["question_id"],
                    "n_tokens": len(mask), "n_anchors": int(sum(mask)), "mask": mask, "token_ids": trained,
                    "delta": [float(y - x) for x, y in zip(a, b)],
                    "anchor_tokens": [tok.decode([t]) for t, m in zip(trained, mask) if m],
                    "base_model": base, "bottleneck": bottleneck, "created_at": at})
    lake.merge(MASKS_TABLE, out)
    tokens = sum(len(m) for m in masks)
    return masks, {"cached": False, "seconds": round(seconds, 3), "forward_tokens": 2 * sum(len(i) for i, _ in rows),
                   "trained_tokens": tokens}


def run(params, sft, base: str, lake=None, output_dir: str | None = None, metrics_dir: str | None = None,
        checkpoint_dir: str | None = None, desc: str = "sft") -> dict[str, Any]:
    """The whole objective: pilot → bottleneck → (rrt: residual transfer | t3s: masks → final run)."""
    # lazy: torch and transformers (ded.training.run imports ded.training.callbacks)
    from ded.training.run import run_key, train

    if sft.objective not in ("t3s", "rrt"):
        raise T3sError(f"ded.training.t3s runs objectives t3s and rrt, not {sft.objective!r}")
    lake = lake or open_lake(params)
    t_all = time.perf_counter()
    output_dir = output_dir or sft.output_dir
    metrics_dir = Path(metrics_dir or sft.metrics_dir)
    # the pilot, the curve and the masks do not depend on the objective: t3s and rrt share them
    key = run_key(base, file_sha256(sft.corpus), sft.model_copy(update={"objective": "t3s"}))
    work = Path(sft.t3s.work_dir) / key
    items = train_items(lake, [r["question_id"] for r in _corpus_ids(sft.corpus) if r["question_id"]],
                        sft.t3s.questions)
    doc, this = pilot_curve(params, lake, sft, base, work, items)
    summary: dict[str, Any] = {"objective": sft.objective, "t3s_key": key, "work_dir": str(work),
                               "curve": [{k: pt.get(k) for k in ("step", "accuracy", "ci", "items", "n")}
                                         for pt in doc["points"]],
                               "bottleneck": doc["bottleneck"], "pilot_steps": doc["pilot"]["steps"],
                               "pilot_seconds": doc["pilot"]["seconds"],
                               "pilot_tokens": doc["pilot"]["tokens"],
                               "accuracy_samples": sum(pt.get("samples") or 0 for pt in doc["points"]),
                               # this call's own cost (a rerun, or rrt after t3s, reuses the cached steps)
                               "pilot_seconds_this_run": this["pilot_seconds"],
                               "accuracy_seconds_this_run": this["accuracy_seconds"],
                               "accuracy_samples_generated": this["generated"],
                               "source": "third-party summary of arXiv 2601.10348 (the paper's method section "
                                         "was not available): docs/training.md"}
    if sft.objective == "rrt":
        t0 = time.perf_counter()
        out = Path(output_dir)
        if out.exists():
            shutil.rmtree(out)
        residual_transfer(base, doc["final_checkpoint"], doc["bottleneck"]["checkpoint"], out)
        summary["rrt"] = {"theta0": base, "final": doc["final_checkpoint"], "bottleneck": doc["bottleneck"]["checkpoint"],
                          "seconds": round(time.perf_counter() - t0, 3)}
        metrics = {"base_model": base, "corpus": str(sft.corpus), "corpus_sha256": doc["pilot"]["corpus_sha256"],
                   "run_key": key + "-rrt", "steps": 0, "tokens": 0, "rows": doc["pilot"]["rows"],
                   "final_loss": None, "first_loss": None, "tokens_per_second": None,
                   "seconds": round(time.perf_counter() - t_all, 3)}
    else:
        masks, mstats = compute_masks(params, lake, sft, base, key, doc["bottleneck"]["checkpoint"])
        n_tok, n_anc = sum(len(m) for m in masks), sum(sum(m) for m in masks)
        summary["masks"] = {**mstats, "rows": len(masks), "tokens": n_tok, "anchors": int(n_anc),
                            "anchor_share": n_anc / n_tok if n_tok else None}
        metrics = train(sft, base, output_dir=output_dir, metrics_dir=str(metrics_dir), checkpoint_dir=checkpoint_dir,
                        desc=desc, loss_masks=masks)
        summary["final_seconds"] = metrics.get("seconds")
    summary["seconds"] = round(time.perf_counter() - t_all, 3)
    metrics = {**metrics, "t3s": summary}
    metrics_dir.mkdir(parents=True, exist_ok=True)
    _write_json(metrics_dir / "t3s.json", summary)
    _write_json(metrics_dir / "train.json", metrics)
    return metrics
