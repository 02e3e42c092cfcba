"""Benchmark metrics: avg@n, unbiased pass@k, and bootstrap confidence intervals over items.

All functions take per-sample correctness grouped by item. A sample's verdict is True, False or None (None =
undecidable: the verifier timed out or the reference could not be parsed). Following the project contract
("pass rates leave nulls out of the denominator and report how many were left out"), None samples are dropped
from their item's denominator and counted; an item with no decided sample is dropped and counted.

Why bootstrap over items: the samples of one item are not independent draws of the benchmark; the noise that
matters when comparing two models is which 30 problems AIME happened to pick. Resampling items (not samples)
gives that interval (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640, section 2 on clustered
questions).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

Verdict = bool | None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one item with n samples of which c are correct (Chen et al. 2021, arXiv 2107.03374,
    eq. 1): 1 - C(n-c, k) / C(n, k), computed as a product so large n does not overflow."""
    if not (0 <= c <= n) or k < 1:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and k >= 1, got n={n} c={c} k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} decided samples per item, got {n}: raise evaluate.n")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@dataclass(frozen=True)
class ItemCounts:
    item_id: str
    n: int  # decided samples
    c: int  # correct samples
    undecided: int


def item_counts(samples: Mapping[str, Sequence[Verdict]]) -> list[ItemCounts]:
    """Per item: decided samples, correct samples, undecided samples (sorted by item id for determinism)."""
    out = []
    for item_id in sorted(samples):
        verdicts = samples[item_id]
        decided = [v for v in verdicts if v is not None]
        out.append(ItemCounts(item_id, len(decided), sum(bool(v) for v in decided), len(verdicts) - len(decided)))
    return out


def bootstrap_ci(
    scores: Sequence[float], *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-item scores, resampling items with replacement."""
    x = np.asarray(scores, dtype=float)
    if x.size == 0:
        return (math.nan, math.nan)
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    # chunked so 10k resamples of a 10k-item benchmark stay in a few MB
    chunk = max(1, 2_000_000 // x.size)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return (float(lo), float(hi))


@dataclass
class Summary:
    """Benchmark-level metrics of one run: what `metrics/<benchmark>.json` holds under "metrics"."""

    items: int
    samples: int
    samples_per_item: int  # the smallest decided count over items: pass@k is reported for k up to it
    avg_at_n: float
    avg_at_n_ci: tuple[float, float]
    pass_at_k: dict[str, float]
    pass_at_k_ci: dict[str, tuple[float, float]]
    undecided_samples: int
    items_without_decided_sample: int
    ci_level: float
    bootstrap_resamples: int

    def as_dict(self) -> dict:
        return asdict(self)


def default_ks(n: int) -> list[int]:
    """pass@1 and powers of two up to n, plus n itself: the ks papers report (1, 2, 4, ..., n)."""
    ks = [1]
    while ks[-1] * 2 <= n:
        ks.append(ks[-1] * 2)
    if n >= 1 and ks[-1] != n:
        ks.append(n)
    return ks


def summarize(
    samples: Mapping[str, Sequence[Verdict]],
    *,
    ks: Iterable[int] | None = None,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> Summary:
    """avg@n (mean over items of each item's fraction correct), pass@k for each k, and item-bootstrap CIs.

    avg@n equals pass@1 when every item has the same n; with uneven n (a resumed run cut short) avg@n weights
    each item equally, as the papers do, not each sample.
    """
    counts = item_counts(samples)
    decided = [ic for ic in counts if ic.n > 0]
    total_samples = sum(ic.n + ic.undecided for ic in counts)
    undecided = sum(ic.undecided for ic in counts)
    if not decided:
        return Summary(len(counts), total_samples, 0, math.nan, (math.nan, math.nan), {}, {}, undecided,
                       len(counts), level, n_boot)
    n_min = min(ic.n for ic in decided)
    per_item = [ic.c / ic.n for ic in decided]
    ks = sorted(set(ks)) if ks is not None else default_ks(n_min)
    pk, pk_ci = {}, {}
    for k in ks:
        if k > n_min:
            continue  # not estimable for every item; leaving it out beats a biased number
        scores = [pass_at_k(ic.n, ic.c, k) for ic in decided]
        pk[str(k)] = float(np.mean(scores))
        pk_ci[str(k)] = bootstrap_ci(scores, level=level, n_boot=n_boot, seed=seed)
    return Summary(
        items=len(decided),
        samples=total_samples,
        samples_per_item=n_min,
        avg_at_n=float(np.mean(per_item)),
        avg_at_n_ci=bootstrap_ci(per_item, level=level, n_boot=n_boot, seed=seed),
        pass_at_k=pk,
        pass_at_k_ci=pk_ci,
        undecided_samples=undecided,
        items_without_decided_sample=len(counts) - len(decided),
        ci_level=level,
        bootstrap_resamples=n_boot,
    )


def group_verdicts(rows: Iterable[Mapping]) -> dict[str, list[Verdict]]:
    """{item_id: [correct, ...]} from eval_samples-shaped rows (item_id, sample_idx, correct)."""
    out: dict[str, list[tuple[int, Verdict]]] = {}
    for r in rows:
        out.setdefault(str(r["item_id"]), []).append((int(r.get("sample_idx") or 0), r["correct"]))
    return {k: [v for _, v in sorted(vs, key=lambda t: t[0])] for k, vs in out.items()}
