"""Student-side scores of a trajectory: mean token entropy and the Rank-Surprisal Ratio.

Both read the *student's* next-token distribution over the response tokens of a trajectory,
conditioned on the prompt (the same chat rendering the corpus trains on):

- token entropy, in bits: H_t = -Σ_v p_t(v) log2 p_t(v). DED (arXiv 2508.09883) explains QwQ-32B's
  win as a teacher by the lower mean token entropy of its corpus (0.477 vs 0.705 bits for R1).
- Rank-Surprisal Ratio (arXiv 2601.14249), as the paper's code computes it (UmeanNever/RankSurprisalRatio
  at 1c908ee, rsr_cal.py): per trajectory RSR = Σ_t min(rank_t, 100) / Σ_t surprisal_t, where rank_t =
  1 + the number of vocabulary logits strictly above the actual token's (1 = the student's top choice, ties
  in its favour; rsr_cal.py l.174-176) and surprisal_t = -ln p_t(token) in nats (logsumexp - logit,
  l.167-170). Lower is better (Spearman 0.86 with post-SFT accuracy): informative (surprising) tokens that
  the student still ranks high. Over a set of trajectories (a teacher's corpus) the paper's dataset RSR
  is Σ_i mean clipped rank_i / Σ_i mean surprisal_i (`dataset_rsr`; compute_sample_metrics, l.219-248),
  not a mean of the per-trajectory ratios. The scored span is the assistant turn's content: the prompt,
  the assistant header and the end-of-turn marker (`<|im_end|>`) are not scored (rsr_utils.py
  `_scan_response_positions`, l.6-29, positions from after the header up to the end marker).

`token_stats` and `summarize` are the pure math over logits (tests fix the logits by hand);
`StudentScorer` runs a causal LM (transformers; GPU when present). `score_many` packs several
trajectories into one forward of at most `max_batch_tokens` tokens (position ids restart per trajectory,
so transformers' packed-sequence detection keeps them from attending to each other: a block-diagonal
causal mask under SDPA/eager/flex, varlen under flash-attention-2), runs the decoder once, then the
vocabulary projection and the per-token statistics over blocks of `chunk_tokens` positions, so the
[chunk, vocab] logits block is the only vocabulary-sized tensor (2,048 × 152k × 4 bytes = 1.2 GB for
Qwen2.5 tokenizers instead of 10 GB at 16k). Sums stay on the device until a batch is done (one read-back
per batch). A trajectory longer than `max_batch_tokens` runs alone in segments that carry the KV cache.
The numbers are those of one full forward with full log-softmax (tests/test_scorers.py compares them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ded.cpu_threads import cpu_threads, threads_for
from ded.errors import MissingDependency

RANK_CAP = 100  # arXiv 2601.14249 clips ranks at 100 so one garbage token cannot dominate
LN2 = math.log(2.0)


def token_stats(logits: Any, targets: Any) -> dict[str, Any]:
    """Per-token stats of `targets` (T,) under `logits` (T, V) (row t predicts targets[t]).

    Returns torch tensors: `entropy_bits` (T,), `surprisal` (T,, nats), `rank` (T,, int64, 1 = top).
    Ties rank in the token's favour: rank = 1 + number of strictly larger logits.
    """
    import torch

    x = torch.as_tensor(logits)
    y = torch.as_tensor(targets, device=x.device).long()
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"logits must be (T, V) and targets (T,), got {tuple(x.shape)} and {tuple(y.shape)}")
    return _stats(x, y)


def _stats(logits: Any, y: Any) -> dict[str, Any]:
    """token_stats' math on tensors (torch.compile'd by StudentScorer on a GPU: a few fused passes)."""
    import torch

    x = logits.float()
    logp = torch.log_softmax(x, dim=-1)
    p = logp.exp()
    plogp = torch.where(p > 0, p * logp, torch.zeros_like(p))
    entropy = -plogp.sum(-1) / LN2
    tgt_logit = x.gather(-1, y[:, None])
    rank = (x > tgt_logit).sum(-1) + 1
    surprisal = -logp.gather(-1, y[:, None]).squeeze(-1)
    return {"entropy_bits": entropy, "surprisal": surprisal, "rank": rank}


@dataclass
class Accumulator:
    """Running sums over a trajectory's response tokens (chunk by chunk)."""

    n: int = 0
    sum_entropy_bits: float = 0.0
    sum_rank_capped: float = 0.0
    sum_surprisal: float = 0.0
    rank_cap: int = RANK_CAP

    def add(self, stats: dict[str, Any]) -> None:
        r = stats["rank"]
        self.n += int(r.numel())
        self.sum_entropy_bits += float(stats["entropy_bits"].double().sum())
        self.sum_rank_capped += float(r.clamp(max=self.rank_cap).double().sum())
        self.sum_surprisal += float(stats["surprisal"].double().sum())

    def result(self) -> dict[str, float | int | None]:
        return summarize_sums(self.n, self.sum_entropy_bits, self.sum_rank_capped, self.sum_surprisal)


def dataset_rsr(stats: Any) -> float | None:
    """The RSR paper's dataset-level RSR over per-trajectory results (`summarize_sums` dicts):
    Σ_i mean clipped rank_i / Σ_i mean surprisal_i (RankSurprisalRatio rsr_cal.py l.240-247; the
    paper's Appendix A.8). Trajectories with no scored token are left out, as the paper's code skips
    them; one the student is certain of (surprisal 0, RSR undefined) still adds its mean rank (1).
    None when nothing was scored or the total surprisal is 0."""
    rank = surp = 0.0
    for st in stats:
        n = st.get("student_tokens") or 0
        if not n or st.get("student_surprisal") is None:
            continue
        m = st.get("student_rank")
        if m is None:  # a result without the mean rank: rank sum / n = RSR * mean surprisal
            m = st["student_rsr"] * st["student_surprisal"] if st.get("student_rsr") is not None else 1.0
        rank += m
        surp += st["student_surprisal"]
    return rank / surp if surp > 0 else None


def summarize_sums(n: int, sum_entropy_bits: float, sum_rank_capped: float,
                   sum_surprisal: float) -> dict[str, float | int | None]:
    return {
        "student_tokens": n,
        "student_entropy": sum_entropy_bits / n if n else None,
        # A trajectory the student predicts with certainty has no surprisal: RSR is undefined.
        "student_rsr": sum_rank_capped / sum_surprisal if n and sum_surprisal > 0 else None,
        "student_surprisal": sum_surprisal / n if n else None,
        "student_rank": sum_rank_capped / n if n else None,  # mean clipped rank (for `dataset_rsr`)
    }


def summarize(logits: Any, targets: Any, rank_cap: int = RANK_CAP) -> dict[str, float | int | None]:
    """Mean entropy (bits), RSR and mean surprisal of `targets` under `logits`, in one call."""
    acc = Accumulator(rank_cap=rank_cap)
    acc.add(token_stats(logits, targets))
    return acc.result()


# Config attributes that make a model's logits more than `lm_head(hidden)`; applied in `_logits` as the
# model's own forward applies them (Gemma 2/3 soft-capping, Granite's scaling, Cohere's scale).
_SOFTCAP, _DIVIDE, _MULTIPLY = "final_logit_softcapping", "logits_scaling", "logit_scale"


@dataclass
class StudentScorer:
    """Scores (prompt messages, assistant text) pairs under a causal LM.

    `model`: hub id or local path; `device`: "auto" (cuda when present), "cpu", "cuda", "cuda:1";
    `chunk_tokens`: positions per block of the vocabulary projection (bounds the [chunk, vocab] logits);
    `max_batch_tokens`: tokens per decoder forward (trajectories are packed up to it; a longer one runs
    alone in segments of this size carrying the KV cache); `max_tokens`: response tokens scored (None = all);
    `attn_implementation`: passed to transformers (None: its default, SDPA where the model supports it;
    "flex_attention" or "flash_attention_2" where installed skip the masked-out blocks of a packed batch);
    `layout`: how trajectories share a forward: "packed" (one row, concatenated, position ids restarting per
    trajectory: transformers builds the block-diagonal causal mask, or varlen under flash-attention-2), "rows"
    (a [rows, longest] batch of length-sorted trajectories, right-padded, plain causal attention: padding after
    a trajectory's last token is never attended to by it, so no mask at all and SDPA's flash kernel, at the
    cost of the padding), "auto" (rows for SDPA/eager on a GPU, where a dense packed mask would cost
    (tokens)^2 attention, else packed); `compile`: torch.compile the per-token statistics (None: on a GPU),
    falling back to eager when compilation fails.
    """

    model: str
    device: str = "auto"
    chunk_tokens: int = 2048
    max_tokens: int | None = None
    rank_cap: int = RANK_CAP
    max_batch_tokens: int = 32768
    attn_implementation: str | None = None
    layout: str = "auto"
    compile: bool | None = None
    _lm: Any = field(default=None, init=False, repr=False)
    _tok: Any = field(default=None, init=False, repr=False)
    _stats_fn: Any = field(default=None, init=False, repr=False)

    def load(self) -> StudentScorer:
        if self._lm is not None:
            return self
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:  # pragma: no cover - torch is a core dependency
            raise MissingDependency(e.name or "torch", why="student scores run the student model") from e
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self._tok = AutoTokenizer.from_pretrained(self.model)
        kw = {"attn_implementation": self.attn_implementation} if self.attn_implementation else {}
        self._lm = AutoModelForCausalLM.from_pretrained(self.model, dtype=dtype, **kw).to(self.device).eval()
        return self

    def encode(self, messages: list[dict[str, str]], assistant: str) -> tuple[list[int], int]:
        """Token ids of prompt + response, and where the response starts.

        With a chat template, the response is the template's own rendering of the assistant turn's content
        (what SFT trains on) when the template is prefix-preserving and renders the text as given: the tokens
        after the assistant header up to, not including, the template's end-of-turn marker, as the RSR paper's
        code scores them (RankSurprisalRatio rsr_utils.py `_scan_response_positions`). Otherwise the response
        text is appended to the generation prompt, minus a `<think>` the prompt already opens (templates such
        as DeepSeek-R1-Distill's end the generation prompt with it).
        """
        tok = self._tok
        if not getattr(tok, "chat_template", None):
            prompt = "\n\n".join(m["content"] for m in messages) + "\n\n"
            return self._join(tok(prompt, add_special_tokens=False)["input_ids"], assistant)
        prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        full = tok.apply_chat_template([*messages, {"role": "assistant", "content": assistant}], tokenize=False)
        full = full.rstrip()  # the newline after the end-of-turn token
        end = self._turn_end(messages)
        if end and full.endswith(end):
            full = full[: len(full) - len(end)]  # the end-of-turn marker is not scored (the RSR paper's span)
        if full.startswith(prompt) and assistant.strip() in full[len(prompt):]:
            f_ids = tok(full, add_special_tokens=False)["input_ids"]
            if f_ids[: len(p_ids)] == p_ids:
                r_ids = f_ids[len(p_ids):]
                return p_ids + (r_ids[: self.max_tokens] if self.max_tokens is not None else r_ids), len(p_ids)
        if prompt.rstrip().endswith("<think>") and assistant.lstrip().startswith("<think>"):
            assistant = assistant.lstrip()[len("<think>"):].lstrip("\n")
        return self._join(p_ids, assistant)

    def _turn_end(self, messages: list[dict[str, str]]) -> str:
        """What the chat template writes after an assistant turn's content (Qwen: `<|im_end|>`), found by
        rendering a probe turn; "" when the template writes nothing there."""
        probe = "ded-probe-7f3a"
        text = self._tok.apply_chat_template([*messages, {"role": "assistant", "content": probe}],
                                             tokenize=False).rstrip()
        i = text.rfind(probe)
        return text[i + len(probe):] if i >= 0 else ""

    def _join(self, p_ids: list[int], assistant: str) -> tuple[list[int], int]:
        r_ids = self._tok(assistant, add_special_tokens=False)["input_ids"]
        if self.max_tokens is not None:
            r_ids = r_ids[: self.max_tokens]
        return p_ids + r_ids, len(p_ids)

    # --- scoring -------------------------------------------------------------------------------------

    def score_ids(self, ids: list[int], start: int) -> dict[str, float | int | None]:
        """Stats of ids[start:] given ids[:start] (one trajectory: `score_many` of one)."""
        return self.score_many([(ids, start)])[0]

    def score(self, messages: list[dict[str, str]], assistant: str) -> dict[str, float | int | None]:
        self.load()
        ids, start = self.encode(messages, assistant)
        return self.score_ids(ids, start)

    def score_many(self, items: list[tuple[list[int], int]]) -> list[dict[str, float | int | None]]:
        """`summarize_sums` results of several (ids, start) pairs, in their order, packed into forwards of at most
        `max_batch_tokens` tokens. The per-trajectory sums stay on the device; one read-back at the end."""
        import torch

        self.load()
        items = list(items)
        sums = torch.zeros(len(items), 3, dtype=torch.float64, device=self.device)  # entropy, clipped rank, surprisal
        counts = [0] * len(items)

        def add(doc, _pos, st):
            vals = torch.stack([st["entropy_bits"].double(), st["rank"].clamp(max=self.rank_cap).double(),
                                st["surprisal"].double()], dim=1)
            sums.index_add_(0, doc, vals)

        for i, n in self._run(items, add):
            counts[i] = n
        host = sums.cpu().tolist() if items else []
        return [summarize_sums(counts[i], *host[i]) if counts[i] else summarize_sums(0, 0.0, 0.0, 0.0)
                for i in range(len(items))]

    def token_stats_many(self, items: list[tuple[list[int], int]]) -> list[dict[str, Any]]:
        """Per-token stats of several (ids, start) pairs (packed as `score_many`): for each, CPU tensors
        `logprob` (nats, of the actual token), `entropy_bits`, `rank` (unclipped, 1 = top), over ids[start:]."""
        import torch

        self.load()
        items = list(items)
        spans = [max(len(ids) - max(start, 1), 0) for ids, start in items]
        total, dev = sum(spans), self.device
        flat = {"logprob": torch.zeros(total, device=dev), "entropy_bits": torch.zeros(total, device=dev),
                "rank": torch.zeros(total, dtype=torch.long, device=dev)}
        offsets = torch.tensor([0] + spans[:-1], dtype=torch.long, device=dev).cumsum(0) if items else None

        def put(doc, pos, st):
            at = offsets[doc] + pos
            flat["logprob"][at] = -st["surprisal"]
            flat["entropy_bits"][at] = st["entropy_bits"]
            flat["rank"][at] = st["rank"]

        for _ in self._run(items, put):
            pass
        res, o = [], 0
        for n in spans:
            res.append({k: v[o:o + n].cpu() for k, v in flat.items()})
            o += n
        return res

    def _run(self, items, sink):
        """Feed every item through the model; call sink(doc index, position in the scored span, token_stats)
        per block of `chunk_tokens` scored positions; yield (item index, tokens scored) for each item."""
        import torch

        cap = max(1, int(self.max_batch_tokens))
        packable, long_ones = [], []
        for i, (ids, start) in enumerate(items):
            s = max(start, 1)  # no context predicts the first token
            if len(ids) <= s:
                yield i, 0
            elif len(ids) <= cap:
                packable.append(i)
            else:
                long_ones.append(i)
        rows = self._layout() == "rows"
        lengths = {i: len(items[i][0]) for i in packable}
        groups = _row_groups(lengths, cap) if rows else _first_fit(lengths, cap)
        threads = None if self.device.startswith("cuda") else threads_for(self._lm.config)  # ded.cpu_threads
        with torch.inference_mode():
            for g in groups:
                with cpu_threads(threads):
                    done = list((self._rows if rows else self._packed)(items, g, sink))
                yield from done
            for i in long_ones:
                with cpu_threads(threads):
                    done = list(self._segmented(items, i, sink))
                yield from done

    def _layout(self) -> str:
        if self.layout not in ("auto", "packed", "rows"):
            raise ValueError(f"layout must be auto, packed or rows, got {self.layout!r}")
        if self.layout != "auto":
            return self.layout
        attn = getattr(self._lm.config, "_attn_implementation", None) or self.attn_implementation
        return "rows" if str(self.device).startswith("cuda") and attn in ("sdpa", "eager") else "packed"

    def _token_stats(self, logits, targets):
        if self._stats_fn is None:
            self._stats_fn = _stats
            if self.compile or (self.compile is None and str(self.device).startswith("cuda")):
                import torch

                self._stats_fn = _Compiled(torch.compile(_stats, dynamic=True))
        return self._stats_fn(logits, targets)

    def _decoder(self):
        get = getattr(self._lm, "get_decoder", None)
        dec = get() if get is not None else None
        return dec if dec is not None else self._lm.base_model

    def _logits(self, hidden):
        """The model's logits for some hidden states (what its own forward computes from them)."""
        import torch

        x = self._lm.get_output_embeddings()(hidden)
        cfg = self._lm.config
        if getattr(cfg, _SOFTCAP, None):
            x = torch.tanh(x / cfg.final_logit_softcapping) * cfg.final_logit_softcapping
        if getattr(cfg, _DIVIDE, None):
            x = x / cfg.logits_scaling
        if getattr(cfg, _MULTIPLY, None):
            x = x * cfg.logit_scale
        return x

    def _head(self, hidden, rows, targets, doc, pos, sink) -> None:
        """Vocabulary projection + stats over `rows` of `hidden` ([T, H]), `chunk_tokens` rows at a time."""
        step = max(1, int(self.chunk_tokens))
        for c in range(0, rows.numel(), step):
            r = rows[c:c + step]
            st = self._token_stats(self._logits(hidden.index_select(0, r)), targets[c:c + step])
            sink(doc[c:c + step], pos[c:c + step], st)

    def _packed(self, items, members: list[int], sink):
        """One row: the trajectories concatenated, position ids restarting at each (the document boundaries)."""
        import torch

        lens = [len(items[i][0]) for i in members]
        ids = torch.cat([torch.as_tensor(items[i][0], dtype=torch.long) for i in members])
        offs = [0]
        for n in lens[:-1]:
            offs.append(offs[-1] + n)
        positions = torch.cat([torch.arange(n) for n in lens])
        kw = {"position_ids": positions[None].to(self.device)} if len(members) > 1 else {}
        x = ids.to(self.device)
        hidden = self._decoder()(input_ids=x[None], use_cache=False, **kw).last_hidden_state[0]
        self._score_spans(hidden, x, items, members, offs, sink)
        del hidden
        for i in members:
            yield i, len(items[i][0]) - max(items[i][1], 1)

    def _rows(self, items, members: list[int], sink):
        """Length-sorted trajectories as a right-padded [rows, longest] batch, plain causal attention, no mask."""
        import torch

        width = max(len(items[i][0]) for i in members)
        ids = torch.zeros(len(members), width, dtype=torch.long)
        for b, i in enumerate(members):
            ids[b, :len(items[i][0])] = torch.as_tensor(items[i][0], dtype=torch.long)
        x = ids.to(self.device)
        hidden = self._decoder()(input_ids=x, use_cache=False).last_hidden_state
        self._score_spans(hidden.reshape(-1, hidden.shape[-1]), x.reshape(-1), items, members,
                          [b * width for b in range(len(members))], sink)
        del hidden
        for i in members:
            yield i, len(items[i][0]) - max(items[i][1], 1)

    def _score_spans(self, hidden, flat_ids, items, members, offs, sink) -> None:
        """The head over each member's scored rows of `hidden` (flattened [tokens, H]; member k starts at offs[k])."""
        import torch

        rows, doc, pos = [], [], []
        for i, o in zip(members, offs):
            s, n = max(items[i][1], 1), len(items[i][0])
            rows.append(torch.arange(o + s - 1, o + n - 1))  # row t predicts token t + 1
            doc.append(torch.full((n - s,), i, dtype=torch.long))
            pos.append(torch.arange(n - s))
        dev = self.device
        rows_t = torch.cat(rows).to(dev)
        self._head(hidden, rows_t, flat_ids[rows_t + 1], torch.cat(doc).to(dev), torch.cat(pos).to(dev), sink)

    def _segmented(self, items, i: int, sink):
        """One trajectory longer than `max_batch_tokens`: segments of that size, the KV cache carried forward."""
        import inspect

        import torch

        x_list, start = items[i]
        s0 = max(start, 1)
        x = torch.tensor(x_list, dtype=torch.long).to(self.device)
        dec = self._decoder()
        # transformers >= 5.2x renamed the KV-cache argument `past_key_values` → `cache`.
        arg = "cache" if "cache" in inspect.signature(dec.forward).parameters else "past_key_values"
        seg, past, n = max(1, int(self.max_batch_tokens)), None, len(x_list)
        for s in range(0, n - 1, seg):
            e = min(s + seg, n - 1)
            out = dec(input_ids=x[None, s:e], use_cache=True, **{arg: past})
            past = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
            lo = max(s0 - 1, s)
            if lo < e:
                rows = torch.arange(lo - s, e - s, device=self.device)
                tg = x[lo + 1: e + 1]
                self._head(out.last_hidden_state[0], rows, tg, torch.full_like(rows, i),
                           torch.arange(lo - s0 + 1, e - s0 + 1, device=self.device), sink)
            del out
        yield i, n - s0


class _Compiled:
    """A compiled function that falls back to the eager one (once, with a warning) when compilation fails."""

    def __init__(self, fn):
        self.fn, self.failed = fn, False

    def __call__(self, *a):
        if not self.failed:
            try:
                return self.fn(*a)
            except Exception as e:  # noqa: BLE001 - inductor/triton errors have no common base class
                import logging

                logging.getLogger(__name__).warning("student scores: torch.compile of the statistics failed (%s: %s); "
                                                    "running them eagerly", type(e).__name__, str(e)[:200])
                self.failed = True
        return _stats(*a)


def _first_fit(lengths: dict[int, int], cap: int) -> list[list[int]]:
    """First-fit decreasing: groups of item indices whose lengths sum to at most `cap`."""
    groups: list[list[int]] = []
    room: list[int] = []
    for i in sorted(lengths, key=lambda j: -lengths[j]):
        b = next((k for k, r in enumerate(room) if r >= lengths[i]), None)
        if b is None:
            groups.append([i])
            room.append(cap - lengths[i])
        else:
            groups[b].append(i)
            room[b] -= lengths[i]
    return groups


def _row_groups(lengths: dict[int, int], cap: int) -> list[list[int]]:
    """Length-sorted runs of items padded to their longest: rows x longest <= `cap` tokens per group."""
    groups: list[list[int]] = []
    for i in sorted(lengths, key=lambda j: -lengths[j]):
        if groups and (len(groups[-1]) + 1) * lengths[groups[-1][0]] <= cap:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups
