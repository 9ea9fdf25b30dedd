"""Evaluation: side-by-side comparison, held-out metrics and win rates, reward scoring, export.

    compare.py   Comparer: base / SFT / RLHF variants from one base in memory (PEFT adapters)
    evaluate.py  held-out loss, preference accuracy, mean reward, pairwise win rates; saved results
    score.py     RewardScorer: a reward run's score of a (prompt, answer) pair
    export.py    export_run: a run's adapter, a merged standalone transformers folder, or a GGUF
    gguf.py      write_gguf: a Llama causal LM and its tokenizer as one GGUF file (llama.cpp, Ollama)

Importing this package loads neither torch nor transformers; the functions do, on first use.
"""

from workbench.evaluate.compare import Answer, Comparer, as_messages, compare
from workbench.evaluate.evaluate import (
    evaluate_file, evaluate_models, list_evals, wilson_interval, win_rates,
)
from workbench.evaluate.export import export_run

__all__ = ["Answer", "Comparer", "as_messages", "compare", "evaluate_file", "evaluate_models",
           "export_run", "list_evals", "wilson_interval", "win_rates"]
