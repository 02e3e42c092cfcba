"""The LIMO rule score of a reasoning trace (arXiv 2502.03387, "LIMO: Less is More for Reasoning").

LIMO ranks candidate solutions by four traits with fixed weights: elaborated reasoning (length,
30%), self-verification (20%), exploratory approaches (25%) and adaptive granularity, i.e. the
connective words that tie steps together (25%). The word counts are normalized by length (per
1,000 words) so a long trace does not win every trait at once.

The paper gives the traits and weights, not its word lists; ours are below, matched
case-insensitively on word boundaries. Each trait becomes a percentile rank in [0, 1] over the
pool being scored (the whole lake in `ded score`), so the four traits are on one scale and the
score of a row depends on its pool only through ranks: deterministic for given inputs.
"""

from __future__ import annotations

import polars as pl

WEIGHTS = {"length": 0.30, "verify": 0.20, "explore": 0.25, "connect": 0.25}

VERIFY = r"(?i)\b(?:verif\w*|double[- ]check\w*|check\w*|confirm\w*|validat\w*|re-?examin\w*|sanity)\b"
EXPLORE = (r"(?i)\b(?:perhaps|maybe|might|alternative\w*|suppose|what if|let me try|another (?:way|approach|method)"
           r"|wait|hmm+|instead)\b")
CONNECT = (r"(?i)\b(?:therefore|thus|hence|because|since|so|consequently|which means|this means|implies"
           r"|first|next|then|finally)\b")
WORD = r"\S+"


def limo_features(texts: pl.Series, n_tokens: pl.Series | None = None) -> pl.DataFrame:
    """Raw traits of each text: length (n_tokens when given, else words) and per-1k-word rates."""
    df = pl.DataFrame({"t": texts.fill_null("")})
    out = df.select(
        pl.col("t").str.count_matches(WORD).alias("limo_words"),
        pl.col("t").str.count_matches(VERIFY).alias("v"),
        pl.col("t").str.count_matches(EXPLORE).alias("e"),
        pl.col("t").str.count_matches(CONNECT).alias("c"),
    )
    per_k = 1000.0 / pl.max_horizontal(pl.col("limo_words"), pl.lit(1))
    length = n_tokens.cast(pl.Float64).fill_null(0) if n_tokens is not None else None
    out = out.with_columns(
        (length if length is not None else pl.col("limo_words").cast(pl.Float64)).alias("limo_length"),
        (pl.col("v") * per_k).alias("limo_verify_per_1k"),
        (pl.col("e") * per_k).alias("limo_explore_per_1k"),
        (pl.col("c") * per_k).alias("limo_connect_per_1k"),
    )
    return out.drop("v", "e", "c")


def _pct(col: str) -> pl.Expr:
    # Average ranks scaled to [0, 1]; a pool of one scores 1.
    n = pl.len().cast(pl.Float64)
    return pl.when(n > 1).then((pl.col(col).rank("average") - 1) / (n - 1)).otherwise(1.0)


def limo_score(features: pl.DataFrame, weights: dict[str, float] | None = None) -> pl.Series:
    """Weighted sum of the traits' percentile ranks over `features` (rows of `limo_features`)."""
    w = {**WEIGHTS, **(weights or {})}
    if features.height == 0:
        return pl.Series("limo_score", [], dtype=pl.Float64)
    return features.select(
        (w["length"] * _pct("limo_length") + w["verify"] * _pct("limo_verify_per_1k")
         + w["explore"] * _pct("limo_explore_per_1k") + w["connect"] * _pct("limo_connect_per_1k"))
        .alias("limo_score")
    ).to_series()
