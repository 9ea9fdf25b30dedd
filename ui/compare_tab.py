"""The Compare tab: up to three models answer the same prompt side by side, with the same seed.

"base" is the base model; any completed run stands for its base plus what it trained. Answers
stream into three chat columns, a reward model (a reward run) can score each one, and the
conversation continues turn by turn. The evaluation panel scores the models on a held-out file
and shows win rates. All of it is `workbench.evaluate`.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from workbench.present import ComparerCache, run_choices
from ui.common import data_path, esc, guarded, model_names, sample_files

COLUMNS = 3
_comparers = ComparerCache()  # one for the app: the Compare and Feedback tabs share the loaded models


def comparer_for(models: tuple[str, ...], base: str | None, reward_model: str | None):
    """One Comparer at a time: loading models is the slow part, so keep the last set."""
    return _comparers.get(models, base=base, reward_model=reward_model)


def precision_line() -> str:
    """What the models here compute in, and how to change it."""
    from workbench.models import detect_hardware
    from workbench.models.hardware import describe_precision
    return (f"Models answer in {describe_precision(detect_hardware())} To change it, start the app "
            "with `workbench launch --precision fp32|bf16` (or set WORKBENCH_PRECISION).")


def model_choices() -> list[str]:
    return ["base"] + run_choices("answers")


def score_text(model: str, answer, reward: float | None) -> str:
    """The line under a column: model, tokens, time and tokens/s (the columns decode together, so
    they share the time), and the reward model's score."""
    parts = [f"**{esc(model)}**"]
    if answer is not None:
        rate = f" ({answer.tokens / answer.seconds:.1f} tok/s)" if answer.seconds > 0 else ""
        parts.append(f"{answer.tokens} tokens in {answer.seconds:.1f} s{rate}")
    if reward is not None:
        parts.append(f"reward **{reward:+.3f}**")
    return " · ".join(parts)


@guarded
def send(prompt: str, m1: str, m2: str, m3: str, base: str, reward_model: str, seed, temperature,
         top_p, max_new_tokens, histories: list[list[dict]] | None):
    """Stream every chosen model's answer to `prompt`, all columns growing together (the models
    share each forward pass: `Comparer.stream_answers`), then score them.

    Yields (chat 1..3, score 1..3, histories, prompt box). Each chat is the column's conversation.
    """
    models = [m1, m2, m3]
    chosen = tuple(dict.fromkeys(m for m in models if m))
    if not chosen:
        raise gr.Error("Pick at least one model to answer.")
    if not (prompt or "").strip():
        raise gr.Error("Type a prompt first.")
    histories = [list(h) for h in (histories or [[]] * COLUMNS)]
    comparer = comparer_for(chosen, base, reward_model)
    seed = int(seed or 0)
    sampling = dict(temperature=float(temperature), top_p=float(top_p), max_new_tokens=int(max_new_tokens))
    chats = [h + [{"role": "user", "content": prompt}] if m else h for h, m in zip(histories, models)]
    scores = [f"**{esc(m)}**" if m else "" for m in models]
    yield (*chats, *scores, histories, "")
    columns = [i for i, m in enumerate(models) if m]
    asked = {i: list(chats[i]) for i in columns}
    requests = [(models[i], comparer.encode(asked[i], model=models[i]), seed) for i in columns]
    answers = []
    for item in comparer.stream_answers(requests, **sampling):
        if isinstance(item, list):
            answers = item
            break
        index, text = item
        column = columns[index]
        chats[column] = asked[column] + [{"role": "assistant", "content": text}]
        yield (*chats, *scores, gr.skip(), gr.skip())
    for column, answer in zip(columns, answers):
        chats[column] = asked[column] + [{"role": "assistant", "content": answer.text}]
        scores[column] = score_text(models[column], answer, comparer.score(asked[column], answer.text))
    yield (*chats, *scores, chats, gr.skip())


def clear():
    return (*([[]] * COLUMNS), *([""] * COLUMNS), [[] for _ in range(COLUMNS)], "")


def metrics_table(models: dict) -> pd.DataFrame:
    """One row per model with the metrics the evaluation produced (loss, perplexity, accuracy, ...)."""
    rows = [{"model": model, **{k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}}
            for model, metrics in models.items()]
    return pd.DataFrame(rows)


def rates_table(rates: list[dict]) -> pd.DataFrame:
    columns = ["model", "opponent", "n", "wins", "losses", "ties", "win_rate", "ci_low", "ci_high"]
    return pd.DataFrame([[round(r[c], 3) if isinstance(r[c], float) else r[c] for c in columns] for r in rates],
                        columns=columns)


@guarded
def evaluate(m1: str, m2: str, m3: str, base: str, reward_model: str, file_text: str, max_rows, seed):
    """Evaluate the chosen models on a held-out file: (summary, metrics table, win-rate table)."""
    from workbench.evaluate import evaluate_file
    models = tuple(dict.fromkeys(m for m in (m1, m2, m3) if m))
    if not models:
        raise gr.Error("Pick the models to evaluate above.")
    path = data_path(file_text)
    record = evaluate_file(list(models), path, reward_model=reward_model or None, base=base or None,
                           max_rows=int(max_rows) if max_rows else None, seed=int(seed or 0),
                           comparer=comparer_for(models, base, reward_model))
    summary = (f"Evaluated {', '.join(esc(m) for m in models)} on **{esc(path.rsplit('/', 1)[-1])}** "
               f"(first {int(max_rows)} rows; saved as `{esc(record['id'])}`).")
    if not record["win_rates"]:
        summary += (" Win rates compare reward-model scores of each model's answers: choose a reward model "
                    "(and a file with prompts) to get them.")
    return summary, metrics_table(record["models"]), rates_table(record["win_rates"])


def build(ctx: dict) -> gr.Tab:
    choices = model_choices()
    defaults = (choices + [None] * COLUMNS)[:COLUMNS]
    with gr.Tab("Compare", id="compare", elem_id="tab-compare") as tab:
        with gr.Row():
            base = gr.Dropdown(choices=model_names(), value=ctx["model"].value, allow_custom_value=True,
                               elem_id="compare-base",
                               label="Base model ('base' and runs without a base use it)")
            reward = gr.Dropdown(choices=[""] + run_choices("reward_model"), value="",
                                 label="Reward model (a reward run) to score answers; optional",
                                 elem_id="compare-reward")
            seed = gr.Number(value=0, precision=0, label="Seed (same for every model)", elem_id="compare-seed")
            temperature = gr.Slider(0.0, 1.5, value=0.7, step=0.05, label="Temperature", elem_id="compare-temperature")
            top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p", elem_id="compare-top-p")
            max_new = gr.Slider(8, 512, value=96, step=8, label="Max new tokens", elem_id="compare-max-new")
        gr.Markdown(f"*{esc(precision_line())}*", elem_id="compare-precision")
        pickers, chats, scores = [], [], []
        with gr.Row():
            for i in range(COLUMNS):
                with gr.Column():
                    pickers.append(gr.Dropdown(choices=choices, value=defaults[i], allow_custom_value=True,
                                               label=f"Model {i + 1}", elem_id=f"compare-model-{i + 1}"))
                    chats.append(gr.Chatbot(height=360, elem_id=f"compare-chat-{i + 1}", label=f"Model {i + 1}",
                                            buttons=["copy"]))
                    scores.append(gr.Markdown(elem_id=f"compare-score-{i + 1}"))
        with gr.Row():
            prompt = gr.Textbox(label="Prompt (the conversation continues turn by turn)", lines=2, scale=5,
                                elem_id="compare-prompt")
            with gr.Column(scale=1):
                send_button = gr.Button("Send", variant="primary", elem_id="compare-send")
                clear_button = gr.Button("New conversation", elem_id="compare-clear")
        histories = gr.State([[] for _ in range(COLUMNS)])
        with gr.Accordion("Evaluation on a held-out file: win rates", open=False, elem_id="compare-eval"):
            with gr.Row():
                eval_file = gr.Dropdown(choices=sample_files(), allow_custom_value=True, label="Held-out file",
                                        value=None, elem_id="compare-eval-file")
                max_rows = gr.Number(value=16, precision=0, minimum=1, label="Rows (the first N)",
                                     elem_id="compare-eval-n")
                eval_button = gr.Button("Evaluate", elem_id="compare-eval-run")
            eval_summary = gr.Markdown(elem_id="compare-eval-summary")
            eval_metrics = gr.Dataframe(interactive=False, label="Held-out metrics", elem_id="compare-eval-metrics")
            eval_rates = gr.Dataframe(interactive=False, label="Win rates (reward-model scores; ties count half; "
                                      "95% Wilson interval)", elem_id="compare-eval-rates")

    inputs = [prompt, *pickers, base, reward, seed, temperature, top_p, max_new, histories]
    outputs = [*chats, *scores, histories, prompt]
    send_button.click(send, inputs, outputs, api_name="compare")
    prompt.submit(send, inputs, outputs, api_visibility="private")
    clear_button.click(clear, None, outputs, api_visibility="private")
    eval_button.click(evaluate, [*pickers, base, reward, eval_file, max_rows, seed],
                      [eval_summary, eval_metrics, eval_rates], api_name="evaluate")

    def refresh(model):
        choices_now = model_choices()
        return (*(gr.update(choices=choices_now) for _ in pickers),
                gr.update(choices=[""] + run_choices("reward_model")),
                gr.update(choices=model_names()))
    tab.select(refresh, ctx["model"], [*pickers, reward, base], api_visibility="private")
    ctx["model"].change(lambda m: m, ctx["model"], base, api_visibility="private")
    ctx.update(compare_send=(send, inputs, outputs), compare_pickers=pickers, compare_prompt=prompt)
    return tab
