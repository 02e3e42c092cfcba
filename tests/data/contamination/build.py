"""Build and read the labelled contamination set (issue 19): `rephrased.jsonl` next to this file.

    python tests/data/contamination/build.py            # rewrite rephrased.jsonl (needs ../shared/data + MiniLM)
    from build import load_set; rows = load_set(shared_data)   # rows with every text filled in

Rows: {id, kind, benchmark, benchmark_id, text, label, derive}. Kinds and labels:
- verbatim, reworded, story, words, translated: label `contaminated` (the same problem);
- renumbered: label `near_duplicate` (the numbers changed: a different answer, a benchmark-shaped problem);
- negative: label `clean` (a different problem of the same topic and stock phrasing, from MATH train, AMC
  2022-2023, or for code items LiveCodeBench before 2024-08).
Hand-written texts (reworded, story, translated: handwritten.py) are stored in the file. Texts derived from
../shared/data (verbatim reformatting, numbers as words, renumbering, the negatives themselves) are not
copied into the repository (PREAMBLE: the shared data stays there): they have `text: null` and a `derive`
recipe, and `load_set` rebuilds them deterministically with the functions below.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SET = HERE / "rephrased.jsonl"
REPO = HERE.parents[2]
BENCH_FILES = {"aime24": "aime24/qwen25math_aime24_test.jsonl", "aime25": "aime25/qwq_aime25.jsonl",
               "math500": "math500/math500_test.jsonl", "lcb": "lcb/lcb_v5_test_2408_2501_joined.jsonl"}
KEPT = ("verbatim", "reworded", "story", "words", "translated")
NEG_PER_ITEM = 6

# ---------------------------------------------------------------- programmatic rewrites (deterministic)


def reformat(text: str, code: bool = False) -> str:
    """Other whitespace and LaTeX layout: what a second copy of a benchmark problem often looks like."""
    t = text
    if not code:
        t = t.replace("\\frac", "\\dfrac").replace("\\le ", "\\leq ").replace("\\ge ", "\\geq ")
        t = re.sub(r"\^(\d)", r"^{\1}", t)
        t = re.sub(r"\$\$?([^$]+)\$\$?", lambda m: "\\(" + m.group(1).strip() + "\\)", t)
    t = re.sub(r"[ \t]+", "  ", t).replace(". ", ".\n")
    return "Problem:\n" + t.strip() + "\n\nPlease reason step by step, and put your final answer within \\boxed{}."


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen " \
        "seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def say(n: int) -> str:
    """English words for 0 <= n < 10**12 ('one hundred seven', 'twenty-four', 'six million')."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else "")
    if n < 1000:
        return _ONES[n // 100] + " hundred" + (" " + say(n % 100) if n % 100 else "")
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return say(n // size) + " " + name + (" " + say(n % size) if n % size else "")
    raise AssertionError(n)


# a standalone integer: not an exponent, subscript, part of a decimal, a name (x1) or a LaTeX argument {7}
_STANDALONE = re.compile(r"(?<![\w^_.{\\])(\d{1,3}(?:,\d{3})+|\d+)(?![\w}]|\.\d)")


def number_words(text: str) -> str:
    return _STANDALONE.sub(lambda m: say(int(m.group(1).replace(",", ""))) if int(m.group(1).replace(",", "")) < 10**12
                           else m.group(1), text)


def renumber(text: str) -> str:
    """Every integer n becomes n + 1 + (n mod 3): each number changes, the wording and layout stay."""
    return re.sub(r"\d+", lambda m: str(int(m.group()) + 1 + int(m.group()) % 3), text)


# ---------------------------------------------------------------- reading the shared data

def _rows(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.open() if x.strip()] if p.suffix == ".jsonl" else json.loads(p.read_text())


def benchmark_texts(data: Path) -> dict[tuple[str, str], str]:
    """{(benchmark, item_id): problem} as the shared loader (ded.benchmarks) reads these files."""
    sys.path.insert(0, str(REPO))
    from ded.benchmarks import read_items

    out = {}
    for name, rel in BENCH_FILES.items():
        spec = {"path_or_hub": str(data / rel), "domain": "code" if name == "lcb" else "math"}
        for it in read_items(name, spec):
            out[(name, it["item_id"])] = it["problem"]
    return out


def pool_texts(data: Path) -> dict[str, str]:
    """{ref: problem} of the negatives' pools: math_train:i, amc:i, lcb_train:question_id."""
    out = {f"math_train:{i}": r["problem"] for i, r in enumerate(_rows(data / "math_pool/rllm_math_train.json"))}
    out.update({f"amc:{i}": r["problem"] for i, r in enumerate(_rows(data / "math_pool/rllm_amc_2022_2023.json"))})
    out.update({f"lcb_train:{r['question_id']}": r["question_content"]
                for r in _rows(data / "lcb/lcb_v5_train_pre2408_joined.jsonl")})
    return out


def materialize(row: dict, bench: dict, pool: dict) -> str:
    d = row.get("derive")
    if d is None:
        return row["text"]
    if d["from"] == "benchmark":
        src = bench[(row["benchmark"], row["benchmark_id"])]
        return {"reformat": lambda t: reformat(t, code=row["benchmark"] == "lcb"), "number_words": number_words,
                "renumber": renumber}[d["rule"]](src)
    return pool[d["from"]]


def load_set(data: Path, path: Path = SET) -> list[dict]:
    """Every row of the set with its text (derived rows rebuilt from `data`, ../shared/data)."""
    bench, pool = benchmark_texts(data), pool_texts(data)
    rows = [json.loads(x) for x in path.open() if x.strip()]
    for r in rows:
        r["text"] = materialize(r, bench, pool)
    return rows


# ---------------------------------------------------------------- scoring a detector on the set


def half(benchmark: str, item_id: str) -> str:
    """"A" or "B": a fixed split of the items by hash, so that a change to the detector can be fitted on one
    half's rows and checked on the other's (docs/embeddings.md reports both)."""
    sys.path.insert(0, str(REPO))
    from ded.ids import stable_hash

    return "AB"[int(stable_hash([benchmark, item_id]), 16) % 2]


def score_set(rows: list[dict], bench: dict, lake_dir: Path, encoder=None, **decontam_kw) -> dict:
    """Run `ded.decontam.decontaminate` on a lake of the set's texts (questions, ids = row ids) against every
    item of the four panels, and score it: per kind, the share of rows whose own item got the row's label
    (kind `contaminated`, or `near_duplicate` for renumbered rows), by method; the negatives flagged
    `contaminated` (against any item) and `near_duplicate`; the whole table's rows (`hits`)."""
    sys.path.insert(0, str(REPO))
    from ded.decontam import decontaminate
    from ded.embeddings.store import embed_into, question_items
    from ded.lake import Lake

    lake = Lake(lake_dir)
    if not lake.exists("questions"):
        lake.merge("questions", [{"question_id": r["id"], "problem": r["text"], "source": "labelled"} for r in rows])
        lake.merge("benchmark_items", [{"benchmark": b, "item_id": i, "problem": t,
                                        "domain": "code" if b == "lcb" else "math"} for (b, i), t in bench.items()])
    if encoder is not None:
        embed_into(lake, "question_vectors", question_items(lake), encoder)
    stats = decontaminate(lake, encoder=encoder, **decontam_kw)
    hits: dict[str, dict] = {}
    for h in lake.read("contamination").to_pylist():
        hits.setdefault(h["question_id"], {})[(h["benchmark"], h["item_id"])] = h
    kinds: dict[str, dict] = {}
    neg_flags = []
    for r in rows:
        k = kinds.setdefault(r["kind"], {"rows": 0, "caught": 0, "by_method": {}})
        k["rows"] += 1
        mine = hits.get(r["id"], {})
        if r["kind"] == "negative":
            for (b, i), h in mine.items():
                neg_flags.append({"id": r["id"], "benchmark": b, "item_id": i, "kind": h["kind"],
                                  "method": h["method"]})
            continue
        h = mine.get((r["benchmark"], r["benchmark_id"]))
        hk = k.setdefault("halves", {}).setdefault(half(r["benchmark"], r["benchmark_id"]), [0, 0])
        hk[1] += 1
        if h and h["kind"] == r["label"]:
            hk[0] += 1
            k["caught"] += 1
            k["by_method"][h["method"]] = k["by_method"].get(h["method"], 0) + 1
    for k in kinds.values():
        k["recall"] = round(k["caught"] / k["rows"], 4) if k["rows"] else None
        k["recall_by_half"] = {h: round(c / n, 4) for h, (c, n) in sorted(k.pop("halves", {}).items())}
    neg = kinds.get("negative", {"rows": 0})
    return {"kinds": kinds, "negatives": neg["rows"],
            "negatives_contaminated": sorted({f["id"] for f in neg_flags if f["kind"] == "contaminated"}),
            "negatives_near_duplicate": sorted({f["id"] for f in neg_flags if f["kind"] == "near_duplicate"}),
            "negative_flags": neg_flags, "stats": stats, "lake": lake}


# ---------------------------------------------------------------- building the file


def _negatives(keys: list[tuple[str, str]], bench: dict, pool: dict) -> dict[tuple[str, str], list[str]]:
    """Per item, NEG_PER_ITEM hard negatives: the pool problems nearest to it (token overlap, then MiniLM
    cosine), skipping any that is the same problem or a renumbered copy of it (same numbers, or the same
    number-masked math shape, or cosine >= 0.9) and any already taken by another item."""
    import numpy as np

    from ded.decontam.content import compare, content
    from ded.dedup.canonical import canonical_tokens
    from ded.embeddings import load_encoder
    from ded.embeddings.chunking import question_text

    refs = sorted(pool)
    toks = {r: set(canonical_tokens(pool[r])) for r in refs}
    shortlist = {}
    for k in keys:
        code = k[0] == "lcb"
        it = set(canonical_tokens(bench[k]))
        cands = [r for r in refs if r.startswith("lcb_train:") == code]
        cands.sort(key=lambda r: (-len(it & toks[r]) / (len(it | toks[r]) or 1), r))
        shortlist[k] = cands[:40]
    enc = load_encoder("sentence-transformers/all-MiniLM-L6-v2", "cpu")
    uniq = sorted({r for v in shortlist.values() for r in v})
    vec = dict(zip(uniq, enc.encode([question_text(pool[r]) for r in uniq])))
    ivec = dict(zip(keys, enc.encode([question_text(bench[k]) for k in keys])))
    taken, out = set(), {}
    for k in keys:
        ci = content(bench[k])
        scored = sorted(((float(np.dot(ivec[k], vec[r])), r) for r in shortlist[k]), reverse=True)
        picks = []
        for cos, r in scored:
            s = compare(ci, content(pool[r]))
            if r in taken or cos >= 0.9 or s["numbers"] >= 0.8 or s["shape"] >= 0.6:
                continue
            picks.append(r)
            taken.add(r)
            if len(picks) == NEG_PER_ITEM:
                break
        out[k] = picks
    return out


def build(data: Path) -> list[dict]:
    sys.path.insert(0, str(HERE))
    from handwritten import HAND

    bench, pool = benchmark_texts(data), pool_texts(data)
    missing = [k for k in HAND if k not in bench]
    if missing:
        raise SystemExit(f"hand-written rewrites name items the loader does not give: {missing}")
    rows = []

    def add(kind: str, key: tuple[str, str], label: str, text: str | None = None, derive: dict | None = None):
        rows.append({"id": f"{key[0]}/{key[1]}/{kind}/{sum(r['kind'] == kind and r['benchmark_id'] == key[1] for r in rows)}",
                     "kind": kind, "benchmark": key[0], "benchmark_id": key[1], "text": text, "label": label,
                     "derive": derive})

    keys = list(HAND)
    negs = _negatives(keys, bench, pool)
    for key in keys:
        add("verbatim", key, "contaminated", derive={"from": "benchmark", "rule": "reformat"})
        for kind in ("reworded", "story", "translated"):
            add(kind, key, "contaminated", text=HAND[key][kind])
        if number_words(bench[key]) != bench[key]:  # an item with no standalone number has no words variant
            add("words", key, "contaminated", derive={"from": "benchmark", "rule": "number_words"})
        add("renumbered", key, "near_duplicate", derive={"from": "benchmark", "rule": "renumber"})
        for ref in negs[key]:
            add("negative", key, "clean", derive={"from": ref})
    return rows


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data"
    rows = build(data)
    bench, pool = benchmark_texts(data), pool_texts(data)
    for r in rows:  # every derived row must differ from its source where a rewrite was asked for
        if r["kind"] in ("words", "renumbered") and materialize(r, bench, pool) == bench[(r["benchmark"], r["benchmark_id"])]:
            print(f"warning: {r['id']} is unchanged by {r['derive']['rule']} (no standalone number)")
    SET.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    kinds = {}
    for r in rows:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    print(f"{SET}: {len(rows)} rows {kinds}")


if __name__ == "__main__":
    main()
