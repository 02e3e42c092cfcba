"""ded.backends.openai against a real HTTP server on 127.0.0.1 (tests/openai_stub.py)."""

import time

import pytest
from openai_stub import OK, Action, StubServer, fail_first, prompt_of

from ded.backends import GenRequest, Sampling, get_backend
from ded.params import ModelSpec


def backend(srv, **options):
    opts = {"backoff_s": 0.01, "backoff_max_s": 0.05, "max_retries": 4, **options}
    return get_backend(ModelSpec(name="t", backend="openai", model="stub-model", base_url=srv.url, options=opts))


def reqs(n, k=1, max_tokens=100):
    return [GenRequest(key=f"q{q}#{i}", messages=[{"role": "user", "content": f"question {q}"}],
                       sampling=Sampling(0.6, 0.95, max_tokens, 7 + i), sample_idx=i)
            for q in range(n) for i in range(k)]


def test_answers_carry_text_usage_and_finish_reason():
    with StubServer() as srv:
        res = {r.key: r for r in backend(srv).generate(reqs(5))}
    assert set(res) == {f"q{q}#0" for q in range(5)}
    r = res["q3#0"]
    assert r.ok and r.finish_reason == "stop" and r.text.startswith("<think>")
    body = next(b for b in srv.bodies if b["messages"][0]["content"] == "question 3")
    assert r.text == StubServer.text_for(prompt_of(body), 7, 0, 12)
    assert r.prompt_tokens == len(prompt_of(body).split()) and r.completion_tokens == len(r.text.split())
    assert body == {"model": "stub-model", "messages": [{"role": "user", "content": "question 3"}],
                    "temperature": 0.6, "top_p": 0.95, "max_tokens": 100, "seed": 7}


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_on_rate_limit_and_server_errors(status):
    with StubServer(script=fail_first(2, status=status)) as srv:
        res = list(backend(srv).generate(reqs(6)))
    assert all(r.ok for r in res) and len(res) == 6
    assert srv.calls == 18  # 2 failures + 1 success per prompt
    assert set(srv.prompts.values()) == {3}


def test_gives_up_after_max_retries_with_the_reason():
    with StubServer(script=lambda n, b: Action("status", status=500, retry_after=None)) as srv:
        res = list(backend(srv, max_retries=2).generate(reqs(2)))
    assert srv.calls == 6
    assert all(r.finish_reason == "error" and "gave up after 3 attempts" in r.error and "HTTP 500" in r.error for r in res)


def test_client_errors_fail_at_once_and_401_names_the_key_variable():
    with StubServer(script=lambda n, b: Action("status", status=400)) as srv:
        res = list(backend(srv).generate(reqs(2)))
    assert srv.calls == 2 and all("HTTP 400" in r.error for r in res)
    with StubServer(script=lambda n, b: Action("status", status=401)) as srv:
        res = list(backend(srv).generate(reqs(1)))
    assert "OPENAI_API_KEY" in res[0].error


def test_stalled_requests_time_out_and_are_retried():
    stalled = []

    def script(n, body):
        if n <= 2:  # the first two calls hang far past the timeout
            stalled.append(n)
            return Action("stall", seconds=1.5)
        return OK

    with StubServer(script=script) as srv:
        res = list(backend(srv, timeout_s=0.3).generate(reqs(2)))
        calls = srv.calls
    assert all(r.ok for r in res) and calls == 4 and stalled == [1, 2]


def test_truncated_answers_report_length():
    with StubServer(script=lambda n, b: Action("truncate")) as srv:
        res = list(backend(srv).generate(reqs(2)))
    assert all(r.ok and r.finish_reason == "length" for r in res)


def test_concurrency_limit_holds():
    with StubServer(delay=0.05) as srv:
        res = list(backend(srv, concurrency=4).generate(reqs(24)))
    assert len(res) == 24
    assert srv.max_in_flight == 4  # parallel, and never more than the limit


def test_samples_of_one_prompt_go_as_one_call_with_n():
    with StubServer() as srv:
        res = {r.key: r for r in backend(srv, max_n=4).generate(reqs(3, k=4))}
    assert srv.calls == 3 and all(b["n"] == 4 and b["seed"] == 7 for b in srv.bodies)
    assert len({r.text for r in res.values()}) == 12  # four distinct choices per prompt
    assert [res[f"q0#{i}"].sample_idx for i in range(4)] == [0, 1, 2, 3]
    assert all(r.tokens_estimated for r in res.values())
    usage_total = 4 * len(res["q0#0"].text.split())
    assert sum(res[f"q0#{i}"].completion_tokens for i in range(4)) == pytest.approx(usage_total, abs=8)


def test_reasoning_content_is_put_back_as_think_block():
    from ded.backends.openai import OpenAIBackend

    b = OpenAIBackend(ModelSpec(name="t", backend="openai", model="m", base_url="http://127.0.0.1:1/v1"))
    data = {"choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"content": "42", "reasoning_content": "6*7"}}]}
    (r,) = b.parse(reqs(1), data)
    assert r.text == "<think>\n6*7\n</think>\n\n42" and r.completion_tokens is None


def test_api_key_from_the_environment_is_sent_and_none_without_it(monkeypatch):
    monkeypatch.setenv("STUB_KEY", "sekret")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with StubServer() as srv:
        list(get_backend(ModelSpec(name="t", backend="openai", model="m", base_url=srv.url,
                                   api_key_env="STUB_KEY")).generate(reqs(1)))
        list(backend(srv).generate(reqs(1)))
    assert srv.auth == ["Bearer sekret", None]


def test_stopping_early_cancels_the_rest():
    with StubServer(delay=0.05) as srv:
        it = backend(srv, concurrency=2).generate(reqs(40))
        first = next(it)
        it.close()
        time.sleep(0.2)
        calls = srv.calls
    assert first.ok and calls < 10


def test_raw_prompts_use_the_completions_endpoint():
    with StubServer() as srv:
        res = list(backend(srv).generate([GenRequest(key="r", prompt="2 + 2 =", sampling=Sampling(0.0, 1.0, 50, 1))]))
    assert res[0].ok and res[0].text == StubServer.text_for("2 + 2 =", 1, 0, 12)
    assert srv.bodies[0]["prompt"] == "2 + 2 =" and "messages" not in srv.bodies[0]


def test_no_server_fails_at_once_with_the_fix():
    import socket

    from ded.errors import DedError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = get_backend(ModelSpec(name="t", backend="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(DedError, match=r"cannot connect to http://127.0.0.1:\d+/v1.*models\[\].base_url"):
        list(b.generate(reqs(3)))
