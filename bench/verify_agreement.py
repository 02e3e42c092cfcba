"""Bench: our math verdicts against the verdicts recorded with every shared panel of real responses.

Each panel is read the way `ded ingest` reads it (the file reader and the preset), so the gold is the
one our pipeline would store; each response is graded by `grade_many` (math-verify in worker
processes, one pool for all panels) and compared with the verdict recorded beside it (`score[]` of the
Qwen2.5-Math harness rows, `correctness` of the SkyThought tools dump). One JSON line per panel:
n, agree, agreement, and the disagreements by category (`ours_true`: we say correct, the recording
says wrong; `ours_false`: the reverse; each split by a rough reason: cut off, answer form, ...).
The recorded verdict is another verifier's judgement, a cross-check, not ground truth.

    python bench/verify_agreement.py [--gold preset|gt|answer] [--list] [--panel NAME]

`--gold gt|answer` overrides the preset's gold with that raw field where a record has it (to see what the
choice changes);
`--list` also prints every disagreement (panel, file, row id, sample, golds, ours, harness's pred).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds select.py, which shadows the stdlib `select` once `python bench/x.py` puts bench/ first
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import re
import time
from collections import Counter
from dataclasses import dataclass

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAJ = Path("trajectories")
SKY = TRAJ / "skythought_evals"

# panel → (files or globs relative to the data folder, preset)
PANELS: dict[str, tuple[tuple[str, ...], str]] = {
    "aime24": ((str(SKY / "aime24" / "*.jsonl.gz"),), "qwen-math-eval"),
    "aime24_ckpt_series": ((str(SKY / "aime24_ckpt_series" / "*.jsonl.gz"),), "qwen-math-eval"),
    "math_cot_8samples": ((str(TRAJ / "qwen25math_math_cot_100_8samples.jsonl"),), "qwen-math-eval"),
    "aime24_skythought_tools": ((str(SKY / "aime24" / "qwen2.5-32b-instruct-skythought-tools.json.gz"),), "generic"),
}


@dataclass
class Row:
    panel: str
    file: str  # the file's stem (the model's name)
    row: str  # the source's own row id (idx, or id for the tools dump)
    sample: int
    gold: str | None  # the gold we grade against
    gt: str | None  # the raw `gt` field, when the record has one (the harness's normal form)
    answer: str | None  # the raw `answer` field (the source's own)
    response: str
    recorded: bool | None  # the verdict recorded with the response
    pred: str | None  # the answer the recording extracted, when it says

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.panel, self.file, self.row, self.sample)


def _stem(p: Path) -> str:
    return re.sub(r"\.(jsonl|json)(\.gz)?$", "", p.name)


def load_panel(name: str, data: Path = DATA, gold: str = "preset") -> list[Row]:
    """Every response of panel `name`, read through the reader and preset `ded ingest` uses."""
    from ded.ingest.presets import Reject, get_preset
    from ded.ingest.readers import read_records

    patterns, preset_name = PANELS[name]
    preset = get_preset(preset_name)
    files = sorted(f for pat in patterns for f in data.glob(pat))
    rows: list[Row] = []
    for f in files:
        for rec in read_records(f):
            if rec.data is None:
                raise RuntimeError(f"{f}:{rec.line}: unreadable record ({rec.reason})")
            try:
                p = preset(rec.data, "trajectories")
            except Reject as e:
                raise RuntimeError(f"{f}:{rec.line}: the {preset_name} preset rejects it: {e}") from None
            raw_gt, raw_ans = rec.data.get("gt"), rec.data.get("answer")
            g = {"preset": p.answer, "gt": raw_gt, "answer": raw_ans}[gold]
            g = p.answer if g is None else g  # a file without that field: the preset's gold
            for t in p.trajectories:
                rows.append(Row(name, _stem(f), str(p.source_id), t.sample_idx or 0, None if g is None else str(g),
                                None if raw_gt is None else str(raw_gt), None if raw_ans is None else str(raw_ans),
                                t.response, t.correct, t.extracted))
    return rows


def grade(rows: list[Row], pool=None) -> list[dict]:
    from ded.verifiers import grade_many

    items = [{"domain": "math", "response": r.response, "answer": r.gold} for r in rows]
    return grade_many(items, show_progress=False, math_pool=pool)


_FORMS = (  # (category, pattern on the gold or our extracted answer): the first that matches names the form
    ("percent", r"\\?%"),
    ("degrees", r"\^\s*\{?\\circ|°"),
    ("currency", r"\\\$|\\text\{\s*dollars?"),
    ("text/units", r"\\(?:text|mbox|mathrm)\{"),
    ("approx", r"\\approx|≈"),
    ("letter choice", r"^\(?[A-Ea-e]\)?$|^\\text\{\(?[A-E]\)?\}$"),
    ("equation", r"="),
    ("interval/set", r"\\cup|\\infty|^[\[(].*[\])]$"),
    ("thousands separator", r"\d(?:\{,\}|,\\!)\d"),
    ("list", r","),
)


def category(r: Row, res: dict) -> str:
    side = "ours_true" if res["correct"] is True else ("ours_undecided" if res["correct"] is None else "ours_false")
    if res["status"] == "no_answer" and "cut off" in (res["detail"] or ""):
        return f"{side}:cut_off"
    if res["status"] == "no_answer":
        return f"{side}:no_answer"
    for cat, pat in _FORMS:
        if any(s and re.search(pat, s) for s in (r.gold, res["extracted"])):
            return f"{side}:{cat}"
    return f"{side}:other"


def summarize(name: str, rows: list[Row], res: list[dict]) -> tuple[dict, list[dict]]:
    cats: Counter = Counter()
    diffs = []
    agree = 0
    for r, v in zip(rows, res):
        ours = v["correct"] is True
        if ours == bool(r.recorded):
            agree += 1
            continue
        c = category(r, v)
        cats[c] += 1
        diffs.append({"key": list(r.key), "category": c, "gold": r.gold, "gt": r.gt, "answer": r.answer,
                      "ours": v["extracted"], "status": v["status"], "detail": v["detail"], "harness_pred": r.pred,
                      "recorded": r.recorded})
    n = len(rows)
    return ({"panel": name, "n": n, "agree": agree, "agreement": round(agree / n, 4) if n else None,
             "undecided": sum(v["correct"] is None for v in res), "disagreements": dict(sorted(cats.items()))}, diffs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gold", choices=("preset", "gt", "answer"), default="preset")
    ap.add_argument("--panel", action="append", choices=sorted(PANELS), help="only these panels (repeatable)")
    ap.add_argument("--list", action="store_true", help="also print each disagreement as a JSON line")
    ap.add_argument("--data", type=Path, default=DATA)
    a = ap.parse_args()
    if not (a.data / "README.md").exists():
        sys.exit(f"error: the shared data folder {a.data} is absent; pass --data DIR (it ships beside the repo in CI)")
    from ded.verifiers.math import MathPool

    with MathPool() as pool:
        for name in a.panel or PANELS:
            t = time.perf_counter()
            rows = load_panel(name, a.data, a.gold)
            res = grade(rows, pool)
            line, diffs = summarize(name, rows, res)
            print(json.dumps({**line, "gold": a.gold, "seconds": round(time.perf_counter() - t, 1)}), flush=True)
            if a.list:
                for d in diffs:
                    print(json.dumps(d), flush=True)


if __name__ == "__main__":
    main()
