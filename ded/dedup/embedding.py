"""Near-duplicate pairs by embedding cosine: exact blocked all-pairs search over unit vectors.

Tiled matrix products keep memory at block × block floats; torch runs them on the GPU when present (a 10^5
pool is 10^10 dot products: about a minute on 2 CPU cores, under a second on a GPU). Beyond ~10^6
questions use the ANN index instead (`ded search --like`), which this module does not do.
"""

from __future__ import annotations

import numpy as np

from ded.progress import progress


def cosine_pairs(vecs: np.ndarray, threshold: float = 0.95, block: int = 2048,
                 device: str = "cpu") -> list[tuple[int, int, float]]:
    """(i, j, cosine) for i < j with cosine >= threshold; `vecs` rows are unit vectors.

    Tiles of block × block similarities (16 MB at 2048) over the upper triangle only."""
    n = len(vecs)
    if n < 2:
        return []
    import torch

    m = torch.from_numpy(np.ascontiguousarray(vecs, np.float32)).to(device)
    out: list[tuple[int, int, float]] = []
    with progress(total=n, desc="near-duplicates (embedding)", unit="questions") as bar, torch.no_grad():
        for s in range(0, n, block):
            rows_m = m[s:s + block]
            for c in range(s, n, block):
                sims = rows_m @ m[c:c + block].T
                r, k = torch.nonzero(sims >= threshold, as_tuple=True)
                for a, b, v in zip(r.tolist(), k.tolist(), sims[r, k].tolist()):
                    i, j = s + a, c + b
                    if i < j:
                        out.append((i, j, float(v)))
            bar.advance(min(block, n - s))
    return out
