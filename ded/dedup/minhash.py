"""MinHash signatures with LSH banding: near-duplicate candidate pairs by word-shingle Jaccard.

Shingles are word 5-grams of the canonical tokens (datatrove's MinhashConfig default n_grams=5). A
signature is the minimum over shingles of 128 universal hashes h(x) = (a·x + b) mod (2^61 − 1), as
datasketch. LSH with 32 bands × 4 rows makes a pair a candidate with probability 1 − (1 − J^4)^32: 0.96 at
J = 0.5 and above 0.9999 at J = 0.8, so pairs above the default Jaccard threshold (0.8) are found; each
candidate is then kept only when its signature-estimated Jaccard reaches the threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import xxhash

MERSENNE = np.uint64((1 << 61) - 1)
MAX_HASH = np.uint64((1 << 32) - 1)


class MinHasher:
    def __init__(self, num_perm: int = 128, bands: int = 32, shingle: int = 5, seed: int = 1):
        if num_perm % bands:
            raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
        rng = np.random.RandomState(seed)
        self.a = rng.randint(1, (1 << 61) - 1, num_perm, dtype=np.uint64)
        self.b = rng.randint(0, (1 << 61) - 1, num_perm, dtype=np.uint64)
        self.num_perm, self.bands, self.rows, self.shingle = num_perm, bands, num_perm // bands, shingle

    def signature(self, tokens: Sequence[str]) -> np.ndarray:
        k = self.shingle
        sh = {" ".join(tokens[i:i + k]) for i in range(max(len(tokens) - k + 1, 1))} if tokens else set()
        if not sh:
            return np.full(self.num_perm, MAX_HASH, np.uint32)
        hv = np.fromiter((xxhash.xxh32_intdigest(s.encode()) for s in sh), np.uint64, len(sh))
        with np.errstate(over="ignore"):  # datasketch relies on the same uint64 wrap-around
            ph = ((np.outer(hv, self.a) + self.b) % MERSENNE) & MAX_HASH
        return ph.min(axis=0).astype(np.uint32)  # values are < 2^32: half the memory

    def signatures(self, token_lists: Sequence[Sequence[str]]) -> np.ndarray:
        return np.stack([self.signature(t) for t in token_lists]) if token_lists else \
            np.zeros((0, self.num_perm), np.uint32)

    def pairs(self, sigs: np.ndarray, threshold: float = 0.8) -> list[tuple[int, int, float]]:
        """(i, j, estimated Jaccard) for i < j with estimate >= threshold."""
        cand: set[tuple[int, int]] = set()
        for band in range(self.bands):
            buckets: dict[bytes, list[int]] = defaultdict(list)
            part = np.ascontiguousarray(sigs[:, band * self.rows:(band + 1) * self.rows])
            for i in range(len(sigs)):
                buckets[part[i].tobytes()].append(i)
            for members in buckets.values():
                if 1 < len(members) <= 1000:  # a huge bucket is empty/boilerplate text, not duplicates
                    for x in range(len(members)):
                        for y in range(x + 1, len(members)):
                            cand.add((members[x], members[y]))
        out = []
        for i, j in sorted(cand):
            est = float(np.mean(sigs[i] == sigs[j]))
            if est >= threshold:
                out.append((i, j, est))
        return out
