"""The Feedback tab: rate two answers to a prompt, grow a preference dataset, train on it.

Pick a model (two answers with different seeds) or two models, prompts (typed, or any file with
prompts), a dataset name and the rater's name. Each judgement is appended at once to
$WORKBENCH_HOME/feedback/<name>.jsonl by `workbench.feedback`; the next pair is generated while
the rater reads the current one. Keys: 1 = A is better, 2 = B, 0 or t = tie, s = skip, u = undo
(not while typing in a box). Each answer can also get a thumbs up or down (KTO data; the pair stays
on show): q / a = A up / down, p / l = B up / down (left hand for the left answer, upper row for
up). Three buttons start a reward-model, DPO or KTO run on the dataset.
"""

from __future__ import annotations

import uuid

import gradio as gr

from ui.common import data_path, esc, guarded, notice, sample_file, sample_files
from workbench.present import run_choices, session_counter
from ui.compare_tab import comparer_for, model_choices

# Keyboard shortcuts, put in the page's <head> by ui.app.launch: a key clicks a Feedback button by
# its elem_id, only while the Feedback tab shows it and the focus is not in an editable box.
SHORTCUTS_JS = """
<script>
document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const target = event.target;
  const editable = target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
  if (editable && !target.readOnly && !target.disabled) return;
  const id = {'1': 'fb-a', '2': 'fb-b', '0': 'fb-tie', 't': 'fb-tie', 's': 'fb-skip', 'u': 'fb-undo',
              'q': 'fb-a-up', 'a': 'fb-a-down', 'p': 'fb-b-up', 'l': 'fb-b-down'}[event.key.toLowerCase()];
  const button = id && document.getElementById(id);
  if (!button || button.offsetParent === null || button.disabled) return;
  event.preventDefault();
  button.click();
});
</script>
"""

_sessions: dict = {}  # session key (kept in the page's gr.State) -> workbench.feedback.Session
KEEP_SESSIONS = 8
WAITING = "…"


def _session(key: str | None):
    session = _sessions.get(key or "")
    if session is None:
        raise gr.Error("Start rating first: pick a model and prompts, then press Start.")
    return session


def counter_text(session) -> str:
    """The counter under the answers: the dataset's size, this session, and the reward model's view."""
    counter = session_counter(session)
    return f"**{esc(counter.name)}**: " + " · ".join(esc(fact) for fact in counter.facts)


def show(session, status: str):
    """(prompt, answer A, answer B, correction, counter, status) for the pair on show."""
    pair = session.current
    if pair is None:
        return ("*All prompts are rated.* Start again with more prompts, or train on the feedback below.",
                "", "", "", counter_text(session), notice(status, "ok"))
    prompt = "\n\n".join(f"**{esc(m['role'])}:** {esc(m['content'])}" for m in pair.prompt)
    return prompt, pair.left.text, pair.right.text, "", counter_text(session), notice(status)


def waiting(session, status: str):
    return gr.skip(), WAITING, WAITING, "", counter_text(session), notice(status)


@guarded
def start(model, model_2, base, reward, prompts_text, prompts_file, name, rater, temperature, max_new, seed):
    """Load the models, make a session and show its first pair. Yields show()'s outputs + the key."""
    from workbench.feedback import Session, check_name, prompts_from
    check_name(name)
    models = tuple(dict.fromkeys(m for m in (model, model_2) if m))
    if not models:
        raise gr.Error("Pick the model whose answers you rate.")
    prompts = prompts_from(prompts_text, data_path(prompts_file) if (prompts_file or "").strip() else None)
    yield "", WAITING, WAITING, "", "", notice(f"Loading {', '.join(models)}…"), gr.skip()
    session = Session(name, list(models), prompts, comparer=comparer_for(models, base, reward),
                      rater=rater, seed=int(seed or 0), temperature=float(temperature),
                      max_new_tokens=int(max_new))
    key = uuid.uuid4().hex
    _sessions[key] = session
    while len(_sessions) > KEEP_SESSIONS:
        _sessions.pop(next(iter(_sessions))).close()
    yield "", WAITING, WAITING, "", counter_text(session), notice(f"Generating the first pair of {len(prompts)}…"), key
    session.advance()
    yield *show(session, "Which answer is better? Keys: 1 = A, 2 = B, 0 = tie, s = skip, u = undo; "
                         "thumbs: q / a = A up / down, p / l = B up / down."), key


VERDICTS = {"left": "A is better", "right": "B is better", "tie": "a tie", "skip": "skipped (not saved)"}


def judge(choice: str):
    @guarded
    def handler(key, correction):
        session = _session(key)
        if session.current is None:
            raise gr.Error("All prompts are rated: press Start with more prompts.")
        record = session.judge(choice, correction)
        saved = f"Saved: {VERDICTS[choice]}" + (" (corrected)" if record and "chosen_original" in record else "")
        if choice == "skip":
            saved = "Skipped (not saved)"
        yield waiting(session, f"{saved}. Preparing the next pair…")
        session.advance()
        yield show(session, f"{saved}. " + ("Next pair:" if session.current else "That was the last prompt."))
    return handler


THUMB_WORDS = {"up": "👍", "down": "👎"}


def thumb(side: str, value: str):
    @guarded
    def handler(key):
        """Record a thumb on one answer on show; returns (counter, status). The pair stays."""
        session = _session(key)
        if session.current is None:
            raise gr.Error("All prompts are rated: press Start with more prompts.")
        session.thumb(side, value)
        given = ", ".join(f"{'A' if s == 'left' else 'B'} {THUMB_WORDS[t]}" for s, t in sorted(session.thumbs().items()))
        return counter_text(session), notice(f"Saved: {given}. Now pick the better answer, or skip to the next pair.",
                                             "ok")
    return handler


@guarded
def undo(key):
    session = _session(key)
    session.undo()
    return show(session, "Took back the last judgement (a retraction was appended). Judge this pair again.")


@guarded
def train(stage, name, model, base, steps, max_length):
    """Start a reward, DPO or KTO run on the dataset; returns the message naming the run."""
    from workbench.feedback import check_name, train_from_feedback
    from workbench.train.config import start_from
    # DPO and KTO continue the model that was rated; a reward model trains a head on its base.
    run = train_from_feedback(check_name(name), stage, **start_from(stage, model, base=base),
                              max_steps=int(steps), max_length=int(max_length or 512))
    what = {"reward": "reward model", "dpo": "DPO", "kto": "KTO"}[stage]
    rows = "rows: thumbs, and 2 per pair" if stage == "kto" else "judgements"
    return notice(f"Started {what} run **{esc(run.name)}** on '{esc(name)}' "
                  f"({run.config()['max_rows']} {rows}). Follow it in the Train or Runs tab.", "ok")


def _answer_column(side: str, up_key: str, down_key: str):
    """One answer on show and its thumbs: (text box, up button, down button); side is A or B."""
    with gr.Column():
        answer = gr.Textbox(label=f"Answer {side}", lines=8, interactive=False,
                            elem_id=f"fb-answer-{side.lower()}")
        with gr.Row():
            up = gr.Button(f"👍 {side} [{up_key}]", size="sm", elem_id=f"fb-{side.lower()}-up")
            down = gr.Button(f"👎 {side} [{down_key}]", size="sm", elem_id=f"fb-{side.lower()}-down")
    return answer, up, down


def build(ctx: dict) -> gr.Tab:
    choices = model_choices()
    with gr.Tab("Feedback", id="feedback", elem_id="tab-feedback") as tab:
        gr.Markdown("Rate two answers to each prompt: one model with two seeds, or two models (shown in random "
                    "order), and give single answers a thumbs up or down. Each judgement is saved at once to "
                    "`feedback/<name>.jsonl`: its pairs train a reward model or DPO; its thumbs (and each pair "
                    "as a good and a bad answer) train KTO.")
        with gr.Row():
            model = gr.Dropdown(choices=choices, value="base", allow_custom_value=True, elem_id="fb-model",
                                label="Model whose answers you rate ('base' is the model above)")
            model_2 = gr.Dropdown(choices=[""] + choices, value="", allow_custom_value=True, elem_id="fb-model-2",
                                  label="Second model (optional: then each answers once)")
            reward = gr.Dropdown(choices=[""] + run_choices("reward_model"), value="",
                                 elem_id="fb-reward", label="Reward model to compare with (optional)")
        with gr.Row():
            prompts_text = gr.Textbox(lines=3, label="Prompts, one per line", elem_id="fb-prompts", scale=2,
                                      placeholder="Typed prompts are used when given; otherwise the file's.")
            prompts_file = gr.Dropdown(choices=sample_files(), value=sample_file("prompts.jsonl"),
                                       allow_custom_value=True, elem_id="fb-file", scale=2,
                                       label="…or the prompts of a file (any dataset with prompts)")
        with gr.Row():
            name = gr.Textbox(value="my-feedback", label="Feedback dataset name", elem_id="fb-name")
            rater = gr.Textbox(label="Your name (rater; optional)", elem_id="fb-rater")
            temperature = gr.Slider(0.0, 1.5, value=0.8, step=0.05, label="Temperature", elem_id="fb-temperature")
            max_new = gr.Slider(8, 256, value=64, step=8, label="Max new tokens", elem_id="fb-max-new")
            seed = gr.Number(value=0, precision=0, label="Seed (answers and sides)", elem_id="fb-seed")
            start_button = gr.Button("Start rating", variant="primary", elem_id="fb-start")
        status = gr.Markdown(elem_id="fb-status")
        prompt = gr.Markdown(elem_id="fb-prompt")
        with gr.Row():
            answer_a, a_up, a_down = _answer_column("A", "q", "a")
            answer_b, b_up, b_down = _answer_column("B", "p", "l")
        with gr.Row():
            a_button = gr.Button("A is better [1]", variant="primary", elem_id="fb-a")
            b_button = gr.Button("B is better [2]", variant="primary", elem_id="fb-b")
            tie_button = gr.Button("Tie [0]", elem_id="fb-tie")
            skip_button = gr.Button("Skip [s]", elem_id="fb-skip")
            undo_button = gr.Button("Undo last [u]", elem_id="fb-undo")
        with gr.Row():
            correction = gr.Textbox(lines=3, scale=5, elem_id="fb-correction",
                                    label="Correct the better answer before saving (optional; saved as 'chosen', "
                                          "the original is kept)")
            with gr.Column(scale=1, min_width=120):
                edit_a = gr.Button("Edit A", size="sm", elem_id="fb-edit-a")
                edit_b = gr.Button("Edit B", size="sm", elem_id="fb-edit-b")
        counter = gr.Markdown(elem_id="fb-counter")
        with gr.Row():
            steps = gr.Number(value=20, precision=0, minimum=1, label="Training steps", elem_id="fb-steps")
            train_reward = gr.Button("Train reward model from this feedback", elem_id="fb-train-reward")
            train_dpo = gr.Button("Train DPO from this feedback", elem_id="fb-train-dpo")
            train_kto = gr.Button("Train KTO from this feedback", elem_id="fb-train-kto")
        train_message = gr.Markdown(elem_id="fb-train-message")
        key = gr.State(None)

    shown = [prompt, answer_a, answer_b, correction, counter, status]
    start_button.click(start, [model, model_2, ctx["model"], reward, prompts_text, prompts_file, name, rater,
                               temperature, max_new, seed], [*shown, key], api_visibility="private")
    for button, choice in ((a_button, "left"), (b_button, "right"), (tie_button, "tie"), (skip_button, "skip")):
        button.click(judge(choice), [key, correction], shown, api_visibility="private")
    for button, side, value in ((a_up, "left", "up"), (a_down, "left", "down"), (b_up, "right", "up"),
                                (b_down, "right", "down")):
        button.click(thumb(side, value), key, [counter, status], api_visibility="private")
    undo_button.click(undo, key, shown, api_visibility="private")
    edit_a.click(lambda text: text, answer_a, correction, api_visibility="private")
    edit_b.click(lambda text: text, answer_b, correction, api_visibility="private")
    for button, stage in ((train_reward, "reward"), (train_dpo, "dpo"), (train_kto, "kto")):
        button.click(lambda *args, stage=stage: train(stage, *args),
                     [name, model, ctx["model"], steps, ctx["max_length"]], train_message, api_visibility="private")

    def refresh():
        now = model_choices()
        return (gr.update(choices=now), gr.update(choices=[""] + now),
                gr.update(choices=[""] + run_choices("reward_model")))
    tab.select(refresh, None, [model, model_2, reward], api_visibility="private")
    return tab
