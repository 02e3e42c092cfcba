"""Any OpenAI-compatible endpoint: `vllm serve`, SGLang, TGI, hosted APIs.

Asynchronous (aiohttp) with at most `concurrency` requests in flight; retries with exponential
backoff and jitter on 429, 408, 5xx, timeouts and dropped connections, honouring `Retry-After`;
other 4xx answers fail their requests at once with the server's message. Samples of one prompt are
sent as one call with `n` (up to `max_n`), which servers answer with a shared prefill. Usage
(`prompt_tokens`, `completion_tokens`) and each choice's `finish_reason` are recorded; with n > 1
the shared completion count is split over the choices by length (`tokens_estimated`).

Reasoning servers (vLLM/SGLang with a reasoning parser) return the thinking separately as
`reasoning_content` (or `reasoning`); it is put back as `<think>…</think>` before the answer, so
trajectories hold the full response as the model wrote it.

options (ModelSpec.options): concurrency (64), max_retries (8), backoff_s (1.0), backoff_max_s
(60), timeout_s (600: long reasoning takes minutes), endpoint (auto | chat | completions),
max_n (16; 1 sends one request per sample), max_tokens_field (max_tokens; hosted o-series models
want max_completion_tokens), extra_body ({} merged into every request, e.g. {top_k: 20}).
The API key is read from the environment variable `api_key_env` (OPENAI_API_KEY); none is sent
when it is unset, which is what a local `vllm serve` expects.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import threading
from collections.abc import Iterator

from ded.backends.base import (
    Backend,
    GenRequest,
    GenResult,
    apportion,
    error_result,
    group_samples,
)
from ded.errors import DedError, MissingDependency

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}
_DONE = object()


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, spec):
        super().__init__(spec)
        o = dict(spec.options or {})
        self.base_url = (spec.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.concurrency = int(o.get("concurrency", 64))
        self.max_retries = int(o.get("max_retries", 8))
        self.backoff_s = float(o.get("backoff_s", 1.0))
        self.backoff_max_s = float(o.get("backoff_max_s", 60.0))
        self.timeout_s = float(o.get("timeout_s", 600.0))
        self.endpoint = o.get("endpoint", "auto")
        self.max_n = int(o.get("max_n", 16))
        self.max_tokens_field = o.get("max_tokens_field", "max_tokens")
        self.extra_body = dict(o.get("extra_body") or {})
        if self.concurrency < 1 or self.max_n < 1:
            raise ValueError(f"{spec.name}: options.concurrency and options.max_n must be >= 1")
        if self.endpoint not in ("auto", "chat", "completions"):
            raise ValueError(f"{spec.name}: options.endpoint must be auto, chat or completions, got {self.endpoint!r}")
        self.api_key = os.environ.get(spec.api_key_env or "OPENAI_API_KEY")

    # -- request/response mapping (pure) ------------------------------------------------------
    def _chat(self, req: GenRequest) -> bool:
        return self.endpoint == "chat" or (self.endpoint == "auto" and req.is_chat)

    def url(self, req: GenRequest) -> str:
        return self.base_url + ("/chat/completions" if self._chat(req) else "/completions")

    def body(self, group: list[GenRequest]) -> dict:
        r, s = group[0], group[0].sampling
        b = {"model": self.spec.model, "temperature": s.temperature, "top_p": s.top_p,
             self.max_tokens_field: s.max_tokens, "seed": s.seed}
        if s.top_k:
            b["top_k"] = s.top_k  # a vLLM/SGLang extension; hosted OpenAI models reject it
        if len(group) > 1:
            b["n"] = len(group)
        if self._chat(r):
            b["messages"] = list(r.messages) if r.is_chat else [{"role": "user", "content": r.prompt}]
        else:
            if r.is_chat:
                raise ValueError(f"{self.spec.name}: endpoint 'completions' needs raw prompt requests")
            b["prompt"] = r.prompt
        b.update(self.extra_body)
        return b

    def parse(self, group: list[GenRequest], data: dict) -> list[GenResult]:
        choices = sorted(data.get("choices") or [], key=lambda c: c.get("index", 0))
        usage = data.get("usage") or {}
        texts = [_choice_text(c) for c in choices]
        shares = apportion(usage.get("completion_tokens"), texts[:len(group)])
        out = []
        for i, req in enumerate(group):
            if i >= len(choices):
                out.append(error_result(req, f"server returned {len(choices)} choices for n={len(group)}"))
                continue
            reason = choices[i].get("finish_reason") or "stop"
            if reason not in ("stop", "length", "eos", "end_turn"):
                out.append(error_result(req, f"finish_reason {reason!r}"))
                continue
            out.append(GenResult(key=req.key, text=texts[i], finish_reason="length" if reason == "length" else "stop",
                                 prompt_tokens=usage.get("prompt_tokens"), completion_tokens=shares[i],
                                 sample_idx=req.sample_idx, tokens_estimated=len(group) > 1))
        return out

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.backoff_max_s)
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        return min(self.backoff_max_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random() / 2)

    # -- the async client ---------------------------------------------------------------------
    async def _call(self, session, group: list[GenRequest]) -> list[GenResult]:
        import aiohttp

        url, body, last = self.url(group[0]), self.body(group), ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                async with session.post(url, json=body) as resp:
                    if resp.status == 200:
                        return self.parse(group, await resp.json(content_type=None))
                    text = (await resp.text())[:300]
                    last = f"HTTP {resp.status} from {url}: {text}"
                    if resp.status in (401, 403):
                        last += f" (set the API key in ${self.spec.api_key_env})"
                    if resp.status not in RETRY_STATUS:
                        return [error_result(r, last) for r in group]
                    retry_after = resp.headers.get("Retry-After")
            except (TimeoutError, aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as e:
                last = f"{type(e).__name__} from {url}: {e or f'timed out after {self.timeout_s}s'}"
            except ValueError as e:  # invalid JSON in a 200 answer
                last = f"unreadable answer from {url}: {e}"
            if attempt < self.max_retries:
                await asyncio.sleep(self.delay(attempt, retry_after))
        return [error_result(r, f"gave up after {self.max_retries + 1} attempts: {last}") for r in group]

    async def _preflight(self, session) -> None:
        """Fail at once, with the fix, when nothing listens at base_url (instead of minutes of
        retries per request). Any HTTP answer, even 404, means a server is there."""
        import aiohttp

        try:
            async with session.get(self.base_url + "/models", timeout=aiohttp.ClientTimeout(total=10)) as r:
                await r.read()
        except aiohttp.ClientConnectorError as e:
            raise DedError(f"cannot connect to {self.base_url} (model {self.spec.name!r}): {e}; is the server "
                           f"running? (models[].base_url)") from None
        except (asyncio.TimeoutError, aiohttp.ClientError):
            pass  # reachable but slow or odd: let the requests and their retries decide

    async def _run(self, groups: list[list[GenRequest]], out: queue.Queue) -> None:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        pending = iter(groups)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session:
            await self._preflight(session)

            async def worker() -> None:  # `concurrency` workers share one iterator: the limit holds
                for g in pending:
                    out.put(await self._call(session, g))

            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(groups)))))

    def generate(self, requests: list[GenRequest]) -> Iterator[GenResult]:
        try:
            import aiohttp  # noqa: F401
        except ImportError as e:
            raise MissingDependency("aiohttp", why="the openai backend's HTTP client") from e
        groups = group_samples(requests, self.max_n)
        if not groups:
            return
        out: queue.Queue = queue.Queue()
        state: dict = {}

        def runner() -> None:
            loop = asyncio.new_event_loop()
            state["loop"] = loop
            try:
                state["task"] = loop.create_task(self._run(groups, out))
                loop.run_until_complete(state["task"])
            except asyncio.CancelledError:
                pass
            except BaseException as e:  # noqa: BLE001 (re-raised in the caller's thread)
                out.put(e)
            finally:
                loop.close()
                out.put(_DONE)

        thread = threading.Thread(target=runner, name=f"ded-openai-{self.spec.name}", daemon=True)
        thread.start()
        try:
            while (item := out.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:  # the caller stopped early (error, Ctrl-C): cancel what is in flight
            loop, task = state.get("loop"), state.get("task")
            if thread.is_alive() and loop is not None and task is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:
                    pass  # the loop closed meanwhile
            thread.join(timeout=10)


def _choice_text(choice: dict) -> str:
    msg = choice.get("message")
    if msg is None:
        return choice.get("text") or ""
    content = msg.get("content") or ""
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    return f"<think>\n{reasoning}\n</think>\n\n{content}" if reasoning else content
