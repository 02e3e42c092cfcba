"""avg@n, unbiased pass@k and the item bootstrap, against numbers worked out by hand."""

from itertools import product
from math import comb

import pytest

from ded.evaluation.metrics import (
    bootstrap_ci,
    default_ks,
    group_verdicts,
    pass_at_k,
    summarize,
)


def test_pass_at_k_hand_examples():
    # n=2, c=1, k=1: one of two samples right -> 1/2
    assert pass_at_k(2, 1, 1) == pytest.approx(0.5)
    # n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # n=16, c=1, k=4: 1 - C(15,4)/C(16,4) = 1 - 1365/1820 = 0.25
    assert pass_at_k(16, 1, 4) == pytest.approx(0.25)
    assert pass_at_k(4, 0, 2) == 0.0
    assert pass_at_k(4, 3, 2) == 1.0  # n - c < k: every k-subset has a correct sample


def test_pass_at_k_matches_the_combinatorial_formula_on_a_grid():
    for n, c, k in product(range(1, 12), range(12), range(1, 12)):
        if c <= n and k <= n:
            assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)


def test_pass_at_k_rejects_impossible_inputs():
    with pytest.raises(ValueError, match="raise evaluate.n"):
        pass_at_k(2, 1, 4)
    with pytest.raises(ValueError):
        pass_at_k(2, 3, 1)


def test_avg_at_n_and_pass_at_k_over_a_hand_benchmark():
    # three items, four samples each: 2/4, 0/4, 4/4 -> avg@4 = (0.5 + 0 + 1) / 3 = 0.5
    samples = {"a": [True, False, True, False], "b": [False] * 4, "c": [True] * 4}
    s = summarize(samples, n_boot=2000)
    assert s.items == 3 and s.samples == 12 and s.samples_per_item == 4
    assert s.avg_at_n == pytest.approx(0.5)
    assert s.pass_at_k["1"] == pytest.approx(0.5)
    # pass@2: a: 1 - C(2,2)/C(4,2) = 5/6, b: 0, c: 1 -> (5/6 + 1) / 3
    assert s.pass_at_k["2"] == pytest.approx((5 / 6 + 1) / 3)
    assert s.pass_at_k["4"] == pytest.approx(2 / 3)
    assert set(s.pass_at_k) == {"1", "2", "4"}


def test_undecided_samples_leave_the_denominator_and_are_counted():
    samples = {"a": [True, None, False, None], "b": [None, None], "c": [True, True]}
    s = summarize(samples, ks=[1], n_boot=500)
    assert s.undecided_samples == 4
    assert s.items_without_decided_sample == 1  # b
    assert s.items == 2
    assert s.avg_at_n == pytest.approx((0.5 + 1.0) / 2)


def test_bootstrap_two_items_matches_exact_percentiles():
    # items scored 0 and 1: the resampled mean is 0, 0.5, 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles are 0 and 1, and an 80% interval is [0, 1] too (P(0) = 0.25 > 0.1)
    assert bootstrap_ci([0.0, 1.0], n_boot=20_000, seed=1) == (0.0, 1.0)
    # a 40% interval cuts at 30% and 70%: both fall on the middle atom
    assert bootstrap_ci([0.0, 1.0], level=0.4, n_boot=20_000, seed=1) == (0.5, 0.5)


def test_bootstrap_interval_width_matches_the_normal_approximation():
    # 30 items, 9 solved: the mean's standard error is sqrt(p(1-p)/n) = sqrt(.3*.7/30) = 0.0837;
    # the 95% interval is then about ±1.96 * 0.0837 = ±0.164 (the AIME "3.3 points per problem" noise)
    lo, hi = bootstrap_ci([1.0] * 9 + [0.0] * 21, n_boot=20_000, seed=0)
    assert hi - lo == pytest.approx(2 * 1.96 * (0.3 * 0.7 / 30) ** 0.5, rel=0.1)
    assert lo < 0.3 < hi


def test_bootstrap_is_seeded_and_degenerate_for_constant_scores():
    x = [0.2, 0.9, 0.4, 0.4, 1.0]
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)
    assert bootstrap_ci([0.25] * 7) == pytest.approx((0.25, 0.25))


def test_default_ks_and_grouping():
    assert default_ks(16) == [1, 2, 4, 8, 16]
    assert default_ks(6) == [1, 2, 4, 6]
    assert default_ks(1) == [1]
    rows = [{"item_id": "x", "sample_idx": 1, "correct": False}, {"item_id": "x", "sample_idx": 0, "correct": True}]
    assert group_verdicts(rows) == {"x": [True, False]}
