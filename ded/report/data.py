"""What the report shows, gathered from the lake with the SQL files of `sql/report/` and from metrics/*.json.

Each section is built independently; a section whose tables are not in the lake yet says which command
computes them ("not yet computed: run `ded score`") instead of failing the whole report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ded.lake import Lake
from ded.receipts import current_selection_run
from ded.report import svg
from ded.selectors.explain import require_run
from ded.sql import connect, run_sql_file

# Pass-rate columns of question_scores, by preference (the score stage owns the names; see docs/scoring.md).
TEACHER_RATE = ("teacher_pass_rate", "pass_rate", "model_pass_rate")
STUDENT_RATE = ("student_pass_rate",)


@dataclass
class Section:
    key: str
    title: str
    missing: str | None = None  # why the section is empty, naming the command that fills it
    text: str = ""
    charts: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReportData:
    title: str
    lake_root: str
    selection_run: str | None
    sections: list[Section]

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


def _missing(tables: list[str], command: str) -> str:
    noun = "table" if len(tables) == 1 else "tables"
    return f"not yet computed: run `ded {command}` (the lake has no {' or '.join(tables)} {noun})"


def _columns(q, table: str) -> list[str]:
    return [r["column_name"] for r in q("table_columns", table=table)]


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in columns), None)


SQL_DIR = "report/"  # every query of the report is a file under sql/report/


class _Queries:
    """`q("name", **params)` runs sql/report/name.sql and returns rows; `q.arrow(...)` returns Arrow."""

    def __init__(self, con, run_sql_file):
        self.con, self.run = con, run_sql_file

    def arrow(self, name: str, **params):
        return self.run(self.con, f"{SQL_DIR}{name}", **params)

    def __call__(self, name: str, **params) -> list[dict]:
        return self.arrow(name, **params).to_pylist()


def latest_selection_run(lake: Lake) -> str | None:
    """The run of the corpus on disk (receipts/select.json) when it is in this lake, else the run_id of
    the last row written to `selection` (runs are appended whole, one commit each)."""
    if not lake.exists("selection"):
        return None
    current = current_selection_run(lake)
    if current:
        return current
    t = lake.read("selection", columns=["run_id"])
    return t.column("run_id")[t.num_rows - 1].as_py() if t.num_rows else None


def gather(lake: Lake, params: Any = None, metrics_dir: str | Path | None = None,
           selection_run: str | None = None) -> ReportData:
    rp = getattr(params, "report", None)
    bins = getattr(rp, "bins", 20)
    metrics_dir = Path(metrics_dir or getattr(rp, "metrics_dir", None)
                       or getattr(getattr(params, "evaluate", None), "metrics_dir", None) or "metrics")
    asked = selection_run or getattr(rp, "selection_run", None)
    if asked:  # a run the user named must exist: a typo would otherwise report "no selection" and exit 0
        run = require_run(lake, asked, "--run" if selection_run else "report.selection_run")
    else:
        run = latest_selection_run(lake)
    con = connect(lake)
    has = set(lake.table_names())
    q = _Queries(con, run_sql_file)
    sections = [
        _overview(lake),
        _funnel(has, q, run),
        _leaderboard(has, q),
        _difficulty(has, q, run, bins),
        _lengths(has, q, run, bins),
        _pass_vs_selection(has, q, run),
        _mix(has, q, run),
        _evaluation(has, q, metrics_dir),
    ]
    # `sft.objective: t3s | rrt` writes its pilot curve next to the SFT metrics: the section appears with it
    t3s_doc = Path(getattr(getattr(params, "sft", None), "metrics_dir", None) or "metrics/sft") / "t3s.json"
    if t3s_doc.exists():
        sections.append(_t3s(has, q, t3s_doc))
    # the ablation is optional (its own dvc.yaml): its section appears once `ded ablate` has written its metrics
    ablation = Path(getattr(getattr(params, "ablate", None), "metrics", None) or "metrics/ablate.json")
    if ablation.exists():
        sections.append(_ablation(ablation))
    con.close()
    return ReportData(getattr(rp, "title", "ded corpus report"), lake.root, run, sections)


def _overview(lake: Lake) -> Section:
    s = Section("overview", "Lake tables", columns=["table", "rows", "version"])
    s.rows = [{"table": i.name, "rows": i.rows, "version": i.version} for i in lake.tables()]
    if not s.rows:
        s.missing = "the lake is empty: run `ded ingest` (or `ded demo`)"
    return s


def filter_order(q, run) -> list[str]:
    """Step names in recipe order from reasons.filters (an ordered JSON object), [] when not recorded."""
    rows = q("selection_filter_order", run_id=run)
    try:
        filters = json.loads(rows[0]["reasons"]).get("filters") if rows else None
    except (json.JSONDecodeError, AttributeError):
        return []
    return list(filters) if isinstance(filters, dict) else []


def _funnel(has, q, run) -> Section:
    s = Section("funnel", "Selection funnel", columns=["recipe", "step", "dropped", "remaining", "share dropped"])
    if "selection" not in has:
        s.missing = _missing(["selection"], "select")
        return s
    rows = q("selection_funnel", run_id=run)
    order = filter_order(q, run)
    pos = lambda step: (step == "kept", order.index(step) if step in order else len(order))
    s.text = (f"Selection run `{run}`: candidates left after each filter, in the order the recipe applies them "
              "(a row counts against the first filter that dropped it).")
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        rr = sorted((r for r in rows if r["recipe"] == recipe), key=lambda r: pos(r["step"]))
        total = rr[0]["candidates"]
        labels, values, notes, left = ["candidates"], [total], [f"{total:,}"], total
        for r in rr:
            if r["step"] == "kept":
                continue
            left -= r["rows"]
            labels.append(f"after {r['step']}")
            values.append(left)
            notes.append(f"{left:,} (−{r['rows']:,})")
            s.rows.append({"recipe": recipe, "step": r["step"], "dropped": r["rows"], "remaining": left,
                           "share dropped": f"{r['share']:.1%}"})
        kept = sum(r["rows"] for r in rr if r["step"] == "kept")
        s.rows.append({"recipe": recipe, "step": "kept", "dropped": None, "remaining": kept,
                       "share dropped": f"kept {kept / total:.1%}"})
        colors = [svg.PALETTE[4]] + [svg.PALETTE[0]] * (len(values) - 2) + [svg.PALETTE[2]]
        s.charts.append(svg.hbar(labels, values, title=f"Selection funnel: {recipe}", xlabel="trajectories",
                                 colors=colors[: len(values)], annotations=notes))
    return s


def _leaderboard(has, q) -> Section:
    s = Section("leaderboard", "Teacher leaderboard")
    if "model_scores" not in has:
        s.missing = _missing(["model_scores"], "score")
        return s
    rows = q("teacher_leaderboard")
    if not rows:
        s.missing = "not yet computed: run `ded score` (model_scores has no domain='all', band='all' rows)"
        return s
    for r in rows:  # the student is scored like any model; say which row it is
        if "is_student" in r:
            r["role"] = "student" if r.pop("is_student") else "teacher"
    cols = [c for c in rows[0] if c not in ("domain", "band") and any(r[c] is not None for r in rows)]
    if "role" in cols:
        cols.insert(1, cols.pop(cols.index("role")))
    metric = _pick(cols, ("smoke_score", "accuracy", "pass_rate", "acc"))
    if metric:
        rows = sorted(rows, key=lambda r: -(r[metric] if r[metric] is not None else -1))
        s.text = f"Ranked by {metric}" + (" (the teacher smoke tests)" if metric == "smoke_score" else "") + "."
        s.charts.append(svg.hbar([r["model"] for r in rows], [r[metric] or 0 for r in rows],
                                 title=f"Models by {metric}", xlabel=metric,
                                 colors=[svg.PALETTE[1] if r.get("role") == "student" else svg.PALETTE[0]
                                         for r in rows]))
    s.columns, s.rows = cols, rows
    return s


def _rate_histogram(rows, col, bins, group_key, title, xlabel, series_names=None) -> str:
    groups = series_names or sorted({r[group_key] for r in rows})
    edges = None
    series = {}
    for g in groups:
        e, counts = svg.histogram_bins([r[col] for r in rows if r[group_key] == g], bins=bins, lo=0.0, hi=1.0)
        edges, series[str(g)] = e, counts
    return svg.histogram(edges, series, title=title, xlabel=xlabel, ylabel="questions")


def _difficulty(has, q, run, bins) -> Section:
    s = Section("difficulty", "Difficulty")
    if "question_scores" not in has:
        s.missing = _missing(["question_scores"], "score")
        return s
    rows = q("question_scores_selected", run_id=run)
    col = _pick(list(rows[0]) if rows else [], TEACHER_RATE)
    if not col:
        s.missing = f"not yet computed: run `ded score` (question_scores has none of {', '.join(TEACHER_RATE)})"
        return s
    rows = [r for r in rows if r[col] is not None]
    s.text = f"Distribution of `{col}` over {len(rows):,} questions (0 = no teacher solves it), by domain."
    s.charts.append(_rate_histogram(rows, col, bins, "q_domain", "Question difficulty", col))
    return s


def _lengths(has, q, run, bins) -> Section:
    s = Section("lengths", "Trajectory lengths")
    if "trajectories" not in has:
        s.missing = _missing(["trajectories"], "ingest` or `ded generate")
        return s
    import numpy as np

    scored = "trajectory_scores" in has and "n_tokens" in _columns(q, "trajectory_scores")
    # Arrow columns, not Python rows: a million trajectories stay a few MB here
    t = q.arrow("trajectory_lengths_scored" if scored else "trajectory_lengths", run_id=run)
    tokens = t.column("n_tokens")
    key, unit = ("n_tokens", "tokens") if tokens.null_count <= len(tokens) / 2 else ("n_chars", "characters")
    col = t.column(key)
    ok = np.asarray(col.is_valid())
    vals = np.asarray(col.fill_null(0), dtype=float)[ok]
    kept_mask = np.asarray(t.column("kept").fill_null(False))[ok]
    if not vals.size:
        s.missing = "no trajectory has a length yet: run `ded verify` (it counts tokens)"
        return s
    edges = np.linspace(0, svg.nice_upper(0, float(vals.max()), bins), bins + 1)
    dropped = np.histogram(vals[~kept_mask], edges)[0].tolist()
    kept = np.histogram(vals[kept_mask], edges)[0].tolist()
    edges = edges.tolist()
    series = {"not selected": dropped, "selected": kept} if run else {"all trajectories": dropped}
    s.text = (f"{vals.size:,} trajectories; median {np.median(vals):,.0f} {unit}, "
              f"max {vals.max():,.0f}" + (f"; {int(kept_mask.sum()):,} selected" if run else "") + ".")
    s.charts.append(svg.histogram(edges, series, title="Trajectory length", xlabel=unit, ylabel="trajectories"))
    return s


def _pass_vs_selection(has, q, run) -> Section:
    s = Section("pass_vs_selection", "Pass rate against selection")
    need = [t for t in ("question_scores", "selection") if t not in has]
    if need:
        s.missing = _missing(need, "score` and `ded select" if len(need) == 2 else
                             ("score" if need == ["question_scores"] else "select"))
        return s
    rows = [r for r in q("question_scores_selected", run_id=run) if r["considered"]]
    cols = list(rows[0]) if rows else []
    col = _pick(cols, STUDENT_RATE) or _pick(cols, TEACHER_RATE)
    if not col:
        s.missing = "not yet computed: run `ded score` (question_scores has no pass-rate column)"
        return s
    rows = [{**r, "group": "selected" if r["selected"] else "not selected"} for r in rows if r[col] is not None]
    s.text = (f"`{col}` of the {len(rows):,} questions the selection considered, split by whether any of their "
              "trajectories was kept (DED drops questions the student already solves).")
    s.charts.append(_rate_histogram(rows, col, 10, "group", "Pass rate of selected and dropped questions", col,
                                    ["not selected", "selected"]))
    s.columns = ["group", "questions", f"mean {col}"]
    for g in ("selected", "not selected"):
        v = [r[col] for r in rows if r["group"] == g]
        s.rows.append({"group": g, "questions": len(v), f"mean {col}": round(sum(v) / len(v), 4) if v else None})
    return s


def _mix(has, q, run) -> Section:
    s = Section("mix", "Corpus mix", columns=["domain", "source", "model", "license", "trajectories", "questions"])
    if "selection" not in has:
        s.missing = _missing(["selection"], "select")
        return s
    s.rows = q("corpus_mix", run_id=run)
    by_domain: dict[str, int] = {}
    for r in s.rows:
        by_domain[r["domain"]] = by_domain.get(r["domain"], 0) + r["trajectories"]
    total = sum(by_domain.values())
    if not total:
        s.missing = f"selection run `{run}` kept nothing"
        return s
    s.text = "Kept trajectories: " + ", ".join(f"{d} {n:,} ({n / total:.0%})" for d, n in by_domain.items()) + "."
    doms = sorted(by_domain, key=lambda d: -by_domain[d])
    s.charts.append(svg.hbar(doms, [by_domain[d] for d in doms], title="Math/code mix of the corpus",
                             xlabel="kept trajectories", colors=[svg.PALETTE[i % 8] for i in range(len(doms))],
                             annotations=[f"{by_domain[d]:,} ({by_domain[d] / total:.0%})" for d in doms]))
    return s


def read_metrics(metrics_dir: Path) -> list[dict]:
    """One row per (benchmark, model) from metrics/<benchmark>.json files written by `ded evaluate`."""
    rows = []
    for p in sorted(Path(metrics_dir).glob("*.json")) if Path(metrics_dir).is_dir() else []:
        try:
            doc = json.loads(p.read_text())
        except json.JSONDecodeError:
            continue
        for model, m in (doc.get("models") or {}).items():
            rows.append({"benchmark": doc.get("benchmark", p.stem), "model": model, **m})
    return rows


def _notes(r: dict) -> list[str]:
    """A result's caveats, with its per-difficulty scores first (LiveCodeBench reports easy/medium/hard)."""
    by = r.get("by_difficulty") or {}
    split = [f"{d} {v['avg_at_n']:.3f} ({v['items']})" for d, v in by.items() if v.get("avg_at_n") is not None]
    return (["by difficulty: " + ", ".join(split)] if split else []) + list(r.get("notes") or [])


def _evaluation(has, q, metrics_dir: Path) -> Section:
    s = Section("evaluation", "Evaluation",
                columns=["benchmark", "model", "items", "n", "avg@n", "95% CI", "pass@k", "note"])
    mrows = read_metrics(metrics_dir)
    if not mrows and "eval_samples" not in has:
        s.missing = _missing(["eval_samples"], "evaluate")
        return s
    if mrows:
        for r in mrows:
            m = r["metrics"]
            lo, hi = m.get("avg_at_n_ci") or (None, None)
            lo, hi = (None, None) if lo is None or hi is None or math.isnan(lo) else (lo, hi)
            ks = m.get("pass_at_k") or {}
            top = max(ks, key=int) if ks else None
            avg = m.get("avg_at_n")
            s.rows.append({
                "benchmark": r["benchmark"], "model": r["model"], "items": m["items"], "n": m["samples_per_item"],
                "avg@n": round(avg, 4) if avg is not None else None,
                "95% CI": f"[{lo:.3f}, {hi:.3f}]" if lo is not None else "–",
                "pass@k": f"pass@{top} {ks[top]:.3f}" if top else "–", "note": "; ".join(_notes(r)),
                "_lo": lo, "_hi": hi,
            })
        s.text = (f"avg@n with a {mrows[0]['metrics'].get('ci_level', 0.95):.0%} bootstrap interval over items "
                  "(resampling items, not samples).")
        s.columns[5] = f"{mrows[0]['metrics'].get('ci_level', 0.95):.0%} CI"
        for r in s.rows:
            r[s.columns[5]] = r.pop("95% CI")
    else:
        for r in q("eval_results"):
            s.rows.append({"benchmark": r["benchmark"], "model": r["model"], "items": r["items"],
                           "n": round(r["samples"] / max(r["items"], 1), 1), "avg@n": round(r["avg_at_n"] or 0, 4),
                           "95% CI": "run `ded evaluate` to write intervals", "pass@k": "–", "note": "",
                           "_lo": None, "_hi": None})
        s.text = "From eval_samples (no <benchmark>.json in the metrics folder: intervals come with `ded evaluate`)."
    labels = [f"{r['benchmark']} · {r['model']}" for r in s.rows]
    s.charts.append(svg.hbar(labels, [r["avg@n"] or 0 for r in s.rows], title="Evaluation: avg@n", xlabel="avg@n",
                             lo=[r["_lo"] for r in s.rows], hi=[r["_hi"] for r in s.rows], xmax=1.0,
                             annotations=["–" if r["avg@n"] is None else f"{r['avg@n']:.3f}" for r in s.rows]))
    return s


def _ablation(path: Path) -> Section:
    """`ded ablate`'s comparisons (metrics/ablate.json): each recipe minus random at the same budget and seeds."""
    s = Section("ablation", "Ablation: recipes against random",
                columns=["recipe", "vs", "budget", "benchmark", "diff", "CI", "seeds", "items"])
    doc = json.loads(path.read_text())
    level = doc.get("ci_level", 0.95)
    s.columns[5] = f"{level:.0%} CI"
    for c in doc.get("comparisons") or []:
        s.rows.append({"recipe": c["recipe"], "vs": c["vs"], "budget": c["budget"], "benchmark": c["benchmark"],
                       "diff": round(c["diff"], 4), s.columns[5]: f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}]",
                       "seeds": len(c.get("seeds") or []), "items": c.get("items")})
    arms = doc.get("arms") or []
    s.text = (f"{len({a['arm'] for a in arms})} arms. Paired bootstrap over benchmark items of the seed-averaged "
              f"per-item difference (docs/ablation.md); an interval above 0 means the recipe's corpus trained the "
              f"student better than {doc.get('baseline', 'random')}'s of the same size.")
    if doc.get("curves"):
        s.charts.append(svg.ablation_svg(doc))
    return s


def _t3s(has, q, path: Path) -> Section:
    """`sft.objective: t3s | rrt` (metrics/sft/t3s.json): the pilot's training accuracy per checkpoint (the
    "imitation shock"), the bottleneck, and the anchors by teacher and by token (t3s_masks)."""
    doc = json.loads(path.read_text())
    s = Section("t3s", "T3S: the pilot run's imitation shock and the anchor tokens",
                columns=["model", "trajectories", "trained_tokens", "anchors", "anchor_share"])
    curve = [pt for pt in doc.get("curve") or [] if pt.get("accuracy") is not None]
    b = doc.get("bottleneck") or {}
    if curve:
        pts = [(pt["step"], pt["accuracy"], *((pt.get("ci") or [pt["accuracy"]] * 2)[:2])) for pt in curve]
        pts = [(x, y, y if lo is None else lo, y if hi is None else hi) for x, y, lo, hi in pts]
        s.charts.append(svg.band_lines({"training accuracy": pts}, title="Pilot run: training-set accuracy per "
                                       "checkpoint (step 0 = the base model)", xlabel="optimizer step",
                                       ylabel="avg@n on the training questions"))
    m = doc.get("masks") or {}
    share = m.get("anchor_share")
    s.text = (f"Objective `{doc.get('objective')}`. Pilot: plain SFT for {doc.get('pilot_steps')} steps; bottleneck at "
              f"step {b.get('step')} (training accuracy {b.get('accuracy')}, smoothing window {b.get('smooth')})"
              + ("; the curve is flat, so there is no bottleneck and the earliest checkpoint was taken. "
                 if b.get("flat_curve") else ". ")
              + (f"Anchors: {m.get('anchors'):,} of {m.get('tokens'):,} trained tokens "
                 f"({share:.1%}) left out of the final run's loss. " if share is not None else "")
              + "Formulas from a third-party summary of arXiv 2601.10348 (docs/training.md).")
    key = doc.get("t3s_key")
    if "t3s_masks" in has and key and doc.get("objective") == "t3s":
        s.rows = q("t3s_anchor_share", run_id=key)
        tokens = q("t3s_anchor_tokens", run_id=key)
        if tokens:
            s.charts.append(svg.hbar([repr(t["token"]) for t in tokens], [t["share"] for t in tokens],
                                     title="Most frequent anchor tokens (share of all anchors)", xlabel="share"))
    return s
