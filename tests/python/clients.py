"""Ollama's and OpenAI's official Python clients against a running signalbox proxy.

Usage: clients.py GOOD_URL BROKEN_URL

GOOD_URL serves models `echo-a` and `echo-b`, whose answer to a prompt P is "echo: P"
sent a word at a time. BROKEN_URL serves `midway`, which sends one token and then fails.
Prints one line per check and a closing "N passed, M failed"; exits 1 on any failure.
"""

import sys
import traceback

import ollama
import openai

GOOD, BROKEN = sys.argv[1], sys.argv[2]
PROMPT = "name a prime above 10"
EXPECTED = "echo: " + PROMPT
USER = [{"role": "user", "content": PROMPT}]

results = []


def check(name):
    def run(fn):
        try:
            fn()
            results.append((name, None))
            print(f"ok   {name}")
        except Exception:  # noqa: BLE001 - every failure is reported, none stops the run
            results.append((name, traceback.format_exc()))
            print(f"FAIL {name}\n{traceback.format_exc()}")
        return fn

    return run


native = ollama.Client(host=GOOD)
broken_native = ollama.Client(host=BROKEN)
oai = openai.OpenAI(base_url=GOOD + "/v1", api_key="unused", max_retries=0)
broken_oai = openai.OpenAI(base_url=BROKEN + "/v1", api_key="unused", max_retries=0)


@check("ollama chat, not streaming, routed")
def _():
    r = native.chat(model="signalbox", messages=USER, stream=False)
    assert r.message.content == EXPECTED, r
    assert r.model == "signalbox", r.model
    assert r.done and r.done_reason == "stop", r
    assert r.total_duration and r.total_duration > 0, r


@check("ollama chat, streaming, pinned")
def _():
    parts = list(native.chat(model="echo-a", messages=USER, stream=True))
    assert len(parts) >= 3, parts
    assert "".join(p.message.content for p in parts) == EXPECTED
    assert all(not p.done for p in parts[:-1]) and parts[-1].done, parts
    assert parts[-1].done_reason == "stop"


@check("ollama generate, streaming and not")
def _():
    r = native.generate(model="echo-b", prompt=PROMPT, stream=False)
    assert r.response == EXPECTED, r
    text = "".join(p.response for p in native.generate(model="signalbox", prompt=PROMPT, stream=True))
    assert text == EXPECTED, text


@check("ollama list shows the models and signalbox")
def _():
    names = [m.model for m in native.list().models]
    assert names == ["echo-a", "echo-b", "signalbox"], names


@check("ollama ps")
def _():
    assert native.ps().models == []


@check("ollama unknown model raises ResponseError 404")
def _():
    try:
        native.chat(model="llama3.2", messages=USER, stream=False)
    except ollama.ResponseError as e:
        assert e.status_code == 404, e.status_code
        assert "llama3.2" in e.error, e.error
    else:
        raise AssertionError("no error")


@check("ollama error mid-stream raises ResponseError")
def _():
    seen = []
    try:
        for part in broken_native.chat(model="midway", messages=USER, stream=True):
            seen.append(part.message.content)
    except ollama.ResponseError as e:
        assert seen, "the error came before any token"
        assert "midway" in e.error, e.error
    else:
        raise AssertionError(f"no error after {seen}")


@check("openai chat completion, not streaming")
def _():
    r = oai.chat.completions.create(model="signalbox", messages=USER)
    assert r.choices[0].message.content == EXPECTED, r
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "signalbox"
    assert r.usage is not None


@check("openai chat completion, streaming with usage")
def _():
    chunks = list(
        oai.chat.completions.create(
            model="echo-a", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == EXPECTED, text
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"], finishes
    assert chunks[-1].choices == [] and chunks[-1].usage is not None, chunks[-1]


@check("openai models list")
def _():
    ids = [m.id for m in oai.models.list()]
    assert ids == ["echo-a", "echo-b", "signalbox"], ids


@check("openai unknown model raises NotFoundError")
def _():
    try:
        oai.chat.completions.create(model="gpt-4o", messages=USER)
    except openai.NotFoundError as e:
        assert "gpt-4o" in str(e), e
    else:
        raise AssertionError("no error")


@check("openai error mid-stream raises APIError")
def _():
    seen = []
    try:
        for chunk in broken_oai.chat.completions.create(model="midway", messages=USER, stream=True):
            seen.append(chunk)
    except openai.APIError as e:
        assert seen, "the error came before any chunk"
        assert "midway" in str(e), e
    else:
        raise AssertionError(f"no error after {len(seen)} chunks")


failed = sum(1 for _, error in results if error)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
