"""GPQA-Diamond as multiple choice: options shuffled by a seed (the letter is read back by
`ded.verifiers.choice`).

The hub copy (`Idavidrein/gpqa`, config `gpqa_diamond`, split `train`, 198 rows) is gated, so nothing here
downloads it; `items_from_hub_rows` turns rows of its documented schema ("Question", "Correct Answer",
"Incorrect Answer 1..3", "Record ID", "High-level domain", "Subdomain") into `benchmark_items` rows.

Protocol, after OpenAI simple-evals (`gpqa_eval.py`): one permutation of the four options per item, the
query template below, and the last "Answer: X" line as the answer. Our permutation is drawn from a hash of
(seed, item_id), not from one RNG walked in file order, so an item's letters do not change when other items are
added, filtered or reordered.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence

from ded.ids import stable_hash
from ded.verifiers.choice import LETTERS

# simple-evals QUERY_TEMPLATE_MULTICHOICE (openai/simple-evals, common.py), verbatim but for the option layout
QUERY_TEMPLATE = (
    "Answer the following multiple choice question. The last line of your response should be of the following "
    "format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before "
    "answering.\n\n{question}\n\n{options}"
)

HUB_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


def items_from_hub_rows(rows: Iterable[Mapping], benchmark: str = "gpqa_diamond") -> list[dict]:
    """benchmark_items rows from GPQA rows in the hub schema. `choices` holds the correct answer first; the
    shuffle happens at evaluation time so the stored item does not depend on the seed."""
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in HUB_COLUMNS if c not in row]
        if missing:
            raise ValueError(
                f"GPQA row {i} lacks {missing}: expected the hub schema of Idavidrein/gpqa (gpqa_diamond.csv)"
            )
        choices = [_clean(row[c]) for c in HUB_COLUMNS[1:]]
        out.append({
            "benchmark": benchmark,
            "item_id": str(row.get("Record ID") or f"{benchmark}-{i}"),
            "problem": _clean(row["Question"]),
            "answer": choices[0],
            "choices": json.dumps(choices, ensure_ascii=False),
            "domain": "science",
            "tests": None,
            "metadata": json.dumps({k: row.get(k) for k in ("High-level domain", "Subdomain") if k in row}),
        })
    return out


def _clean(text) -> str:
    # the CSV has stray leading/trailing whitespace and newlines in options; simple-evals strips them too
    return str(text).strip()


def permutation(item_id: str, seed: int, n: int = 4) -> list[int]:
    """The order in which the item's options are shown: position j shows original option perm[j]."""
    rng = random.Random(int(stable_hash({"gpqa_shuffle": str(item_id), "seed": int(seed)})[:16], 16))
    perm = list(range(n))
    rng.shuffle(perm)
    return perm


def shuffled(item_id: str, choices: Sequence[str], answer: str, seed: int) -> tuple[list[str], str]:
    """(options in display order, letter of the correct one)."""
    if len(choices) != 4:
        raise ValueError(f"GPQA item {item_id} has {len(choices)} choices; expected 4")
    if answer not in choices:
        raise ValueError(f"GPQA item {item_id}: the answer is not among its choices; reload benchmark_items")
    perm = permutation(item_id, seed)
    opts = [choices[p] for p in perm]
    return opts, LETTERS[opts.index(answer)]


def format_question(problem: str, options: Sequence[str]) -> str:
    lines = "\n".join(f"{LETTERS[i]}) {o}" for i, o in enumerate(options))
    return QUERY_TEMPLATE.format(question=problem, options=lines)


