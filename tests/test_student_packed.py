"""Student scoring, packed and chunked (ded.scorers.student.StudentScorer.score_many / token_stats_many):
several trajectories per decoder forward with document-masked attention, the vocabulary projection in blocks
of positions, and the numbers of one plain full-logits forward per trajectory."""

from __future__ import annotations

import random

import pytest

from ded.scorers.student import StudentScorer, summarize, token_stats


@pytest.fixture(scope="module")
def scorer(tiny_model_dir):
    return StudentScorer(str(tiny_model_dir), device="cpu").load()


def _docs(scorer, lengths, seed=0):
    rng = random.Random(seed)
    vocab = scorer._lm.config.vocab_size
    items = []
    for n in lengths:
        ids = [rng.randrange(vocab) for _ in range(n)]
        items.append((ids, rng.randint(0, n // 2)))
    return items


def _reference(scorer, ids, start):
    """Per-token stats from one plain forward over the whole trajectory and full-vocabulary logits."""
    import torch

    s = max(start, 1)
    with torch.inference_mode():
        logits = scorer._lm(input_ids=torch.tensor([ids])).logits[0]
    return token_stats(logits[s - 1: len(ids) - 1], ids[s:])


def _max_rel(a, b):

    a, b = a.double(), b.double()
    return float(((a - b).abs() / b.abs().clamp(min=1e-6)).max()) if a.numel() else 0.0


@pytest.mark.parametrize("layout", ["packed", "rows"])
@pytest.mark.parametrize("max_batch_tokens,chunk", [(10_000, 7), (90, 5), (25, 16)])
def test_packed_per_token_stats_equal_a_full_forward(scorer, max_batch_tokens, chunk, layout):
    """Packed (all in one forward), packed in several forwards, and with trajectories longer than a forward
    (KV-cache segments), in both layouts: per-token logprob, entropy and rank equal the full forward's."""
    items = _docs(scorer, [40, 13, 61, 2, 1, 28, 33])
    scorer.max_batch_tokens, scorer.chunk_tokens, scorer.layout = max_batch_tokens, chunk, layout
    got = scorer.token_stats_many(items)
    worst = {"logprob": 0.0, "entropy_bits": 0.0}
    for (ids, start), g in zip(items, got):
        ref = _reference(scorer, ids, start)
        assert g["rank"].shape == ref["rank"].shape == (max(len(ids) - max(start, 1), 0),)
        assert g["rank"].tolist() == ref["rank"].tolist()
        worst["logprob"] = max(worst["logprob"], _max_rel(g["logprob"], -ref["surprisal"]))
        worst["entropy_bits"] = max(worst["entropy_bits"], _max_rel(g["entropy_bits"], ref["entropy_bits"]))
    assert max(worst.values()) < 1e-5, worst
    scorer.layout = "auto"


def test_packing_keeps_trajectories_apart(scorer):
    """The check above can fail: the same concatenation without restarting positions (one causal sequence, the
    second trajectory attending to the first) gives other numbers for the second trajectory."""
    import torch

    (a, _), (b, _) = _docs(scorer, [30, 30], seed=3)
    with torch.inference_mode():
        joined = scorer._lm(input_ids=torch.tensor([a + b])).logits[0, len(a):-1]
    leaked = token_stats(joined, b[1:])
    scorer.max_batch_tokens, scorer.chunk_tokens = 10_000, 2048
    packed = scorer.token_stats_many([(a, 1), (b, 1)])[1]
    ref = _reference(scorer, b, 1)
    ok = max(_max_rel(packed["entropy_bits"], ref["entropy_bits"]), _max_rel(packed["surprisal"] if "surprisal" in
             packed else -packed["logprob"], ref["surprisal"]))
    bad = max(_max_rel(leaked["entropy_bits"], ref["entropy_bits"]), _max_rel(leaked["surprisal"], ref["surprisal"]))
    assert ok < 1e-5 and bad > 100 * max(ok, 1e-7), (ok, bad)  # a random tiny model is near-uniform: small but clear


def test_score_many_equals_score_each_in_order(scorer):
    items = _docs(scorer, [50, 3, 1, 0, 22, 64, 9], seed=5)
    scorer.max_batch_tokens, scorer.chunk_tokens = 10_000, 2048
    each = [scorer.score_ids(ids, start) for ids, start in items]
    scorer.max_batch_tokens, scorer.chunk_tokens = 70, 4
    many = scorer.score_many(items)
    assert [m["student_tokens"] for m in many] == [e["student_tokens"] for e in each]
    assert many[3]["student_tokens"] == 0 and many[3]["student_rsr"] is None  # an empty trajectory
    for m, e, (ids, start) in zip(many, each, items):
        for k in ("student_entropy", "student_rsr", "student_surprisal", "student_rank"):
            assert (m[k] is None) == (e[k] is None)
            if m[k] is not None:
                assert m[k] == pytest.approx(e[k], rel=1e-5), k
        if len(ids) > max(start, 1):  # the pure function over the full forward's logits
            s = max(start, 1)
            import torch

            with torch.inference_mode():
                logits = scorer._lm(input_ids=torch.tensor([ids])).logits[0]
            ref = summarize(logits[s - 1: len(ids) - 1], ids[s:])
            assert m["student_rsr"] == pytest.approx(ref["student_rsr"], rel=1e-5)
    assert scorer.score_many([]) == []


@pytest.mark.parametrize("layout,forwards", [
    # 30+10, 20+20, 8 packed; the 45-token one alone in two segments (its last token predicts nothing: 40 + 4)
    ("packed", [(1, 4), (1, 8), (1, 40), (1, 40), (1, 40)]),
    # length-sorted rows padded to the longest: [30], [20, 20], [10, 8 + 2 padding], and the same two segments
    ("rows", [(1, 4), (1, 30), (1, 40), (2, 10), (2, 20)]),
])
def test_memory_is_bounded_by_max_batch_tokens_and_chunk_tokens(scorer, monkeypatch, layout, forwards):
    """No decoder forward sees more than max_batch_tokens tokens, the vocabulary projection never more than
    chunk_tokens positions, and trajectories that fit share forwards."""
    items = _docs(scorer, [30, 20, 20, 10, 45, 8], seed=7)
    dec = scorer._decoder()
    seen, heads = [], []
    hook = dec.register_forward_pre_hook(lambda m, a, kw: seen.append(tuple(kw["input_ids"].shape)), with_kwargs=True)
    real = scorer._logits
    monkeypatch.setattr(scorer, "_logits", lambda h: heads.append(h.shape[0]) or real(h))
    try:
        scorer.max_batch_tokens, scorer.chunk_tokens, scorer.layout = 40, 6, layout
        scorer.score_many(items)
    finally:
        hook.remove()
        scorer.layout = "auto"
    assert max(r * n for r, n in seen) <= 40 and max(heads) <= 6
    assert sorted(seen) == forwards


def test_layout_auto_and_compiled_stats_fall_back(scorer):
    from ded.scorers import student

    assert scorer._layout() == "packed"  # CPU
    gpu = StudentScorer("m", device="cuda")
    gpu._lm = scorer._lm
    assert gpu._layout() == "rows"  # SDPA on a GPU: no dense packed mask
    with pytest.raises(ValueError, match="layout must be"):
        StudentScorer("m", layout="diagonal")._layout()

    def broken(*a):
        raise RuntimeError("inductor: no C compiler")

    import torch

    f = student._Compiled(broken)
    x, y = torch.randn(4, 9), torch.tensor([1, 2, 3, 4])
    assert f(x, y)["rank"].tolist() == token_stats(x, y)["rank"].tolist() and f.failed
