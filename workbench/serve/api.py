"""The OpenAI-compatible API of `workbench serve`, on FastAPI (which comes with Gradio).

    GET  /v1/models                 the served variants ("base", run names, model names)
    POST /v1/chat/completions       messages -> answer; stream=true sends server-sent events
    POST /v1/completions            a plain text continued as it is (no chat template)
    POST /v1/feedback               {id, rating: up|down, correction?, rater?} on a served chat answer
    GET  /health                    {"status": "ok", "models": [...], "inside": requests in the server}

Answers come from one `workbench.evaluate.Comparer`: variants of one base share it in memory with
their adapters switched, and an answer with a given seed and settings is the one `workbench
compare` gives. Sampling settings: temperature (default 1, as OpenAI's; 0 is greedy), top_p,
max_tokens, seed (drawn and logged when absent), stop (up to 4 strings, cut from the answer).

Bounds, so that a client can never crash or stall the server: max_tokens and the prompt's length
have ceilings (400 beyond them, with the ceiling named), bodies above MAX_BODY are refused (413),
and at most `max_waiting` requests are in the server at once (one generating, the rest queued);
one more gets 503 with Retry-After, which the openai client retries by itself. Errors are
OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations
# (`request: Request`) at run time, from objects imported inside `Server.app`.

import json
import secrets
import threading
import time
import uuid

from workbench.errors import WorkbenchError

MAX_BODY = 1_000_000  # bytes of one request
MAX_STOPS = 4


class Refusal(Exception):
    """A request the server answers with an OpenAI-shaped error instead of an answer."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind
        self.headers = headers or {}

    def response(self):
        from fastapi.responses import JSONResponse
        return JSONResponse({"error": {"message": self.message, "type": self.kind, "param": self.param,
                                       "code": self.code}}, status_code=self.status, headers=self.headers)


class Gate:
    """At most `size` requests inside at once (generating or waiting for the model); `enter`
    refuses one more with 503 instead of queueing it without bound."""

    def __init__(self, size: int):
        self.size, self.inside, self._lock = size, 0, threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self.inside >= self.size:
                raise Refusal(503, f"the server is busy: {self.inside} requests are being answered or waiting; "
                                   "retry in a few seconds", kind="server_busy", code="busy",
                              headers={"Retry-After": "2"})
            self.inside += 1

    def leave(self) -> None:
        with self._lock:
            self.inside -= 1


def _field(body: dict, name: str, kinds, default, *, low=None, high=None):
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise Refusal(400, f"'{name}' must be {' or '.join(k.__name__ for k in kinds)}, not {value!r}", param=name)
    if (low is not None and value < low) or (high is not None and value > high):
        raise Refusal(400, f"'{name}' must be between {low} and {high}, not {value}", param=name)
    return value


def _stops(body: dict) -> list[str]:
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else [] if stop is None else None
    if stops is None or not all(isinstance(s, str) and s for s in stops) or len(stops) > MAX_STOPS:
        raise Refusal(400, f"'stop' is a non-empty string or a list of at most {MAX_STOPS} of them", param="stop")
    return stops


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """(text up to the first stop string, whether one was found)."""
    ends = [text.find(stop) for stop in stops if stop in text]
    return (text[: min(ends)], True) if ends else (text, False)


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Refusal(400, "'messages' must be a non-empty list of {role, content} messages", param="messages")
    out = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # the parts form: text parts only
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise Refusal(400, f"messages[{i}].content: only text parts are supported here",
                              param=f"messages[{i}].content")
            content = "".join(p["text"] for p in content)
        role = message.get("role") if isinstance(message, dict) else None
        if role == "developer":
            role = "system"
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise Refusal(400, f"messages[{i}] must have a role (system, user or assistant) and a text content",
                          param=f"messages[{i}]")
        out.append({"role": role, "content": content})
    return out


class Server:
    """The API's state: the comparer, its bounds, the log. `app()` builds the FastAPI app."""

    def __init__(self, comparer, *, log=None, api_key: str | None = None, max_tokens: int = 512,
                 max_prompt_tokens: int = 2048, max_waiting: int = 8, default_max_tokens: int = 256):
        from workbench.serve.log import ServedLog
        self.comparer, self.log = comparer, log or ServedLog()
        self.api_key = api_key or None
        self.max_tokens, self.max_prompt_tokens = max_tokens, max_prompt_tokens
        self.default_max_tokens = min(default_max_tokens, max_tokens)
        self.gate = Gate(max_waiting)
        self.created = int(time.time())

    # ------------------------------------------------------------ requests
    def _model(self, body: dict) -> str:
        model = body.get("model")
        if model not in self.comparer.models:
            raise Refusal(404, f"the model '{model}' is not served here; served: {', '.join(self.comparer.models)}",
                          param="model", code="model_not_found")
        return model

    def _settings(self, body: dict) -> dict:
        if _field(body, "n", (int,), 1) != 1:
            raise Refusal(400, "'n' must be 1: one answer per request", param="n")
        seed = _field(body, "seed", (int,), None, low=0, high=2**63 - 1)
        return {
            "temperature": float(_field(body, "temperature", (int, float), 1.0, low=0, high=2)),
            "top_p": float(_field(body, "top_p", (int, float), 1.0, low=1e-6, high=1)),
            "max_tokens": _field(body, "max_completion_tokens", (int,), None, low=1, high=self.max_tokens)
            or _field(body, "max_tokens", (int,), self.default_max_tokens, low=1, high=self.max_tokens),
            "seed": seed if seed is not None else secrets.randbelow(2**31),
            "stop": _stops(body),
        }

    def _prompt_ids(self, prompt, model: str, raw: bool) -> list[int]:
        try:
            ids = self.comparer.encode(prompt, model=model, raw=raw)
        except WorkbenchError as error:
            raise Refusal(400, str(error), param="prompt" if raw else "messages") from None
        if len(ids) > self.max_prompt_tokens:
            raise Refusal(400, f"the prompt is {len(ids)} tokens; this server takes at most {self.max_prompt_tokens}",
                          param="prompt" if raw else "messages", code="context_length_exceeded")
        return ids

    def answer(self, prompt, prompt_ids: list[int], model: str, settings: dict, *, raw: bool):
        """Yield the growing answer text (stop strings cut), then the exchange record (a dict).
        prompt_ids: `_prompt_ids(prompt, model, raw)`, checked by the caller."""
        started, stops, shown, stopped = time.perf_counter(), settings["stop"], "", False
        stream = self.comparer.stream_answer(
            prompt, model=model, raw=raw, prompt_ids=prompt_ids, seed=settings["seed"],
            temperature=settings["temperature"], top_p=settings["top_p"], max_new_tokens=settings["max_tokens"])
        answer = None
        try:
            for item in stream:
                if not isinstance(item, str):
                    answer = item
                    break
                text, stopped = cut_at_stop(item, stops)
                # Hold back a tail that may be the start of a stop string until it is decided.
                hold = 0 if stopped else max((len(s) - 1 for s in stops), default=0)
                safe = text[: len(text) - hold] if hold else text
                if len(safe) > len(shown):
                    shown = safe
                    yield shown
                if stopped:
                    break
        finally:
            stream.close()  # a stop string, or a client gone: the generation ends after this token
        text = cut_at_stop(answer.text, stops)[0] if answer is not None else shown
        if answer is not None and text != shown:
            yield text
        completion_tokens = answer.tokens if answer is not None else len(self.comparer.encode(text, model=model,
                                                                                              raw=True) if text else [])
        finish = "stop" if stopped or answer is None else answer.finish_reason
        yield {"id": f"{'chatcmpl' if not raw else 'cmpl'}-{uuid.uuid4().hex}", "time": _now(), "t": time.time(),
               "endpoint": "completion" if raw else "chat", "model": model, "prompt": prompt, "answer": text,
               "settings": settings, "latency_s": round(time.perf_counter() - started, 3),
               "prompt_tokens": len(prompt_ids), "completion_tokens": completion_tokens, "finish_reason": finish}

    # ------------------------------------------------------------ responses
    def completion(self, body: dict, *, raw: bool):
        """The response to a (chat) completion request: a dict, or an iterator of SSE lines."""
        model, settings = self._model(body), self._settings(body)
        if raw:
            prompt = body.get("prompt")
            if isinstance(prompt, list) and len(prompt) == 1:
                prompt = prompt[0]
            if not isinstance(prompt, str) or not prompt:
                raise Refusal(400, "'prompt' must be a non-empty string", param="prompt")
        else:
            prompt = _messages(body)
        prompt_ids = self._prompt_ids(prompt, model, raw)  # refused before a stream starts, as a status code
        if body.get("stream"):
            return self._events(prompt, prompt_ids, model, settings, raw)
        *_, exchange = self.answer(prompt, prompt_ids, model, settings, raw=raw)
        self.log.record(exchange)
        usage = {"prompt_tokens": exchange["prompt_tokens"], "completion_tokens": exchange["completion_tokens"],
                 "total_tokens": exchange["prompt_tokens"] + exchange["completion_tokens"]}
        if raw:
            choice = {"index": 0, "text": exchange["answer"], "logprobs": None,
                      "finish_reason": exchange["finish_reason"]}
        else:
            choice = {"index": 0, "message": {"role": "assistant", "content": exchange["answer"]},
                      "logprobs": None, "finish_reason": exchange["finish_reason"]}
        return {"id": exchange["id"], "object": "text_completion" if raw else "chat.completion",
                "created": int(exchange["t"]), "model": model, "choices": [choice], "usage": usage,
                "system_fingerprint": None}

    def _events(self, prompt, prompt_ids: list[int], model: str, settings: dict, raw: bool):
        """Server-sent events of a streamed answer, OpenAI's chunks, ending with data: [DONE]. Every
        chunk carries the id the answer is logged (and rated) under."""
        answer_id = f"{'cmpl' if raw else 'chatcmpl'}-{uuid.uuid4().hex}"
        created, kind = int(time.time()), "text_completion" if raw else "chat.completion.chunk"

        def chunk(text: str | None, finish: str | None = None, first: bool = False) -> str:
            if raw:
                choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            else:
                delta = {"role": "assistant", "content": ""} if first else {} if text is None else {"content": text}
                choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            event = {"id": answer_id, "object": kind, "created": created, "model": model, "choices": [choice]}
            return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"

        if not raw:
            yield chunk(None, first=True)
        shown, items = "", self.answer(prompt, prompt_ids, model, settings, raw=raw)
        try:
            for item in items:
                if isinstance(item, str):
                    if item[: len(shown)] == shown and len(item) > len(shown):
                        yield chunk(item[len(shown):])
                    shown = item
                else:
                    item["id"] = answer_id
                    self.log.record(item)
                    yield chunk(None, item["finish_reason"])
        finally:
            items.close()
        yield "data: [DONE]\n\n"

    def feedback(self, body: dict) -> dict:
        from workbench.feedback import RATINGS, feedback_path
        rating = body.get("rating")
        if not isinstance(body.get("id"), str) or rating not in RATINGS:
            raise Refusal(400, "send {\"id\": a served answer's id, \"rating\": \"up\" or \"down\", "
                               "\"correction\"?: a better answer}", param="rating" if isinstance(body.get("id"), str)
                          else "id")
        correction, rater = body.get("correction"), body.get("rater")
        if correction is not None and not isinstance(correction, str):
            raise Refusal(400, "'correction' must be a text", param="correction")
        exchange = self.log.find(body["id"])
        if exchange is None:
            raise Refusal(404, f"no answer served here has the id '{body['id']}' (answers from before a restart "
                               "can be rated when the server logs: --log)", param="id", code="answer_not_found")
        try:
            record = self.log.rate(exchange, rating, correction=correction,
                                   rater=rater if isinstance(rater, str) else None)
        except WorkbenchError as error:
            raise Refusal(400, str(error), param=getattr(error, "field", None) or "id") from None
        return {"object": "feedback", "id": record["id"], "rates": body["id"], "rating": rating,
                "kind": "preference" if "chosen" in record else "unpaired",
                "dataset": self.log.name, "path": str(feedback_path(self.log.name))}

    # ------------------------------------------------------------ the app
    def app(self, *, trusted_hosts: list[str] | None = None):
        """The FastAPI app. trusted_hosts: the Host headers answered (against DNS rebinding when
        bound to loopback); None answers any."""
        from fastapi import FastAPI, Request
        from fastapi.responses import StreamingResponse
        from starlette.concurrency import run_in_threadpool
        from starlette.middleware import Middleware
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=trusted_hosts)] if trusted_hosts else []
        app = FastAPI(title="workbench serve", docs_url=None, redoc_url=None, openapi_url=None,
                      middleware=middleware)
        server = self

        async def guarded(request: Request, work, *, reads_body: bool = True):
            """Check the key and the body's size, await `work(body)` (the JSON object sent; None
            for a GET), and turn a Refusal or a WorkbenchError into OpenAI's error shape."""
            try:
                server.check_key(request.headers.get("authorization"))
                length = request.headers.get("content-length") or "0"
                if not length.isdigit():
                    raise Refusal(400, "the Content-Length header is not a number")
                if int(length) > MAX_BODY:
                    raise Refusal(413, f"the request is larger than {MAX_BODY} bytes")
                body = None
                if reads_body:
                    raw = await request.body()
                    if len(raw) > MAX_BODY:
                        raise Refusal(413, f"the request is larger than {MAX_BODY} bytes")
                    try:
                        body = json.loads(raw or b"{}")
                    except ValueError:
                        raise Refusal(400, "the request body is not JSON") from None
                    if not isinstance(body, dict):
                        raise Refusal(400, "the request body must be a JSON object")
                return await work(body)
            except Refusal as refusal:
                return refusal.response()
            except WorkbenchError as error:
                return Refusal(400, str(error)).response()

        async def generating(body: dict, raw: bool):
            server.gate.enter()
            try:
                result = await run_in_threadpool(server.completion, body, raw=raw)
            except BaseException:
                server.gate.leave()
                raise
            if isinstance(result, dict):
                server.gate.leave()
                return result
            return StreamingResponse(_threaded(result, server.gate.leave), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

        @app.get("/health")
        async def health(request: Request):
            async def work(_):
                return {"status": "ok", "models": server.comparer.models, "inside": server.gate.inside}
            return await guarded(request, work, reads_body=False)

        @app.get("/v1/models")
        async def models(request: Request):
            async def work(_):
                return {"object": "list", "data": [server.model_card(m) for m in server.comparer.models]}
            return await guarded(request, work, reads_body=False)

        @app.get("/v1/models/{model}")
        async def model(request: Request, model: str):
            async def work(_):
                if model not in server.comparer.models:
                    raise Refusal(404, f"the model '{model}' is not served here", param="model",
                                  code="model_not_found")
                return server.model_card(model)
            return await guarded(request, work, reads_body=False)

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            return await guarded(request, lambda body: generating(body, False))

        @app.post("/v1/completions")
        async def completions(request: Request):
            return await guarded(request, lambda body: generating(body, True))

        @app.post("/v1/feedback")
        async def feedback(request: Request):
            return await guarded(request, lambda body: run_in_threadpool(server.feedback, body))

        return app

    def model_card(self, model: str) -> dict:
        return {"id": model, "object": "model", "created": self.created, "owned_by": "workbench"}

    def check_key(self, authorization: str | None) -> None:
        if self.api_key is None:
            return
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(given.encode(), self.api_key.encode()):
            raise Refusal(401, "a valid API key is required: send 'Authorization: Bearer KEY'",
                          kind="authentication_error", code="invalid_api_key")


async def _threaded(events, done):
    """Iterate the blocking iterator `events` off the event loop; close it and call `done` at the
    end, also when the client goes away (the generation then stops after its current token)."""
    import anyio
    from starlette.concurrency import run_in_threadpool
    end = object()
    try:
        while True:
            item = await run_in_threadpool(next, events, end)
            if item is end:
                break
            yield item
    finally:
        try:
            with anyio.CancelScope(shield=True):  # a cancelled request still closes its stream
                await run_in_threadpool(events.close)
        finally:
            done()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
