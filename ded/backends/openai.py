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

Several endpoints per model (`base_url` a list of URLs or {url, weight}): each attempt of a request goes
to the next healthy endpoint by smooth weighted round-robin, so requests spread by weight. Every endpoint
is health-checked before the first request (GET /models; any answer below 500 is healthy). An endpoint that
refuses a connection, or fails `unhealthy_after` (3) attempts in a row at the transport (dropped
connection, timeout), is marked down with a warning on stderr and skipped; it is probed again every
`health_check_s` (10) and rejoins when it answers. A request whose attempt failed on one endpoint is
retried (with the usual backoff) on the next. When every endpoint is down, requests wait for one to come
back, and after `all_down_timeout_s` (300) they fail as infrastructure failures (never saved, never a
wrong answer of the model: the rerun sends them again). With one endpoint none of this changes anything:
it is never skipped, its requests retry as above.
"""

from __future__ import annotations

import asyncio
import os
import queue
import random
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

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


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass
class Endpoint:
    url: str
    weight: float = 1.0
    healthy: bool = True
    fails: int = 0  # transport failures in a row
    why: str = ""  # the last failure, while down
    current: float = 0.0  # smooth weighted round-robin state
    attempts: int = 0  # requests sent here (for reports and tests)


class EndpointPool:
    """A model's endpoints: weighted choice among the healthy ones, marking down, probing back.

    Lives in the backend's event loop thread; nothing here needs a lock."""

    def __init__(self, model: str, endpoints: list[tuple[str, float]], unhealthy_after: int = 3,
                 health_check_s: float = 10.0, all_down_timeout_s: float = 300.0):
        self.model = model
        self.all = [Endpoint(url.rstrip("/"), float(w)) for url, w in endpoints]
        self.unhealthy_after, self.health_check_s = unhealthy_after, health_check_s
        self.all_down_timeout_s = all_down_timeout_s
        self.all_down_since: float | None = None

    @property
    def single(self) -> bool:
        return len(self.all) == 1

    def healthy(self) -> list[Endpoint]:
        return [e for e in self.all if e.healthy]

    def pick(self) -> Endpoint | None:
        """The next healthy endpoint by smooth weighted round-robin (nginx's): over any window, each
        endpoint gets its weight's share of the picks; None when every endpoint is down."""
        up = self.healthy()
        if not up:
            return None
        total = sum(e.weight for e in up)
        for e in up:
            e.current += e.weight
        best = max(up, key=lambda e: e.current)
        best.current -= total
        best.attempts += 1
        return best

    def answered(self, e: Endpoint) -> None:
        """Any HTTP answer: the server is there."""
        e.fails = 0

    def failed(self, e: Endpoint, why: str, refused: bool) -> None:
        """A transport failure at `e` (refused: nothing listens there, so it is down at once)."""
        e.fails += 1
        if not self.single and e.healthy and (refused or e.fails >= self.unhealthy_after):
            self.down(e, why)

    def down(self, e: Endpoint, why: str) -> None:
        e.healthy, e.why, e.current = False, " ".join(why.split())[:200], 0.0
        up = self.healthy()
        if up:
            _warn(f"endpoint {e.url} of model {self.model!r} is down ({e.why}); its requests go to the "
                  f"{len(up)} other endpoint(s) until it answers again (checked every {self.health_check_s:g}s)")
        else:
            self.all_down_since = time.monotonic()
            _warn(f"every endpoint of model {self.model!r} is down: {self.describe()}; requests wait for one to "
                  f"answer (checked every {self.health_check_s:g}s) and fail as infrastructure failures after "
                  f"{self.all_down_timeout_s:g}s (options.all_down_timeout_s)")

    def up(self, e: Endpoint) -> None:
        e.healthy, e.fails, e.why = True, 0, ""
        self.all_down_since = None
        _warn(f"endpoint {e.url} of model {self.model!r} answers again; requests go to it")

    def describe(self) -> str:
        return "; ".join(f"{e.url} ({e.why or 'down'})" for e in self.all if not e.healthy)

    def all_down_for(self) -> float:
        return 0.0 if self.all_down_since is None else time.monotonic() - self.all_down_since

    async def probe(self, session, e: Endpoint) -> str | None:
        """None when `e` answers GET /models below 500, else why not."""
        import aiohttp

        try:
            async with session.get(e.url + "/models", timeout=aiohttp.ClientTimeout(total=10)) as r:
                await r.read()
                return None if r.status < 500 else f"GET /models answered HTTP {r.status}"
        except (TimeoutError, aiohttp.ClientError) as x:
            return f"{type(x).__name__}: {x or 'timed out'}"

    async def watch(self, session) -> None:
        """Probe the endpoints that are down every `health_check_s`; bring back those that answer."""
        while True:
            await asyncio.sleep(self.health_check_s)
            for e in [e for e in self.all if not e.healthy]:
                if await self.probe(session, e) is None:
                    self.up(e)

    async def wait_for_one(self) -> bool:
        """While every endpoint is down: sleep a little; False once that has lasted all_down_timeout_s."""
        left = self.all_down_timeout_s - self.all_down_for()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, self.health_check_s / 4, 1.0))
        return True


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, spec):
        super().__init__(spec)
        o = dict(spec.options or {})
        eps = [(e.url, e.weight) for e in spec.endpoints()] if hasattr(spec, "endpoints") else []
        if not eps:
            eps = [(spec.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1", 1.0)]
        self.base_url = eps[0][0].rstrip("/")  # the first endpoint (the only one, usually)
        self.concurrency = int(o.get("concurrency", 64))
        self.max_retries = int(o.get("max_retries", 8))
        self.backoff_s = float(o.get("backoff_s", 1.0))
        self.backoff_max_s = float(o.get("backoff_max_s", 60.0))
        self.timeout_s = float(o.get("timeout_s", 600.0))
        self.endpoint = o.get("endpoint", "auto")
        self.max_n = int(o.get("max_n", 16))
        self.max_tokens_field = o.get("max_tokens_field", "max_tokens")
        self.extra_body = dict(o.get("extra_body") or {})
        self.unhealthy_after = int(o.get("unhealthy_after", 3))
        self.health_check_s = float(o.get("health_check_s", 10.0))
        self.all_down_timeout_s = float(o.get("all_down_timeout_s", 300.0))
        self.endpoint_list = eps
        self.pool: EndpointPool | None = None  # made per generate() call, in its event loop
        if self.unhealthy_after < 1 or self.health_check_s <= 0 or self.all_down_timeout_s < 0:
            raise ValueError(f"{spec.name}: options.unhealthy_after must be >= 1, health_check_s > 0, "
                             "all_down_timeout_s >= 0")
        if self.concurrency < 1 or self.max_n < 1:
            raise ValueError(f"{spec.name}: options.concurrency and options.max_n must be >= 1")
        if self.endpoint not in ("auto", "chat", "completions"):
            raise ValueError(f"{spec.name}: options.endpoint must be auto, chat or completions, got {self.endpoint!r}")
        self.api_key = os.environ.get(spec.api_key_env or "OPENAI_API_KEY")

    # -- request/response mapping (pure) ------------------------------------------------------
    def _chat(self, req: GenRequest) -> bool:
        return self.endpoint == "chat" or (self.endpoint == "auto" and req.is_chat)

    def url(self, req: GenRequest, base: str | None = None) -> str:
        return (base or self.base_url) + ("/chat/completions" if self._chat(req) else "/completions")

    def new_pool(self) -> EndpointPool:
        return EndpointPool(self.spec.name, self.endpoint_list, self.unhealthy_after, self.health_check_s,
                            self.all_down_timeout_s)

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

        pool = self.pool or self.new_pool()
        body, last, attempt = self.body(group), "", 0
        while attempt <= self.max_retries:
            ep = pool.pick()
            if ep is None:  # every endpoint is down: wait for the watcher to bring one back, for so long
                if await pool.wait_for_one():
                    continue
                why = (f"infrastructure: every endpoint of model {self.spec.name!r} has been down for "
                       f"{pool.all_down_for():.0f}s: {pool.describe()}")
                return [error_result(r, f"{why} (not a model failure; rerun when a server answers)") for r in group]
            url, retry_after = self.url(group[0], ep.url), None
            try:
                async with session.post(url, json=body) as resp:
                    pool.answered(ep)
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
                pool.failed(ep, last, refused=isinstance(e, aiohttp.ClientConnectorError))
            except ValueError as e:  # invalid JSON in a 200 answer
                last = f"unreadable answer from {url}: {e}"
            if attempt < self.max_retries:
                await asyncio.sleep(self.delay(attempt, retry_after))
            attempt += 1
        if not pool.single and not pool.healthy():
            last = f"infrastructure: every endpoint of model {self.spec.name!r} is down: {pool.describe()}; last: {last}"
        return [error_result(r, f"gave up after {self.max_retries + 1} attempts: {last}") for r in group]

    async def _preflight(self, session) -> None:
        """Fail at once, with the fix, when nothing listens at base_url (instead of minutes of
        retries per request). Any HTTP answer, even 404, means a server is there. With several
        endpoints: each is health-checked; those that fail start down (with a warning), and only
        all of them failing stops the run."""
        import aiohttp

        pool = self.pool
        if pool is None or pool.single:
            try:
                async with session.get(self.base_url + "/models", timeout=aiohttp.ClientTimeout(total=10)) as r:
                    await r.read()
            except aiohttp.ClientConnectorError as e:
                raise DedError(f"cannot connect to {self.base_url} (model {self.spec.name!r}): {e}; is the server "
                               f"running? (models[].base_url)") from None
            except (TimeoutError, aiohttp.ClientError):
                pass  # reachable but slow or odd: let the requests and their retries decide
            return
        whys = await asyncio.gather(*(pool.probe(session, e) for e in pool.all))
        if all(whys):
            raise DedError(f"cannot connect to any of the {len(pool.all)} endpoints of model {self.spec.name!r}: "
                           + "; ".join(f"{e.url} ({w})" for e, w in zip(pool.all, whys))
                           + "; are the servers running? (models[].base_url)")
        for e, why in zip(pool.all, whys):
            if why:
                pool.down(e, f"health check: {why}")

    async def _run(self, groups: list[list[GenRequest]], out: queue.Queue) -> None:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        pending = iter(groups)
        self.pool = self.new_pool()
        # health checks get a session of their own: on the requests' one they would queue behind
        # `concurrency` busy connections and a server that came back would wait for the run's end
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as session, \
                aiohttp.ClientSession(headers=headers) as checks:
            await self._preflight(checks)
            watcher = None if self.pool.single else asyncio.ensure_future(self.pool.watch(checks))

            async def worker() -> None:  # `concurrency` workers share one iterator: the limit holds
                for g in pending:
                    out.put(await self._call(session, g))

            try:
                await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(groups)))))
            finally:
                if watcher is not None:
                    watcher.cancel()

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
