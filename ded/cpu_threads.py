"""How many torch threads a model gets on CPU: one for a tiny model, torch's default otherwise.

Intra-op threads split each matrix product; a width-64 model's products are too small to split, so a second
thread only adds synchronisation, and on a machine whose cores other jobs are using it waits for them:
measured on the demo's SFT (2 shared cores, load ~3): 15,600 tokens/s with one thread, 2,800 with two
(docs/pipeline.md, "CPU threads"). Below `TINY_HIDDEN` the rule is one thread; above it torch decides.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

TINY_HIDDEN = 256


def threads_for(config: Any) -> int | None:
    """1 for a model config whose hidden size is at most TINY_HIDDEN, else None (torch's default)."""
    hidden = getattr(config, "hidden_size", None) if config is not None else None
    return 1 if hidden is not None and hidden <= TINY_HIDDEN else None


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` torch intra-op threads (None: unchanged), then restore the count."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
