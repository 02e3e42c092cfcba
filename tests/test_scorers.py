"""ded/scorers: Levenshtein distances, farthest-P, k-center, LIMO rule score, entropy and RSR."""

from __future__ import annotations

import ast
import gzip
import json
import math
import random

import numpy as np
import polars as pl
import pytest

from ded.scorers.diversity import farthest_p, kcenter
from ded.scorers.levenshtein import (
    distance_matrix,
    exact_distance,
    farthest_p_texts,
    token_distance,
    tokenize,
)
from ded.scorers.limo import limo_features, limo_score
from ded.scorers.student import StudentScorer, summarize, token_stats


# -- Levenshtein ----------------------------------------------------------------------------
def test_token_distance_counts_word_edits():
    assert token_distance("a b c d", "a b c d") == 0.0
    assert token_distance("a b c d", "a x c d") == pytest.approx(1 / 4)  # one substitution in 4 tokens
    assert token_distance("a b c d", "a b c d e f g h") == pytest.approx(4 / 8)  # 4 insertions / longer length
    assert token_distance("", "") == 0.0
    assert token_distance("x", "") == 1.0


def test_tokenize_is_deterministic_and_splits_on_whitespace():
    v: dict[str, int] = {}
    assert tokenize("\\frac{1}{2} = 0.5", v) == tokenize("\\frac{1}{2} = 0.5", v) == [0, 1, 2]
    assert len(tokenize("a  b\n\tc", {})) == 3
    assert tokenize("a b c d", {}, max_tokens=2) == [0, 1]


def test_distance_matrix_symmetric_and_threaded_equal():
    texts = ["the cat sat on the mat", "the cat sat on a mat", "completely different words here", None]
    m1 = distance_matrix(texts, workers=1)
    m2 = distance_matrix(texts, workers=2)
    assert np.allclose(m1, m1.T) and np.allclose(np.diag(m1), 0)
    assert np.allclose(m1, m2)
    assert m1[0, 1] == pytest.approx(1 / 6)
    assert m1[0, 3] == 1.0  # empty vs non-empty


def _real_pairs(shared_data, n_cross=100, n_same=100, cap=20_000):
    files = sorted((shared_data / "trajectories/skythought_evals/aime24").glob("*.jsonl.gz"))
    by_q: dict[str, list[str]] = {}
    for f in files:
        for line in gzip.open(f, "rt"):
            d = json.loads(line)
            code = d["code"] if isinstance(d["code"], list) else ast.literal_eval(d["code"])
            by_q.setdefault(str(d["idx"]), []).append(code[0][:cap])
    rng = random.Random(0)
    qs = sorted(by_q)
    pairs = []
    for _ in range(n_cross):  # different models, same AIME question
        q = rng.choice(qs)
        i, j = rng.sample(range(len(by_q[q])), 2)
        pairs.append((by_q[q][i], by_q[q][j]))
    rows = [json.loads(x) for x in open(shared_data / "trajectories/qwen25math_math_cot_100_8samples.jsonl")]
    for _ in range(n_same):  # same model, same question, different samples
        c = rng.choice(rows)["code"]
        i, j = rng.sample(range(len(c)), 2)
        pairs.append((c[i], c[j]))
    return pairs


def test_token_distance_ranks_real_pairs_like_exact(shared_data):
    from scipy.stats import spearmanr

    pairs = _real_pairs(shared_data)
    assert len(pairs) == 200
    exact = [exact_distance(a, b) for a, b in pairs]
    ours = [token_distance(a, b) for a, b in pairs]
    rho = spearmanr(exact, ours).correlation
    assert rho >= 0.9, rho  # measured 0.990 on these 200 pairs (texts cut at 20k chars for the exact side's cost)


# -- farthest-P and k-center -----------------------------------------------------------------
def test_farthest_p_picks_planted_distinct_points():
    # 6 near-copies of one text and 3 planted distinct ones: P=4 must take the 3 distinct + 1 copy.
    base = "we compute the sum of the first ten integers and get fifty five " * 3
    copies = [base + f"ok{i}" for i in range(6)]
    distinct = ["a totally different approach with induction on n proves the claim",
                "use the formula n ( n + 1 ) / 2 directly : 10 * 11 / 2 = 55",
                "brute force : 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 + 9 + 10 = 55 indeed"]
    texts = copies[:3] + [distinct[0]] + copies[3:] + distinct[1:]
    picks = farthest_p(distance_matrix(texts), 4)
    chosen = {texts[i] for i in picks.order}
    assert set(distinct) <= chosen
    assert len(chosen & set(copies)) == 1
    assert picks.min_dist[1] >= picks.min_dist[2] >= picks.min_dist[3]  # max-min distances shrink


def test_farthest_p_texts_never_picks_a_copy():
    # regression: the 4th pick was a copy of the first, at distance 0.0
    order, near = farthest_p_texts(["a b c"] * 3 + ["x y z", "a b d"], 4)
    assert order == [0, 3, 4] and all(d > 0 for d in near[1:])
    # <= P texts: copies dropped too; whitespace alone does not make a different text
    assert farthest_p_texts(["a  b", "a b", "c d"], 4)[0] == [0, 2]


def test_farthest_p_small_groups_and_errors():
    d = np.array([[0, 0.5], [0.5, 0]])
    assert farthest_p(d, 4).order == [0, 1]
    with pytest.raises(ValueError):
        farthest_p(np.zeros((2, 3)), 2)
    with pytest.raises(ValueError):
        farthest_p(d, 0)


def test_kcenter_covers_clusters_first():
    rng = np.random.default_rng(0)
    centers = np.eye(4, 16)
    pts = np.concatenate([c + 0.01 * rng.standard_normal((25, 16)) for c in centers])
    picks = kcenter(pts, 4, first=0)
    assert sorted(i // 25 for i in picks.order) == [0, 1, 2, 3]  # one pick per planted cluster
    assert kcenter(pts, 0).order == []
    assert len(kcenter(pts, 500).order) == 100


# -- LIMO rule score --------------------------------------------------------------------------
def test_limo_features_count_words_per_1k():
    f = limo_features(pl.Series(["Let me verify. Wait, perhaps not. Therefore x is 2.", None]))
    row = f.row(0, named=True)
    assert row["limo_words"] == 10
    assert row["limo_verify_per_1k"] == pytest.approx(100.0)  # "verify": 1 of 10 words
    assert row["limo_explore_per_1k"] == pytest.approx(200.0)  # "Wait", "perhaps"
    assert row["limo_connect_per_1k"] == pytest.approx(100.0)  # "Therefore"
    assert f.row(1, named=True)["limo_words"] == 0


def test_limo_score_weights_traits():
    long_rich = "Let me check. Perhaps another approach. Therefore done. " * 50
    short_plain = "x equals two"
    f = limo_features(pl.Series([long_rich, short_plain]))
    s = limo_score(f).to_list()
    assert s == pytest.approx([1.0, 0.0])  # best on every trait vs worst on every trait
    f3 = limo_features(pl.Series([long_rich, short_plain, "verify verify verify"]))
    s3 = limo_score(f3).to_list()
    # the third text: 3 words, tied with the plain text for shortest (average rank 1.5 of 3 -> 0.25),
    # the top verify rate (1.0), no exploration or connective words (tied lowest with the plain text: 0.25)
    assert s3[2] == pytest.approx(0.30 * 0.25 + 0.20 * 1.0 + 0.25 * 0.25 + 0.25 * 0.25)  # = 0.4


# -- entropy and RSR on hand-fixed logits ------------------------------------------------------
def test_token_stats_and_rsr_on_hand_fixed_logits():
    ln = math.log
    # token 0: uniform over 4 -> entropy 2 bits, target any -> rank 1 (ties in its favour), surprisal ln 4
    # token 1: logits ln([8, 4, 2, 2]) / total 16 -> p = [.5, .25, .125, .125]; target 2 -> rank 3, surprisal ln 8
    #          entropy = .5*1 + .25*2 + 2*.125*3 = 1.75 bits
    # token 2: p = [.5, .25, .125, .125], target 0 -> rank 1, surprisal ln 2
    logits = [[0.0, 0.0, 0.0, 0.0], [ln(8), ln(4), ln(2), ln(2)], [ln(8), ln(4), ln(2), ln(2)]]
    targets = [3, 2, 0]
    st = token_stats(logits, targets)
    assert st["entropy_bits"].tolist() == pytest.approx([2.0, 1.75, 1.75])
    assert st["rank"].tolist() == [1, 3, 1]
    assert st["surprisal"].tolist() == pytest.approx([ln(4), ln(8), ln(2)])
    s = summarize(logits, targets)
    assert s["student_tokens"] == 3
    assert s["student_entropy"] == pytest.approx((2 + 1.75 + 1.75) / 3)  # 1.8333 bits
    # RSR = (1 + 3 + 1) / (ln 4 + ln 8 + ln 2) = 5 / ln 64 = 1.2022
    assert s["student_rsr"] == pytest.approx(5 / ln(64))
    assert s["student_rsr"] == pytest.approx(1.20224, abs=1e-5)


def test_rsr_caps_rank_at_100():
    v = 300
    logits = np.zeros((1, v))
    logits[0, :200] = 1.0  # 200 tokens above the target
    s = summarize(logits, [250])
    p = 1 / (200 * math.e + 100)
    assert s["student_rsr"] == pytest.approx(100 / -math.log(p))  # rank 201 clipped to 100
    # a student certain of every token has no surprisal: RSR is undefined (None), not infinite
    assert summarize(np.array([[200.0, 0.0]]), [0])["student_rsr"] is None
    with pytest.raises(ValueError):
        token_stats(np.zeros((2, 3)), [0])


def test_dataset_rsr_is_sum_of_mean_ranks_over_sum_of_mean_surprisals():
    """The RSR paper's dataset RSR (rsr_cal.py compute_sample_metrics): Σ_i avg_rank_i / Σ_i avg_surprisal_i."""
    from ded.scorers.student import dataset_rsr, summarize_sums

    # a: ranks [1, 3], surprisals [0.5, 1.5]; b: ranks [1, 1, 1, 100 (clipped)], surprisals [0.1, 0.1, 0.1, 2.7]
    a = summarize_sums(2, 0.0, 4.0, 2.0)
    b = summarize_sums(4, 0.0, 103.0, 3.0)
    assert (a["student_rsr"], a["student_rank"], a["student_surprisal"]) == pytest.approx((2.0, 2.0, 1.0))
    assert (b["student_rank"], b["student_surprisal"]) == pytest.approx((25.75, 0.75))
    assert dataset_rsr([a, b]) == pytest.approx((2 + 25.75) / (1 + 0.75))  # 15.857, not (2 + 34.33) / 2
    # a trajectory the student is certain of adds its mean rank (1) and no surprisal; an empty one is skipped
    certain, empty = summarize_sums(5, 0.0, 5.0, 0.0), summarize_sums(0, 0.0, 0.0, 0.0)
    assert certain["student_rsr"] is None
    assert dataset_rsr([a, b, certain, empty]) == pytest.approx(28.75 / 1.75)
    # results without the mean rank (older rows): RSR x mean surprisal
    old = [{k: v for k, v in r.items() if k != "student_rank"} for r in (a, b, certain)]
    assert dataset_rsr(old) == pytest.approx(28.75 / 1.75)
    assert dataset_rsr([]) is None and dataset_rsr([certain]) is None


def test_student_scorer_chunked_equals_whole(tiny_model_dir):
    sc = StudentScorer(str(tiny_model_dir), device="cpu", chunk_tokens=10_000).load()
    msgs = [{"role": "user", "content": "What is 2 + 3?"}]
    answer = "<think>\nLet me think step by step. 2 + 3 = 5. Let me verify: 5 - 3 = 2.\n</think>\n\nThe answer is \\boxed{5}."
    whole = sc.score(msgs, answer)
    ids, start = sc.encode(msgs, answer)
    assert whole["student_tokens"] == len(ids) - start > 10
    for chunk in (3, 7, 16):
        sc.chunk_tokens = chunk
        part = sc.score(msgs, answer)
        assert part["student_tokens"] == whole["student_tokens"]
        for k in ("student_entropy", "student_rsr", "student_surprisal"):
            assert part[k] == pytest.approx(whole[k], rel=1e-4), (chunk, k)
    # the same numbers as the pure function over one full forward pass
    import torch

    with torch.inference_mode():
        logits = sc._lm(input_ids=torch.tensor([ids])).logits[0]
    ref = summarize(logits[start - 1: len(ids) - 1], ids[start:])
    assert whole["student_rsr"] == pytest.approx(ref["student_rsr"], rel=1e-4)
    sc.max_tokens = 5
    assert sc.score(msgs, answer)["student_tokens"] == 5


def test_farthest_p_step_process_pool_equals_serial():
    from ded.selectors.blocks import SelectionContext
    from ded.selectors.farthest import POOL_MIN_QUESTIONS, farthest_p_step

    rng = random.Random(1)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    rows, texts = [], {}
    for q in range(POOL_MIN_QUESTIONS + 6):
        for j in range(6):
            tid = f"t{q:03d}_{j}"
            rows.append({"trajectory_id": tid, "question_id": f"q{q:03d}"})
            texts[tid] = " ".join(rng.choice(words) for _ in range(40))
    frame = pl.DataFrame(rows)
    load = lambda ids: {i: texts[i] for i in ids}
    serial = farthest_p_step(3, None, 1).fn(frame, SelectionContext(texts=load)).sort("trajectory_id")
    pooled = farthest_p_step(3, None, 2).fn(frame, SelectionContext(texts=load)).sort("trajectory_id")
    assert serial.height == (POOL_MIN_QUESTIONS + 6) * 3
    assert serial.equals(pooled)


def test_student_scoring_encodes_the_assistant_turn_as_sft_sees_it(tiny_model_dir):
    """The scored span is the template's rendering of the assistant turn's content, as the RSR paper's code
    scores it: after the assistant header, up to and not including the end-of-turn marker (RankSurprisalRatio
    rsr_utils.py `_scan_response_positions`); a template that opens <think> in its generation prompt does not
    get a second one."""
    from ded.scorers.student import StudentScorer

    sc = StudentScorer(model=str(tiny_model_dir), device="cpu").load()
    tok = sc._tok
    msgs = [{"role": "user", "content": "What is 2 + 2?"}]
    answer = "<think>\n2 + 2 = 4\n</think>\n\n\\boxed{4}"
    ids, start = sc.encode(msgs, answer)
    assert tok.decode(ids[start:]).replace(" ", "") == answer.replace(" ", "")
    assert "<|im_end|>" not in tok.decode(ids[start:])
    # the paper's span: the ids between the "<|im_start|>assistant\n" header and the "<|im_end|>" marker
    full = tok(tok.apply_chat_template([*msgs, {"role": "assistant", "content": answer}], tokenize=False),
               add_special_tokens=False)["input_ids"]
    head = tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    end = tok("<|im_end|>", add_special_tokens=False)["input_ids"]
    at = next(i for i in range(len(full)) if full[i:i + len(head)] == head) + len(head)
    stop = next(j for j in range(at, len(full)) if full[j:j + len(end)] == end)
    assert ids[:start] == full[:at] and ids[start:] == full[at:stop]
    assert ids[:start] == tok(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
                              add_special_tokens=False)["input_ids"]
    # an R1-distill-like template: the generation prompt opens <think>; history shows only the final answer
    tok.chat_template = (
        "{%- for m in messages -%}{%- if m['role'] == 'assistant' -%}"
        "{{- '<|im_start|>assistant\\n' + m['content'].split('</think>')[-1] + '<|im_end|>' -}}"
        "{%- else -%}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' -}}{%- endif -%}"
        "{%- endfor -%}{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n<think>\\n' -}}{%- endif -%}")
    ids, start = sc.encode(msgs, answer)
    text = tok.decode(ids).replace(" ", "")
    assert text.count("<think>") == 1 and "2+2=4" in text and text.endswith("\\boxed{4}")
    sc.max_tokens = 3
    ids, start = sc.encode(msgs, answer)
    assert len(ids) - start == 3
