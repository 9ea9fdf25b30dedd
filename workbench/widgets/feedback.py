"""Human feedback in a notebook: two answers to a prompt side by side, buttons to judge them.

The same engine calls as the GUI's Feedback tab (`workbench.feedback.Session`): each judgement is
appended at once to $WORKBENCH_HOME/feedback/<name>.jsonl, undo appends a retraction, and the next
pair is generated while you read the current one. Under each answer, thumbs up / down record it
alone as a good or bad answer (KTO data); the pair stays on show to be judged or skipped.

    FeedbackWidget("my-feedback", ["base"], prompts=["Hi!", "Name a colour."], rater="ana")
    FeedbackWidget("my-feedback", ["sft-1", "dpo-2"], file="sample_data/prompts.jsonl")
"""

from __future__ import annotations

import ipywidgets as widgets

from workbench.present import session_counter
from workbench.widgets.common import esc, guarded, notice

LABELS = {"left": "A is better", "right": "B is better", "tie": "Tie", "skip": "Skip"}


def _box(title: str, text: str) -> str:
    return (f'<div style="border:1px solid #d1d5db;border-radius:6px;padding:6px;min-height:4em">'
            f'<b>{esc(title)}</b><div style="white-space:pre-wrap;margin-top:4px">{esc(text)}</div></div>')


class FeedbackWidget(widgets.VBox):
    """Rate the answers of one model (two seeds) or two models to each prompt.

    prompts: strings (one user turn each) or message lists; or `file`: any dataset with prompts.
    `choose("left" | "right" | "tie" | "skip", corrected=None)`, `thumb("left" | "right", "up" |
    "down")` and `undo()` are the buttons' handlers; `choose` and `thumb` return the record written
    (None for a skip). `session` is the engine's
    Session (its `current` pair, `counts()`).
    """

    def __init__(self, name: str = "my-feedback", models=("base",), *, prompts=None, file=None,
                 rater: str | None = None, reward_model: str | None = None, base: str | None = None,
                 seed: int = 0, temperature: float = 0.8, max_new_tokens: int = 64, comparer=None):
        self.status = widgets.HTML()
        self.prompt = widgets.HTML()
        self.answers = [widgets.HTML() for _ in range(2)]
        columns = []
        for side, answer in zip(("left", "right"), self.answers):
            thumbs = []
            for value, label in (("up", "👍"), ("down", "👎")):
                button = widgets.Button(description=f"{label} {'A' if side == 'left' else 'B'}",
                                        layout=widgets.Layout(width="auto"))
                button.on_click(lambda _, side=side, value=value: self.thumb(side, value))
                thumbs.append(button)
            columns.append(widgets.VBox([answer, widgets.HBox(thumbs)], layout=widgets.Layout(width="50%")))
        buttons = []
        for choice, label in LABELS.items():
            button = widgets.Button(description=label, button_style="primary" if choice in ("left", "right") else "")
            button.on_click(lambda _, choice=choice: self.choose(choice, self.correction.value))
            buttons.append(button)
        undo_button = widgets.Button(description="Undo last")
        undo_button.on_click(lambda _: self.undo())
        self.correction = widgets.Textarea(placeholder="Optional: the better answer as it should be (saved as "
                                                       "'chosen'; the original is kept)",
                                           layout=widgets.Layout(width="100%"))
        self.counter = widgets.HTML()
        super().__init__([self.status, self.prompt, widgets.HBox(columns), widgets.HBox(buttons + [undo_button]),
                          self.correction, self.counter])
        self.session = None
        self._start(name, list(models), prompts, file, rater=rater, reward_model=reward_model, base=base,
                    seed=seed, temperature=temperature, max_new_tokens=max_new_tokens, comparer=comparer)

    @guarded
    def _start(self, name, models, prompts, file, *, comparer, **settings):
        from workbench.evaluate import as_messages
        from workbench.feedback import Session, prompts_from
        messages = [as_messages(p) for p in prompts] if prompts else prompts_from(file=file)
        self.status.value = notice(f"Loading {', '.join(models)} and generating the first pair…")
        self.session = Session(name, models, messages, comparer=comparer, base=settings.pop("base"),
                               reward_model=settings.pop("reward_model"), **settings)
        self.session.advance()
        self._show("Which answer is better?")

    def _show(self, status: str, *, keep_correction: bool = False) -> None:
        pair = self.session.current
        if pair is None:
            self.prompt.value = "<i>All prompts are rated.</i>"
            self.answers[0].value = self.answers[1].value = ""
        else:
            self.prompt.value = "<br>".join(f"<b>{esc(m['role'])}:</b> {esc(m['content'])}" for m in pair.prompt)
            self.answers[0].value = _box("A", pair.left.text)
            self.answers[1].value = _box("B", pair.right.text)
        if not keep_correction:
            self.correction.value = ""
        counter = session_counter(self.session)
        self.counter.value = f"<b>{esc(counter.name)}</b>: " + " · ".join(esc(fact) for fact in counter.facts)
        self.status.value = notice(status, "ok")

    @guarded
    def choose(self, choice: str, corrected: str | None = None):
        if self.session is None or self.session.current is None:
            raise RuntimeError("no pair is on show")
        record = self.session.judge(choice, corrected)
        self.status.value = notice(f"Saved: {LABELS[choice]}. Preparing the next pair…")
        self.session.advance()
        self._show(f"{LABELS[choice]}: " + ("saved" if record else "not saved") + ".")
        return record

    @guarded
    def thumb(self, side: str, value: str):
        if self.session is None or self.session.current is None:
            raise RuntimeError("no pair is on show")
        record = self.session.thumb(side, value)
        given = ", ".join(f"{'A' if s == 'left' else 'B'} {'👍' if t == 'up' else '👎'}"
                          for s, t in sorted(self.session.thumbs().items()))
        self._show(f"Saved: {given}. Now pick the better answer, or skip.", keep_correction=True)
        return record

    @guarded
    def undo(self):
        pair = self.session.undo()
        self._show("Took back the last judgement (a retraction was appended); judge this pair again.")
        return pair


__all__ = ["FeedbackWidget"]
