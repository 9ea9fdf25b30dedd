"""Side by side: the base, SFT and RLHF variants answering the same prompt, from one base in memory.

Variants are named as everywhere else ("base", a run name, a model name; see
`workbench.models.variants.model_ref`). Variants that share a base are served from ONE loaded copy
of it: each run's PEFT adapter is loaded onto the same `PeftModel` under its own name. Three
variants of a 135M model then cost one model plus three small adapters, not three models. Their
answers decode together, one forward pass a token for all of them, each row with its own adapter
("base" rows with the adapters off; `workbench.models.decode`), so three answers take about the
time of one; the loss and scoring paths pick a variant with `variant` (set_adapter).

Every answer samples from its own generator seeded with its seed, so an answer depends only on
(variant, prompt, seed, settings), never on which variant went first or beside it. temperature 0 means greedy decoding. The
settings are the only ones: none comes from a model's generation_config.json
(`workbench.models.sampling`).

    comparer = Comparer(["base", "sft-1", "dpo-2"], reward_model="rm-3")
    for answer in comparer.compare([{"role": "user", "content": "Hi"}], seed=0):
        print(answer.model, answer.reward, answer.text)
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from queue import Queue
from typing import Iterator

from workbench.errors import ConfigError, DataError, ModelError


@dataclass
class Answer:
    """One variant's answer. tokens: generated tokens, the end-of-turn token included;
    seconds: wall time of the generation; reward: the reward model's score, when one was given;
    prompt_tokens: the prompt's length as the model read it; finish_reason: "stop" when the
    answer ended by itself (its end-of-turn token), "length" when max_new_tokens cut it.
    ids: the generated token ids (not in to_dict: a reader of the answer wants its text)."""

    model: str
    text: str
    tokens: int
    seconds: float
    reward: float | None = None
    prompt_tokens: int = 0
    finish_reason: str = "stop"
    ids: list[int] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "ids"}


def as_messages(prompt, *, system: str | None = None) -> list[dict]:
    """A chat prompt as messages: a string is one user turn; a list of role/content dicts is kept."""
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, (list, tuple)) and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in prompt) and prompt:
        messages = [{"role": m["role"], "content": m["content"]} for m in prompt]
    else:
        raise DataError("a prompt is a string or a non-empty list of {'role', 'content'} messages",
                        field="prompt", hint='Pass e.g. [{"role": "user", "content": "Hello"}].')
    if system and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system}] + messages
    return messages


def parse_models(models) -> list[str]:
    """Variant labels from a list or a comma-separated string, in order, each once."""
    labels = [m.strip() for m in (models.split(",") if isinstance(models, str) else models)]
    labels = [m for m in labels if m]
    if not labels:
        raise ModelError("no models to compare.", hint="Name them, e.g. --models base,SFT_RUN,DPO_RUN.")
    twice = sorted({m for m in labels if labels.count(m) > 1})
    if twice:
        raise ModelError(f"'{twice[0]}' is listed twice.", hint="Name each model once.")
    return labels


# ---------------------------------------------------------------- resolving names

def resolve_variants(labels: list[str], base: str | None = None) -> list:
    """ModelRefs for `labels`. "base" is `base`, else the base of the first adapter run listed,
    else the default model: `base,sft-1` compares sft-1 with the model it was trained from."""
    from workbench.models import resolve_model
    from workbench.models.sources import DEFAULT_MODEL
    from workbench.models.variants import model_ref

    refs = {label: model_ref(label) for label in labels if label != "base"}
    for label, ref in refs.items():
        if ref.stage == "reward":
            raise ModelError(f"'{label}' is a reward-model run: it scores answers, it does not write them.",
                             hint=f"Pass it as the reward model (--reward-model {label}).")
        if not ref.is_run:
            try:
                resolve_model(ref.base)
            except ModelError:
                raise ModelError(f"'{label}' is neither 'base', a run, nor a model on this machine.",
                                 hint="`workbench runs list` shows the runs, `workbench models list` "
                                      "the models.") from None
    base = base or next((r.base for r in refs.values() if r.adapter is not None), None) or DEFAULT_MODEL
    return [refs[label] if label != "base" else model_ref("base", base=base) for label in labels]


@dataclass
class _LoadedBase:
    """One base model in memory, wrapped in a PeftModel when any variant needs an adapter."""

    name: str
    model: object
    tokenizer: object
    adapters: dict[str, str] = field(default_factory=dict)  # label -> PEFT adapter name


def _load_base(name: str, adapters: list[tuple[str, object]], hardware=None) -> _LoadedBase:
    """Load `name` once (on `hardware`'s device and dtype) and every (label, adapter folder) onto it."""
    from workbench.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(name)
    model = load_causal_lm(name, method="lora", for_training=False, hardware=hardware)
    loaded = _LoadedBase(name, model, tokenizer)
    for i, (label, folder) in enumerate(adapters):
        # PEFT adapter names become module keys, which may not contain '.' (run names may).
        adapter_name = f"variant{i}"
        if i == 0:
            from peft import PeftModel
            loaded.model = PeftModel.from_pretrained(model, str(folder), adapter_name=adapter_name)
        else:
            loaded.model.load_adapter(str(folder), adapter_name=adapter_name)
        loaded.adapters[label] = adapter_name
    loaded.model.eval()
    return loaded


class Comparer:
    """Serves several variants ("base", run names, model names) from ONE copy of each distinct base:
    PEFT adapters are loaded onto one PeftModel under names; answers name their adapter per row
    (`answers`), losses switch with set_adapter / disable_adapter (`variant`); the base is never
    loaded twice.

    models: the labels, in order. reward_model: a reward run that scores every answer (it is a
    separate sequence-classification model with its own score head, loaded once).
    precision: "auto" | "fp32" | "bf16" for every model loaded here (None = auto; see
    `detect_hardware`); `hardware` says what it resolved to.
    last_answers: the Answer of each variant's latest generation (also after `stream`).
    Calls are serialised by a lock: PEFT's adapter state is not thread-safe.
    """

    def __init__(self, models: list[str], *, base: str | None = None, reward_model: str | None = None,
                 precision: str | None = None):
        from workbench.models import detect_hardware

        self.models = parse_models(models)
        self.hardware = detect_hardware(precision)
        refs = resolve_variants(self.models, base)
        self.reward_model = reward_model
        self.scorer = None
        if reward_model:
            from workbench.models.score import RewardScorer
            self.scorer = RewardScorer(reward_model, precision=self.hardware.precision)
        # Grouped by folder, so "tiny" and the path it resolves to are one base, loaded once.
        from workbench.models import resolve_model
        self._base_of = {ref.label: str(resolve_model(ref.base)) for ref in refs}
        self._bases: dict[str, _LoadedBase] = {}
        for folder in dict.fromkeys(self._base_of.values()):
            group = [ref for ref in refs if self._base_of[ref.label] == folder]
            adapters = [(ref.label, ref.adapter) for ref in group if ref.adapter]
            self._bases[folder] = _load_base(group[0].base, adapters, self.hardware)
        self.last_answers: dict[str, Answer] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------ variants
    def _loaded(self, model: str) -> _LoadedBase:
        if model not in self._base_of:
            raise ModelError(f"'{model}' is not one of the models loaded here ({', '.join(self.models)}).",
                             hint="Create the Comparer with it in `models`.")
        return self._bases[self._base_of[model]]

    def tokenizer(self, model: str):
        return self._loaded(model).tokenizer

    def base_models(self) -> list:
        """The distinct base models held in memory (one per distinct base, however many variants)."""
        return [loaded.model for loaded in self._bases.values()]

    @contextmanager
    def variant(self, model: str):
        """Make `model` the active variant and yield the module to call (holds the lock)."""
        loaded = self._loaded(model)
        adapter = loaded.adapters.get(model)
        with self._lock:
            if adapter is not None:
                loaded.model.set_adapter(adapter)
                yield loaded.model
            elif loaded.adapters:  # the base of a PeftModel: every adapter off
                with loaded.model.disable_adapter():
                    yield loaded.model
            else:
                yield loaded.model

    # ------------------------------------------------------------ generation
    def encode(self, prompt, *, model: str, raw: bool = False) -> list[int]:
        """The token ids `model` reads for `prompt`: a conversation (messages, or a string for one
        user turn) through its chat template, ending with the generation prompt; with raw=True a
        plain text, continued as it is (no template, no special tokens added)."""
        tokenizer = self.tokenizer(model)
        if raw:
            if not isinstance(prompt, str) or not prompt:
                raise DataError("a raw prompt is a non-empty text", field="prompt")
            return tokenizer(prompt, add_special_tokens=False)["input_ids"]
        from workbench.data.tokens import encode_prompt
        return encode_prompt(tokenizer, as_messages(prompt))

    def answers(self, requests: list[tuple[str, list[int], int]], *, temperature: float = 0.7, top_p: float = 1.0,
                max_new_tokens: int = 128, on_token=None, stop: threading.Event | None = None) -> list[Answer]:
        """One Answer per (model, prompt ids, seed) in `requests`, in order.

        The requests of variants that share a base decode together, one forward pass a token for
        all of them (`workbench.models.decode`): three variants cost about one. Each answer is the
        one its variant gives alone at its seed. on_token(index into requests, token id) streams;
        a set `stop` ends every answer after the current token.
        """
        from workbench.models.decode import BASE_ADAPTER, Row, decode
        if max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1, not {max_new_tokens}.")
        if temperature < 0 or not 0 < top_p <= 1:
            raise ConfigError(f"temperature must be >= 0 and top_p in (0, 1], not {temperature} and {top_p}.")
        groups: dict[str, list[int]] = {}
        for index, (model, _, _) in enumerate(requests):
            self._loaded(model)  # an unknown model fails here
            groups.setdefault(self._base_of[model], []).append(index)
        answers: list[Answer] = [None] * len(requests)  # type: ignore[list-item]
        with self._lock:
            for folder, indices in groups.items():
                loaded = self._bases[folder]
                tokenizer = loaded.tokenizer
                rows = [Row(requests[i][1], seed=requests[i][2],
                            adapter=loaded.adapters.get(requests[i][0], BASE_ADAPTER) if loaded.adapters else None)
                        for i in indices]
                tell = None if on_token is None else (lambda row, token, indices=indices: on_token(indices[row], token))
                started = time.perf_counter()
                # Only what the user set applies: not transformers' default top-50 cut, nor a
                # repetition penalty or banned tokens from the model's generation_config.json.
                new_ids = decode(loaded.model, rows, temperature=temperature, top_p=top_p,
                                 max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id, on_token=tell,
                                 should_stop=None if stop is None else stop.is_set)
                seconds = time.perf_counter() - started
                for i, ids in zip(indices, new_ids):
                    model, prompt_ids, _ = requests[i]
                    ended = bool(ids) and ids[-1] == tokenizer.eos_token_id
                    answers[i] = Answer(model=model, text=tokenizer.decode(ids, skip_special_tokens=True),
                                        tokens=len(ids), seconds=round(seconds, 3), prompt_tokens=len(prompt_ids),
                                        finish_reason="stop" if ended else "length", ids=list(ids))
                    self.last_answers[model] = answers[i]
        return answers

    def generate(self, messages, *, model: str, seed: int = 0, temperature: float = 0.7,
                 top_p: float = 1.0, max_new_tokens: int = 128, raw: bool = False) -> Answer:
        """One variant's answer to a chat prompt (messages, or a string for one user turn); with
        raw=True, its continuation of the plain text `messages` (see `encode`)."""
        return self.answers([(model, self.encode(messages, model=model, raw=raw), seed)], temperature=temperature,
                            top_p=top_p, max_new_tokens=max_new_tokens)[0]

    def stream(self, messages, *, model, seed=0, temperature=0.7, top_p=1.0,
               max_new_tokens=128, raw: bool = False) -> Iterator[str]:
        """Yield the growing answer text, token by token. The last text equals `generate`'s with the
        same seed and settings (same code path); `last_answers[model]` then holds the Answer.
        Closing the iterator early stops the generation after the current token."""
        items = self.stream_answer(messages, model=model, seed=seed, temperature=temperature, top_p=top_p,
                                   max_new_tokens=max_new_tokens, raw=raw)
        try:
            yield from (item for item in items if isinstance(item, str))
        finally:
            items.close()

    def stream_answer(self, messages, *, model, seed=0, temperature=0.7, top_p=1.0, max_new_tokens=128,
                      raw: bool = False, prompt_ids: list[int] | None = None) -> Iterator[str | Answer]:
        """`stream`, then this generation's own Answer as the last item (where `last_answers` may
        already hold a later one when other threads generate too). prompt_ids: `encode`'s ids of
        `messages`, when the caller has them already (a server checks the prompt's length first)."""
        if prompt_ids is None:
            prompt_ids = self.encode(messages, model=model, raw=raw)  # an unknown model fails here
        for item in self.stream_answers([(model, prompt_ids, seed)], temperature=temperature, top_p=top_p,
                                        max_new_tokens=max_new_tokens):
            yield item[1] if isinstance(item, tuple) else item[0]

    def stream_answers(self, requests: list[tuple[str, list[int], int]], *, temperature: float = 0.7,
                       top_p: float = 1.0, max_new_tokens: int = 128) -> Iterator[tuple[int, str] | list[Answer]]:
        """`answers`, streamed: (index into requests, that answer's text so far) each time an answer
        grows, then the list of Answers as the last item. Every request's last text is its Answer's
        text. Closing the iterator early stops the generation after the current token."""
        for model, _, _ in requests:
            self._loaded(model)  # an unknown model fails here, not in the worker thread
        queue: Queue = Queue()
        stop = threading.Event()

        def work():
            try:
                queue.put(("done", self.answers(requests, temperature=temperature, top_p=top_p,
                                                max_new_tokens=max_new_tokens, stop=stop,
                                                on_token=lambda index, token: queue.put(("id", (index, token))))))
            except BaseException as error:  # handed to the consumer, who raises it
                queue.put(("error", error))

        worker = threading.Thread(target=work, name="stream-answers", daemon=True)
        worker.start()
        ids: list[list[int]] = [[] for _ in requests]
        shown: list[str | None] = [None] * len(requests)
        try:
            while True:
                kind, value = queue.get()
                if kind == "error":
                    raise value
                if kind == "done":
                    for index, answer in enumerate(value):
                        if answer.text != shown[index]:
                            yield index, answer.text
                    yield value
                    return
                index, token = value
                ids[index].append(token)
                text = self.tokenizer(requests[index][0]).decode(ids[index], skip_special_tokens=True)
                # A multi-byte character split over tokens decodes to U+FFFD until it is complete.
                if text != shown[index] and not text.endswith("\ufffd"):
                    shown[index] = text
                    yield index, text
        finally:
            stop.set()
            worker.join()

    # ------------------------------------------------------------ scoring and many variants
    def score(self, messages, text: str) -> float | None:
        """The reward model's score of `text` as the answer to `messages`; None without a reward model."""
        if self.scorer is None:
            return None
        return self.scorer.score(as_messages(messages), text)

    def _fill_rewards(self, pairs: list[tuple[list[dict], Answer]]) -> None:
        if self.scorer is None:
            return
        scores = self.scorer.score_many([(messages, answer.text) for messages, answer in pairs])
        for (_, answer), score in zip(pairs, scores):
            answer.reward = round(float(score), 6)

    def compare(self, messages, **sampling) -> list[Answer]:
        """Every variant's answer with the same seed and settings, in `models` order; each reward
        filled in when a reward model was given."""
        messages = as_messages(messages)
        seed = sampling.pop("seed", 0)
        answers = self.answers([(label, self.encode(messages, model=label), seed) for label in self.models],
                               **sampling)
        self._fill_rewards([(messages, answer) for answer in answers])
        return answers

    def chat(self, histories: dict[str, list[dict]], user_text: str, **sampling) -> dict[str, Answer]:
        """One more turn of a multi-turn conversation, for every variant at once.

        histories: label -> that variant's own conversation so far (created when missing); each
        gets the user turn and then its own answer appended, in place. Returns label -> Answer.
        """
        seed = sampling.pop("seed", 0)
        asked = []
        for label in self.models:
            history = histories.setdefault(label, [])
            history.append({"role": "user", "content": user_text})
            asked.append(list(history))
        answers = self.answers([(label, self.encode(history, model=label), seed)
                                for label, history in zip(self.models, asked)],
                               **sampling)
        for label, answer in zip(self.models, answers):
            histories[label].append({"role": "assistant", "content": answer.text})
        self._fill_rewards(list(zip(asked, answers)))
        return dict(zip(self.models, answers))


def compare(prompt: str | list[dict], models: list[str], *, base: str | None = None,
            reward_model: str | None = None, system: str | None = None, **sampling) -> list[Answer]:
    """One-shot: load the variants, answer `prompt` with each (same seed and settings), return answers."""
    comparer = Comparer(models, base=base, reward_model=reward_model)
    return comparer.compare(as_messages(prompt, system=system), **sampling)
