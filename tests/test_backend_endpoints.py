"""Several OpenAI-compatible endpoints per model: requests spread by weight, a killed server skipped with a
warning and brought back by the health check, every server down reported as an infrastructure failure (not
saved, sent again by the rerun). Real HTTP servers on 127.0.0.1 (tests/openai_stub.py)."""

from __future__ import annotations

import threading
import time

import pytest
from openai_stub import StubServer, prompt_of

from ded.backends import GenRequest, Sampling, get_backend
from ded.errors import DedError
from ded.ids import question_id
from ded.params import ModelSpec, ParamsError, parse_params

FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05, "max_retries": 4, "max_n": 1, "health_check_s": 0.1}


def backend(urls, **options):
    return get_backend(ModelSpec(name="t", backend="openai", model="stub-model", base_url=urls,
                                 options={**FAST, **options}))


def reqs(n, tag="question"):
    return [GenRequest(key=f"{tag}{q}", messages=[{"role": "user", "content": f"{tag} {q}"}],
                       sampling=Sampling(0.6, 0.95, 100, 7)) for q in range(n)]


def expected_text(req: GenRequest) -> str:
    """What any stub answers for this request (the text depends on prompt and seed only)."""
    return StubServer.text_for(prompt_of({"messages": list(req.messages)}), req.sampling.seed, 0, 12)


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        time.sleep(0.01)
    return cond()


def test_requests_spread_by_weight():
    with StubServer() as a, StubServer() as b:
        res = list(backend([{"url": a.url, "weight": 3}, {"url": b.url, "weight": 1}]).generate(reqs(40)))
        assert all(r.ok for r in res) and len(res) == 40
        assert (a.calls, b.calls) == (30, 10)
        assert a.model_checks == 1 and b.model_checks == 1  # each health-checked before the first request
        a.reset_counts(), b.reset_counts()
        list(backend([a.url, b.url]).generate(reqs(20)))  # plain URLs: weight 1 each
        assert (a.calls, b.calls) == (10, 10)


def test_killed_endpoint_is_skipped_loudly_and_no_request_is_lost(capsys):
    rs = reqs(80)
    a, b = StubServer(delay=0.02).start(), StubServer(delay=0.02).start()
    try:
        killer = threading.Thread(target=lambda: wait_for(lambda: a.calls >= 5) and a.stop())
        killer.start()
        res = list(backend([a.url, b.url], concurrency=4).generate(rs))
        killer.join()
        assert a.calls >= 5
    finally:
        b.stop()
    assert sorted(r.key for r in res) == sorted(r.key for r in rs)  # every request once
    assert all(r.ok for r in res), [r.error for r in res if not r.ok][:3]
    by_key = {r.key: r for r in res}
    assert all(by_key[q.key].text == expected_text(q) for q in rs)
    assert b.calls >= 80 - a.calls  # the rest (and what was in flight at a) went to b
    err = capsys.readouterr().err
    assert f"warning: endpoint {a.url} of model 't' is down" in err and "1 other endpoint" in err


def test_a_server_that_comes_back_gets_requests_again(capsys):
    a, b = StubServer(delay=0.01).start(), StubServer(delay=0.03).start()
    port = a.port
    be = backend([a.url, b.url], concurrency=4)
    state: dict = {}

    def chaos():
        wait_for(lambda: a.calls >= 5)
        a.stop()
        wait_for(lambda: be.pool is not None and not be.pool.all[0].healthy)
        state["a2"] = StubServer(port=port, delay=0.01).start()

    t = threading.Thread(target=chaos)
    t.start()
    try:
        res = list(be.generate(reqs(400)))
        t.join()
    finally:
        b.stop()
        if "a2" in state:
            state["a2"].stop()
    assert all(r.ok for r in res) and len({r.key for r in res}) == 400
    assert state["a2"].calls > 0  # the health check brought it back within the run
    err = capsys.readouterr().err
    assert "is down" in err and f"endpoint {a.url} of model 't' answers again" in err


def test_one_endpoint_down_at_start_is_skipped_and_all_down_stops_at_once(capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with StubServer() as b:
        res = list(backend([dead, b.url]).generate(reqs(6)))
    assert all(r.ok for r in res) and b.calls == 6
    assert f"endpoint {dead} of model 't' is down (health check" in capsys.readouterr().err
    with pytest.raises(DedError, match=r"cannot connect to any of the 2 endpoints of model 't'.*base_url"):
        list(backend([dead, dead.replace("/v1", "/w1")]).generate(reqs(2)))


def test_every_endpoint_down_mid_run_is_an_infrastructure_failure_not_saved(lake, tmp_path, monkeypatch, capsys):
    """Through `ded generate`: both servers die after a few answers; the stage commits what was answered,
    reports the rest as infrastructure failures (never written as trajectories), and the rerun with the
    servers back sends exactly the missing requests."""
    from ded.stages.generate import main

    monkeypatch.chdir(tmp_path)
    lake.merge("questions", [{"question_id": question_id(f"Compute {i} times {i}."), "domain": "math",
                              "source": "test", "problem": f"Compute {i} times {i}."} for i in range(30)])
    a, b = StubServer(delay=0.02).start(), StubServer(delay=0.02).start()
    ports = (a.port, b.port)

    def params(urls):
        return parse_params({"models": [{"name": "api", "backend": "openai", "model": "stub", "base_url": urls,
                                         "sampling": {"temperature": 0.7, "max_tokens": 64, "n": 1, "seed": 3},
                                         "options": {**FAST, "concurrency": 2, "all_down_timeout_s": 0.5}}],
                             "generate": {"models": ["api"], "commit_rows": 4}})

    killer = threading.Thread(target=lambda: wait_for(lambda: a.calls + b.calls >= 6) and (a.stop(), b.stop()))
    killer.start()
    with pytest.raises(DedError, match=r"infrastructure: every endpoint of model 'api'.*not a model failure"):
        main(params([a.url, b.url]), lake, echo=lambda s: None)
    killer.join()
    answered = a.calls + b.calls
    saved = lake.count("trajectories")
    assert 0 < saved <= answered < 30
    assert "every endpoint of model 'api' is down" in capsys.readouterr().err
    a2, b2 = StubServer(port=ports[0]).start(), StubServer(port=ports[1]).start()
    try:
        out = main(params([a2.url, b2.url]), lake, echo=lambda s: None)
    finally:
        a2.stop(), b2.stop()
    assert out["models"]["api"]["generated"] == 30 - saved == a2.calls + b2.calls
    assert lake.count("trajectories") == 30 and lake.duplicate_keys("trajectories") == 0


def test_params_keep_a_single_url_and_validate_lists():
    one = ModelSpec(name="t", backend="openai", model="m", base_url="http://h:8000/v1")
    assert one.base_url == "http://h:8000/v1" and [(e.url, e.weight) for e in one.endpoints()] == [("http://h:8000/v1", 1.0)]
    two = ModelSpec(name="t", backend="openai", model="m", base_url=["http://a/v1", {"url": "http://b/v1", "weight": 2}])
    assert [(e.url, e.weight) for e in two.endpoints()] == [("http://a/v1", 1.0), ("http://b/v1", 2.0)]
    assert ModelSpec(name="t", model="m").endpoints() == []
    bad = [([], "empty list"), (["http://a/v1", "http://a/v1/"], "more than once"),
           ([{"url": "http://a/v1", "weight": 0}], "greater than 0"), ([{"url": "http://a/v1", "w": 1}], "w")]
    for urls, says in bad:
        with pytest.raises(ParamsError, match=says):
            parse_params({"models": [{"name": "t", "backend": "openai", "model": "m", "base_url": urls}]}, "p.yaml")
    with pytest.raises(ParamsError, match="several base_url endpoints need backend: openai"):
        parse_params({"models": [{"name": "t", "backend": "vllm", "model": "m", "base_url": ["http://a", "http://b"]}]},
                     "p.yaml")
