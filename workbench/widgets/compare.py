"""Side by side: two or three models ("base", run names) answer the same prompt with the same
seed and settings, each answer scored by a reward model when one is chosen. It is
`workbench.evaluate.Comparer`; the loaded models are kept while the choice of models stays the same.
"""

from __future__ import annotations

import ipywidgets as widgets

from workbench.present import ComparerCache, run_choices
from workbench.widgets.common import esc, guarded, notice

COLUMNS = 3


def answer_html(answer) -> str:
    """One column: the model, tokens and time, the reward, and the answer text."""
    head = f"<b>{esc(answer.model)}</b> · {answer.tokens} tokens in {answer.seconds:.1f} s"
    if answer.reward is not None:
        head += f" · reward <b>{answer.reward:+.3f}</b>"
    return (f'<div class="wb-answer" style="border:1px solid #d1d5db;border-radius:6px;padding:6px">'
            f'{head}<div style="white-space:pre-wrap;margin-top:4px">{esc(answer.text)}</div></div>')


class CompareWidget(widgets.VBox):
    """Choose 2-3 models and optionally a reward model, type a prompt, press Compare.

    `compare(prompt)` is the handler; it returns the list of `Answer`s (model, text, tokens,
    seconds, reward) in column order, and draws them side by side.
    """

    def __init__(self, models: list[str] | None = None, *, reward_model: str | None = None,
                 base: str | None = None, prompt: str = "", seed: int = 0, temperature: float = 0.0,
                 max_new_tokens: int = 64, precision: str = "auto"):
        from workbench.models.hardware import precision_choices
        self.base = base
        self._comparers = ComparerCache()
        chosen = list(models or ["base"])[:COLUMNS]
        self.models = [widgets.Dropdown(description=f"Model {i + 1}") for i in range(COLUMNS)]
        self.reward_model = widgets.Dropdown(description="Reward model")
        self.precision = widgets.Dropdown(options=precision_choices(), value=precision, description="Precision")
        self.refresh_choices(chosen + [""] * (COLUMNS - len(chosen)), reward_model or "")
        self.prompt = widgets.Textarea(value=prompt, placeholder="Ask something…", description="Prompt",
                                       layout=widgets.Layout(width="95%", height="70px"))
        self.seed = widgets.IntText(value=seed, description="Seed")
        self.temperature = widgets.BoundedFloatText(value=temperature, min=0.0, max=5.0, step=0.1,
                                                    description="Temperature")
        self.max_new_tokens = widgets.BoundedIntText(value=max_new_tokens, min=1, max=4096,
                                                     description="Max tokens")
        self.button = widgets.Button(description="Compare", button_style="primary")
        self.status = widgets.HTML()
        self.columns = widgets.GridBox([], layout=widgets.Layout(grid_template_columns="1fr 1fr 1fr",
                                                                 grid_gap="8px"))
        self.answers = []
        self.button.on_click(lambda _: self.compare())
        super().__init__([widgets.HBox(self.models), widgets.HBox([self.reward_model, self.precision]), self.prompt,
                          widgets.HBox([self.seed, self.temperature, self.max_new_tokens, self.button]),
                          self.status, self.columns])

    def refresh_choices(self, models: list[str] | None = None, reward_model: str | None = None) -> None:
        """Offer "base" and every run with a trained output (reward runs as the reward model only)."""
        models = models if models is not None else [d.value for d in self.models]
        reward_model = reward_model if reward_model is not None else self.reward_model.value
        choices = ["", "base"] + run_choices("answers")
        for dropdown, value in zip(self.models, models):
            dropdown.options = list(dict.fromkeys(choices + ([value] if value else [])))
            dropdown.value = value
        rewards = [""] + run_choices("reward_model")
        self.reward_model.options = list(dict.fromkeys(rewards + ([reward_model] if reward_model else [])))
        self.reward_model.value = reward_model

    @property
    def comparer(self):
        """The Comparer of the last comparison (None before the first)."""
        return self._comparers.comparer

    def _comparer(self, models: tuple[str, ...], reward_model: str | None):
        """The Comparer for these models; loading is the slow part, so the last one is kept."""
        return self._comparers.get(models, base=self.base, reward_model=reward_model,
                                   precision=self.precision.value)

    @guarded
    def compare(self, prompt: str | None = None) -> list:
        if prompt is not None:
            self.prompt.value = prompt
        models = tuple(dict.fromkeys(d.value for d in self.models if d.value))
        if not models:
            self.status.value = notice("Pick at least one model to answer.", "error")
            return []
        if not self.prompt.value.strip():
            self.status.value = notice("Type a prompt first.", "error")
            return []
        self.status.value = notice(f"Answering with {', '.join(models)}…")
        comparer = self._comparer(models, self.reward_model.value or None)
        self.answers = comparer.compare(self.prompt.value, seed=self.seed.value,
                                        temperature=self.temperature.value,
                                        max_new_tokens=self.max_new_tokens.value)
        self.columns.children = [widgets.HTML(answer_html(a)) for a in self.answers]
        self.status.value = notice(f"Same prompt, seed {self.seed.value} and settings for every model, "
                                   f"in {comparer.hardware.precision}.", "ok")
        return self.answers
