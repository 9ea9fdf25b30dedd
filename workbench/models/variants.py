"""Model references the front ends accept: "base", a model name or folder, or a training run.

A run stands for its base model plus what it trained: a PEFT adapter folder (usual) or a full
model folder. Comparison, scoring, PPO and export all resolve names through `model_ref`, so
"base,sft-1,dpo-2" means the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.errors import RunError


@dataclass
class ModelRef:
    label: str               # what the user typed
    base: str                # base model name or folder (what load_causal_lm takes)
    adapter: Path | None     # PEFT adapter folder, when the variant is base + adapter
    stage: str | None        # the run's stage (sft, reward, dpo, ppo, ...); None for a plain model
    run_name: str | None = None

    @property
    def is_run(self) -> bool:
        return self.run_name is not None


def model_ref(name: str, *, base: str | None = None) -> ModelRef:
    """Resolve `name`: "base" (the given or default base), a run name, or a model name/folder."""
    from workbench.models.sources import DEFAULT_MODEL
    from workbench.runs import Run, get_run

    name = str(name).strip()
    if name in ("", "base"):
        return ModelRef(label="base", base=base or DEFAULT_MODEL, adapter=None, stage=None)
    try:
        run = get_run(name)
    except RunError:
        folder = Path(name).expanduser()
        if not (folder / "config.yaml").is_file():
            return ModelRef(label=name, base=name, adapter=None, stage=None)
        run = Run(folder.resolve())  # a run folder given as a model path (a copy, another home)
    config, output = run.config(), run.finished_output()
    if output.name == "model":
        return ModelRef(label=run.name, base=str(output), adapter=None, stage=config.get("stage"),
                        run_name=run.name)
    return ModelRef(label=run.name, base=config.get("model"), adapter=output, stage=config.get("stage"),
                    run_name=run.name)
