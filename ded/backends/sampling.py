"""Seeded sampling shared by the transformers backend's two engines.

Each sample's randomness depends on its own seed and the step only, not on the batch it shares:
the uniform number of step t is a hash of (seed, t), and the token is drawn by inverse CDF after
temperature, top-k and top-p. So a resumed run that batches requests differently draws the same
sample for the same seed, and the HF `generate` engine and the fast engine agree (up to the float
differences of their kernels). The hash is lowbias32 (Chris Wellons' integer hash, a
well-mixed 32-bit permutation); the Python and the torch versions are bit-identical.
"""

from __future__ import annotations

_M32 = 0xFFFFFFFF
_STEP_SALT = 0x9E3779B9  # golden-ratio constant: step 0 must not hash like seed 0


def _mix32(x: int) -> int:
    x &= _M32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _M32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _M32
    return x ^ (x >> 16)


def seed_key(seed: int) -> int:
    """A 32-bit key for a (possibly 64-bit or negative) seed."""
    return _mix32(seed & _M32) ^ _mix32((seed >> 32) & _M32)


def seeded_uniform(seed: int, step: int) -> float:
    """A uniform number in (0, 1) from (seed, step), the same on every device and batch."""
    h = _mix32(seed_key(seed) ^ _mix32(step + _STEP_SALT))
    return ((h >> 8) + 0.5) / float(1 << 24)


def _mul32_t(x, c: int):
    # (x * c) mod 2^32 without int64 overflow: split c into 16-bit halves
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & _M32


def _mix32_t(x):
    x = x & _M32
    x = x ^ (x >> 16)
    x = _mul32_t(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32_t(x, 0x846CA68B)
    return x ^ (x >> 16)


def uniforms(keys, step: int):
    """`seeded_uniform` for a tensor of seed keys (int64, from `seed_key`), as float32 (B, 1)."""
    import torch

    h = _mix32_t(keys ^ _mix32(step + _STEP_SALT))
    return (((h >> 8).to(torch.float64) + 0.5) / float(1 << 24)).to(torch.float32)[:, None]


def draw(logits, u, temperature: float, top_p: float, top_k: int = 0):
    """Token ids (B, 1) drawn from `logits` (B, V) with uniforms `u` (B, 1); temperature > 0."""
    import torch

    scores = logits.float() / temperature
    order = None
    if 0 < top_k < scores.shape[-1]:
        scores, order = scores.topk(top_k, dim=-1)  # sorted, descending
    probs = torch.softmax(scores, dim=-1)
    if top_p < 1.0:
        if order is None:
            probs, order = probs.sort(dim=-1, descending=True, stable=True)
        # keep a token while the mass before it is below top_p (the first is always kept)
        probs = probs * ((probs.cumsum(-1) - probs) < top_p)
    cum = probs.cumsum(-1)
    pick = torch.searchsorted(cum, u * cum[:, -1:], right=True).clamp_(max=cum.shape[-1] - 1)
    return order.gather(1, pick) if order is not None else pick


class SeededSampler:
    """A transformers logits processor that draws each row's next token from its own seed.

    It returns scores that are -inf everywhere but the drawn token, so it runs under greedy
    decoding (do_sample=False) and the draw is exactly `draw`.
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float, prompt_len: int, top_k: int = 0):
        self.keys = [seed_key(s) for s in seeds]
        self.temperature, self.top_p, self.top_k, self.prompt_len = temperature, top_p, top_k, prompt_len
        self._keys_t = None

    def __call__(self, input_ids, scores):
        import torch

        if self._keys_t is None or self._keys_t.device != scores.device:
            self._keys_t = torch.tensor(self.keys, dtype=torch.int64, device=scores.device)
        u = uniforms(self._keys_t, input_ids.shape[1] - self.prompt_len)
        token = draw(scores, u, self.temperature, self.top_p, self.top_k)
        return torch.full_like(scores, float("-inf")).scatter_(1, token, 0.0)
