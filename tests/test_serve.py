"""`workbench serve`: the OpenAI chat API over the base and tuned variants, tested with the official
`openai` client as a real client; ratings that land in a feedback dataset training reads; the
served log's crash safety; the Deploy panel's start and stop.

The variants are the tiny SFT and DPO runs `test_compare.tiny_runs` trains once per session.
"""

import json
import os
import signal
import threading
import time

import httpx
import pytest

from test_compare import runs  # noqa: F401
from ui_support import free_port

PROMPT = [{"role": "user", "content": "How do I keep bread fresh?"}]


class Running:
    """A server answering on 127.0.0.1 in a thread of this process."""

    def __init__(self, models, **settings):
        import uvicorn

        from workbench.serve import build_server
        self.server, app = build_server(models, **settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.uvicorn = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.uvicorn.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.uvicorn.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.uvicorn.started, "the server did not start"

    def client(self, api_key="unused", **kwargs):
        from openai import OpenAI
        return OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0, timeout=120, **kwargs)

    def close(self):
        self.uvicorn.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def served(runs, tmp_path_factory):
    running = Running(["base", runs["sft"], runs["dpo"]], name="served-test", log=True)
    yield running
    running.close()


def chat(client, model, **settings):
    return client.chat.completions.create(model=model, messages=PROMPT, **settings)


def test_models_are_listed_as_the_openai_client_reads_them(served, runs):
    models = served.client().models.list()
    assert [m.id for m in models.data] == ["base", runs["sft"], runs["dpo"]]
    assert served.client().models.retrieve(runs["dpo"]).id == runs["dpo"]


def test_a_chat_completion_is_what_compare_gives_with_the_same_seed(served, runs, capsys):
    from workbench.cli import main
    settings = dict(seed=7, temperature=0.9, top_p=0.95, max_tokens=9)
    answers = {model: chat(served.client(), model, **settings) for model in ("base", runs["sft"])}
    code = main(["compare", "--prompt", PROMPT[0]["content"], "--models", f"base,{runs['sft']}", "--seed", "7",
                 "--temperature", "0.9", "--top-p", "0.95", "--max-new-tokens", "9", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    compared = {a["model"]: a for a in json.loads(out)}
    for model, response in answers.items():
        choice = response.choices[0]
        assert choice.message.role == "assistant"
        assert choice.message.content == compared[model]["text"]
        assert response.usage.completion_tokens == compared[model]["tokens"]
        assert response.usage.prompt_tokens == compared[model]["prompt_tokens"]
        assert choice.finish_reason == compared[model]["finish_reason"]
        assert response.model == model and response.id.startswith("chatcmpl-")
    assert answers["base"].choices[0].message.content != answers[runs["sft"]].choices[0].message.content


def test_a_streamed_answer_arrives_in_pieces_and_adds_up_to_the_whole(served, runs):
    settings = dict(seed=3, temperature=1.0, max_tokens=12)
    whole = chat(served.client(), runs["dpo"], **settings).choices[0].message.content
    chunks = list(chat(served.client(), runs["dpo"], stream=True, **settings))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) > 2, "the answer came in one piece: not streamed"
    assert "".join(pieces) == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert len({c.id for c in chunks}) == 1


def test_a_raw_completion_continues_the_text_without_the_chat_template(served, runs):
    response = served.client().completions.create(model=runs["sft"], prompt="The bread was", seed=1,
                                                   temperature=0, max_tokens=6)
    from workbench.evaluate import Comparer
    expected = Comparer([runs["sft"]]).generate("The bread was", model=runs["sft"], raw=True, seed=1,
                                                temperature=0, max_new_tokens=6)
    assert response.choices[0].text == expected.text
    assert response.usage.prompt_tokens == expected.prompt_tokens < 6  # no template around it


def test_a_stop_string_cuts_the_answer_streamed_or_not(served):
    settings = dict(seed=5, temperature=1.0, max_tokens=16)
    full = chat(served.client(), "base", **settings).choices[0].message.content
    assert len(full) > 8
    stop = full[4:7]
    cut = full[: full.index(stop)]
    stopped = chat(served.client(), "base", stop=[stop], **settings)
    assert stopped.choices[0].message.content == cut
    assert stopped.choices[0].finish_reason == "stop"
    pieces = [c.choices[0].delta.content or "" for c in chat(served.client(), "base", stop=stop, stream=True,
                                                                 **settings)]
    assert "".join(pieces) == cut


def test_an_unknown_model_is_a_404_that_names_the_served_ones(served, runs):
    import openai
    with pytest.raises(openai.NotFoundError) as caught:
        chat(served.client(), "gpt-4o", max_tokens=2)
    assert "gpt-4o" in str(caught.value) and runs["sft"] in str(caught.value)


@pytest.mark.parametrize("settings, words", [
    (dict(max_tokens=100_000), "max_tokens"),
    (dict(temperature=-1), "temperature"),
    (dict(n=2), "'n' must be 1"),
    (dict(stop=["a", "b", "c", "d", "e"]), "stop"),
])
def test_requests_beyond_the_bounds_are_refused_with_a_reason(served, settings, words):
    import openai
    with pytest.raises(openai.BadRequestError) as caught:
        chat(served.client(), "base", **settings)
    assert words in str(caught.value)


def test_a_prompt_longer_than_the_ceiling_is_refused_before_generating(served):
    response = httpx.post(f"{served.url}/v1/chat/completions", json={
        "model": "base", "messages": [{"role": "user", "content": "bread " * 3000}]}, timeout=60)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and "2048" in error["message"]


def test_a_full_queue_answers_503_and_the_server_stays_up(served):
    gate = served.server.gate
    held = gate.size
    for _ in range(held):
        gate.enter()
    try:
        response = httpx.post(f"{served.url}/v1/chat/completions",
                              json={"model": "base", "messages": PROMPT, "max_tokens": 2}, timeout=30)
        assert response.status_code == 503 and response.headers["retry-after"]
        assert "busy" in response.json()["error"]["message"]
    finally:
        for _ in range(held):
            gate.leave()
    assert chat(served.client(), "base", max_tokens=2).choices[0].message.content is not None


def test_bodies_that_are_not_requests_get_a_400_not_a_crash(served):
    for body in (b"not json", b"[1, 2]", json.dumps({"model": "base", "messages": "hi"}).encode()):
        response = httpx.post(f"{served.url}/v1/chat/completions", content=body,
                              headers={"content-type": "application/json"}, timeout=30)
        assert response.status_code == 400, body
        assert response.json()["error"]["message"]


def test_ratings_land_in_a_feedback_dataset_that_training_reads(served, runs):
    from workbench.data import load_rows
    from workbench.feedback import feedback_path
    up = chat(served.client(), runs["sft"], seed=11, max_tokens=6)
    down = chat(served.client(), "base", seed=12, max_tokens=6)
    rate = lambda body: httpx.post(f"{served.url}/v1/feedback", json=body, timeout=30)  # noqa: E731
    thumb = rate({"id": up.id, "rating": "up", "rater": "ana"})
    assert thumb.status_code == 200 and thumb.json()["kind"] == "unpaired"
    fixed = rate({"id": down.id, "rating": "down", "correction": "Wrap it in a cloth and keep it dry."})
    assert fixed.status_code == 200 and fixed.json()["kind"] == "preference"
    path = feedback_path("served-test")
    assert fixed.json()["path"] == str(path)
    unpaired = load_rows(path, task="unpaired")
    answer = up.choices[0].message.content
    assert {"prompt": PROMPT, "completion": answer, "label": True} in [
        {k: row[k] for k in ("prompt", "completion", "label")} for row in unpaired]
    pairs = load_rows(path, task="preference")
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [
        ("Wrap it in a cloth and keep it dry.", down.choices[0].message.content)]
    unknown = rate({"id": "chatcmpl-nope", "rating": "up"})
    assert unknown.status_code == 404 and "chatcmpl-nope" in unknown.json()["error"]["message"]
    assert rate({"id": up.id, "rating": "great"}).status_code == 400


def test_the_served_log_has_each_exchange_and_its_rating(served, runs):
    from workbench.serve import served_path, served_stats
    response = chat(served.client(), runs["dpo"], seed=21, max_tokens=5)
    httpx.post(f"{served.url}/v1/feedback", json={"id": response.id, "rating": "down"}, timeout=30)
    rows = [json.loads(line) for line in served_path("served-test").read_text().splitlines()]
    exchange = next(row for row in rows if row.get("id") == response.id)
    assert exchange["prompt"] == PROMPT and exchange["answer"] == response.choices[0].message.content
    assert exchange["settings"]["seed"] == 21 and exchange["settings"]["max_tokens"] == 5
    assert exchange["latency_s"] > 0 and exchange["completion_tokens"] == response.usage.completion_tokens
    assert {"rates": response.id, "rating": "down"}.items() <= next(r for r in rows if r.get("rates") == response.id).items()
    stats = served_stats("served-test")["models"][runs["dpo"]]
    assert stats["rated"] >= 1 and stats["requests"] >= 1 and stats["share_up"] is not None


def test_a_key_is_asked_on_every_request_when_one_is_set(runs):
    import openai
    running = Running([runs["sft"]], api_key="s3cret", name="keyed")
    try:
        with pytest.raises(openai.AuthenticationError):
            running.client(api_key="wrong").models.list()
        with pytest.raises(openai.AuthenticationError):
            chat(running.client(api_key="wrong"), runs["sft"], max_tokens=2)
        assert httpx.get(f"{running.url}/v1/models", timeout=10).status_code == 401
        assert [m.id for m in running.client(api_key="s3cret").models.list().data] == [runs["sft"]]
    finally:
        running.close()


def test_serving_beyond_this_machine_needs_a_key_and_loopback_refuses_other_hosts(served):
    from workbench.errors import ConfigError
    from workbench.serve import build_server
    with pytest.raises(ConfigError, match="API key"):
        build_server(["base"], host="0.0.0.0")
    forged = httpx.get(f"{served.url}/health", headers={"host": "evil.example"}, timeout=10)
    assert forged.status_code == 400  # DNS rebinding: a page elsewhere cannot reach the server


def test_a_killed_server_loses_no_logged_exchange_and_the_deploy_panel_sees_it(fresh_home):
    """The Deploy panel's path: start_server runs `workbench serve --log` in a process of its own;
    what it logged survives a SIGKILL, and the panel's facts and `workbench served` read it."""
    from openai import OpenAI

    from workbench.present import deploy_facts
    from workbench.serve import server_status, start_server, stop_server
    # Before the panel starts one, its words say what it cannot see (a server run in a shell).
    assert "not started from the Deploy panel" in deploy_facts("crash").line
    port = free_port()
    start_server(["tiny"], name="crash", port=port, log=True)
    deadline = time.monotonic() + 240
    while server_status("crash")["state"] != "running" and time.monotonic() < deadline:
        assert server_status("crash")["running"], server_status("crash")["output"]
        time.sleep(0.5)
    status = server_status("crash")
    assert status["state"] == "running", status["output"]
    client = OpenAI(base_url=status["url"], api_key="unused", max_retries=0, timeout=120)
    ids = [client.chat.completions.create(model="tiny", messages=PROMPT, seed=s, max_tokens=4).id for s in (1, 2)]
    assert httpx.post(f"{status['url']}/feedback", json={"id": ids[0], "rating": "up"}, timeout=30).status_code == 200
    os.kill(status["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server_status("crash")["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    facts = deploy_facts("crash")
    assert facts.state == "stopped"
    assert facts.stats["requests"] == 2
    [row] = facts.table
    assert (row["model"], row["requests"], row["rated"], row["rated up"]) == ("tiny", 2, 1, "100%")
    assert row["mean latency (s)"] > 0
    from workbench.cli import main
    assert main(["served", "crash"]) == 0
    # and a stopped server can be started again on the same name
    start_server(["tiny"], name="crash", port=free_port(), log=True)
    assert server_status("crash")["running"]
    assert stop_server("crash")["state"] == "stopped"


def test_a_torn_log_line_costs_that_line_only(fresh_home):
    from workbench.serve import ServedLog, served_stats
    log = ServedLog("torn", log=True)
    exchange = {"id": "chatcmpl-1", "t": time.time(), "endpoint": "chat", "model": "m", "prompt": PROMPT,
                "answer": "a", "settings": {}, "latency_s": 0.5, "completion_tokens": 3}
    log.record(exchange)
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write('{"id": "chatcmpl-2", "mod')  # a writer killed mid-line
    log.record({**exchange, "id": "chatcmpl-3"})
    stats = served_stats("torn")
    assert stats["requests"] == 2 and stats["models"]["m"]["latency_mean_s"] == 0.5
    assert ServedLog("torn", log=True).find("chatcmpl-3")["answer"] == "a"  # found after a restart
