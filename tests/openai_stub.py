"""An OpenAI-compatible HTTP server for tests and benches, on 127.0.0.1 in a background thread.

It answers `/v1/chat/completions` and `/v1/completions` (with `n`, `usage`, `finish_reason`) with a
deterministic text derived from the prompt, the seed and the choice index, and can misbehave on
purpose: a `script(call_no, body) -> Action` decides per HTTP request whether to answer, fail with
a status (429, 500, …, with an optional Retry-After), stall, truncate, or drop the connection. It
counts every request, the prompts it saw, and the largest number of requests in flight at once.

    with StubServer(script=fail_first(2, status=429)) as srv:
        backend = OpenAIBackend(ModelSpec(name="t", backend="openai", model="stub", base_url=srv.url))
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web


@dataclass
class Action:
    kind: str = "ok"  # ok | status | stall | truncate | drop
    status: int = 200
    seconds: float = 0.0
    retry_after: float | None = None


OK = Action()


def prompt_of(body: dict) -> str:
    if "messages" in body:
        return json.dumps(body["messages"], sort_keys=True)
    return body.get("prompt", "")


def fail_first(k: int, status: int = 429, retry_after: float | None = 0) -> Callable:
    """Each distinct prompt fails its first `k` requests with `status`, then succeeds."""
    seen: Counter = Counter()
    lock = threading.Lock()

    def script(call_no: int, body: dict) -> Action:
        with lock:
            seen[prompt_of(body)] += 1
            n = seen[prompt_of(body)]
        return Action("status", status=status, retry_after=retry_after) if n <= k else OK

    return script


class StubServer:
    def __init__(self, script: Callable[[int, dict], Action] | None = None, delay: float = 0.0,
                 words: int = 12, port: int = 0, reply: Callable[[dict], str] | None = None):
        self.script, self.delay, self.words, self.port = script, delay, words, port
        self.reply = reply  # reply(body) -> the answer's text (a judge's verdict), instead of the hash text
        self.calls = 0
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []  # the Authorization header of each request
        self.prompts: Counter = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.model_checks = 0  # GET /v1/models
        self._lock = threading.Lock()
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @staticmethod
    def text_for(prompt: str, seed, index: int, words: int) -> str:
        h = hashlib.sha256(f"{prompt}|{seed}|{index}".encode()).hexdigest()
        body = " ".join(h[i:i + 4] for i in range(0, 4 * words, 4)[:words])
        return f"<think>\nLet me think. {body}\n</think>\n\nThe answer is \\boxed{{{int(h[:4], 16) % 100}}}."

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        with self._lock:
            self.calls += 1
            call_no = self.calls
            self.bodies.append(body)
            self.auth.append(request.headers.get("Authorization"))
            self.prompts[prompt_of(body)] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            action = self.script(call_no, body) if self.script else OK
            if self.delay:
                await asyncio.sleep(self.delay)
            if action.kind == "stall":
                await asyncio.sleep(action.seconds)
            if action.kind == "status":
                headers = {} if action.retry_after is None else {"Retry-After": str(action.retry_after)}
                return web.json_response({"error": {"message": f"stub says {action.status}"}},
                                         status=action.status, headers=headers)
            if action.kind == "drop":
                request.transport.close()
                return web.Response(status=500)
            return web.json_response(self._answer(body, truncate=action.kind == "truncate"))
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _models(self, request: web.Request) -> web.Response:
        """The health check's GET /v1/models (not counted in `calls`)."""
        with self._lock:
            self.model_checks += 1
        return web.json_response({"object": "list", "data": [{"id": "stub", "object": "model"}]})

    def _answer(self, body: dict, truncate: bool) -> dict:
        prompt, chat = prompt_of(body), "messages" in body
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 16
        choices, completion = [], 0
        for i in range(int(body.get("n") or 1)):
            text = self.reply(body) if self.reply else self.text_for(prompt, body.get("seed"), i, self.words)
            reason = "stop"
            if truncate or len(text.split()) > max_tokens:
                text, reason = " ".join(text.split()[:min(max_tokens, 3)]), "length"
            completion += len(text.split())
            choice = {"index": i, "finish_reason": reason}
            choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            choices.append(choice)
        return {"id": f"stub-{self.calls}", "object": "chat.completion" if chat else "text_completion",
                "model": body.get("model"), "choices": choices,
                "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": completion,
                          "total_tokens": len(prompt.split()) + completion}}

    # -- lifecycle ------------------------------------------------------------------------------
    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/v1/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
        loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def start(self) -> StubServer:
        self._thread = threading.Thread(target=self._serve, name="openai-stub", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("stub server did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def reset_counts(self) -> None:
        with self._lock:
            self.calls, self.max_in_flight = 0, 0
            self.bodies.clear()
            self.auth.clear()
            self.prompts.clear()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # `python tests/openai_stub.py PORT`: a server to point `ded generate` at
    import sys
    import time

    srv = StubServer(port=int(sys.argv[1]) if len(sys.argv) > 1 else 8000).start()
    print(f"serving on {srv.url}", flush=True)
    while True:
        time.sleep(3600)
