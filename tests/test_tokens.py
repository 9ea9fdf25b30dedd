"""Tokenization you can see: the mask shown is the mask trained, on the real SmolLM2 tokenizer."""

import json
import os
import subprocess
import sys

import pytest

from workbench.data.tokens import cut_prompt, encode_preference, encode_row, length_stats, token_view
from workbench.present import chips_html, cut_summary
from workbench.models import load_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONVERSATION = {"messages": [
    {"role": "system", "content": "You are Captain Brief."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Arr, Paris."},
    {"role": "user", "content": "And of Spain?"},
    {"role": "assistant", "content": "Madrid, matey."},
]}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("tiny")


def trained_text(tokenizer, encoded):
    """The trained tokens, decoded run by run (a run is a maximal stretch of trained tokens)."""
    runs, current = [], []
    for token_id, trained in zip(encoded["input_ids"], encoded["assistant_masks"]):
        if trained:
            current.append(token_id)
        elif current:
            runs.append(tokenizer.decode(current))
            current = []
    if current:
        runs.append(tokenizer.decode(current))
    return runs


def test_only_assistant_turns_are_trained_in_a_multi_turn_conversation(tokenizer):
    encoded = encode_row(tokenizer, CONVERSATION)
    assert trained_text(tokenizer, encoded) == ["Arr, Paris.<|im_end|>", "Madrid, matey.<|im_end|>"]
    # everything else - system, user turns, role headers, the newline after each turn - is masked
    untrained = tokenizer.decode([t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if not m])
    assert "You are Captain Brief." in untrained and "Capital of France?" in untrained
    assert "Paris" not in untrained and "Madrid" not in untrained


def test_mask_matches_what_the_trainer_trains_on(tokenizer):
    """The SFT stage feeds encode_row's output to TRL; TRL's labels must equal our mask."""
    from trl import SFTConfig, SFTTrainer

    from workbench.models import load_causal_lm
    from workbench.train.sft import encode_rows

    dataset = encode_rows(tokenizer, [CONVERSATION], assistant_only=True)
    trainer = SFTTrainer(model=load_causal_lm("tiny"), processing_class=tokenizer, train_dataset=dataset,
                         args=SFTConfig(output_dir="/tmp/unused", use_cpu=True, bf16=False, packing=False,
                                        report_to="none", max_length=512, dataset_num_proc=None))
    labels = trainer.train_dataset[0]["labels"]
    expected = encode_row(tokenizer, CONVERSATION)
    assert [label != -100 for label in labels] == [bool(m) for m in expected["assistant_masks"]]


def test_all_tokens_switch_and_plain_text(tokenizer):
    everything = encode_row(tokenizer, CONVERSATION, assistant_only=False)
    assert all(everything["assistant_masks"])
    text = encode_row(tokenizer, {"text": "Once upon a time"})
    assert all(text["assistant_masks"]) and text["input_ids"][-1] == tokenizer.eos_token_id


def test_token_view_marks_truncation(tokenizer):
    full = token_view(tokenizer, CONVERSATION)
    assert full["cut_at"] is None and full["n_trained"] == sum(t["trained"] for t in full["tokens"])
    cut = token_view(tokenizer, CONVERSATION, max_length=30)
    assert cut["cut_at"] == 30
    assert [t["truncated"] for t in cut["tokens"]] == [i >= 30 for i in range(cut["n_tokens"])]
    assert cut["n_trained"] < full["n_trained"]
    assert "<|im_start|>assistant" in cut["text"]


def test_prompt_only_rows_end_with_generation_prompt_and_train_nothing(tokenizer):
    view = token_view(tokenizer, {"prompt": [{"role": "user", "content": "Hi"}]})
    assert view["text"].endswith("<|im_start|>assistant\n") and view["n_trained"] == 0


def test_preference_split_at_the_answer(tokenizer):
    row = {"prompt": [{"role": "user", "content": "Hi"}], "chosen": "Ahoy!", "rejected": "Hello there."}
    pair = encode_preference(tokenizer, row)
    assert tokenizer.decode(pair["prompt_ids"]).endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(pair["chosen_ids"]) == "Ahoy!<|im_end|>"
    assert tokenizer.decode(pair["rejected_ids"]) == "Hello there.<|im_end|>"


def test_cut_prompt_drops_the_prompt_start_and_keeps_the_answers():
    prompt, chosen, rejected = [1, 2, 3, 4, 5, 6], [10, 11], [20, 21, 22]
    assert cut_prompt(prompt, [chosen, rejected], None) == prompt
    assert cut_prompt(prompt, [chosen, rejected], 9) == prompt        # 6 + 3 fit exactly
    assert cut_prompt(prompt, [chosen, rejected], 7) == [3, 4, 5, 6]  # room left by the longer answer
    assert cut_prompt(prompt, [chosen], 7) == [2, 3, 4, 5, 6]         # one answer (an unpaired row)
    assert cut_prompt(prompt, [chosen, rejected], 4) == [6]           # one prompt token is enough
    # an answer that leaves no room for one prompt token cannot fit: its first token would go unscored
    assert cut_prompt(prompt, [chosen, rejected], 3) is None
    assert cut_prompt(prompt, [chosen, list(range(50))], 40) is None
    # nothing to learn from: an empty answer, or nothing fits at all
    assert cut_prompt(prompt, [chosen, []], 100) is None
    assert cut_prompt(prompt, [chosen, rejected], 1) is None


LONG_PAIR = {"prompt": [{"role": "system", "content": "You are Captain Brief, a pirate of few words. " * 4},
                        {"role": "user", "content": "Capital of France?"}],
             "chosen": "Arr, Paris.", "rejected": "I believe it is Paris, the city of light, on the Seine."}


def test_token_view_of_a_preference_row_cuts_the_prompt_start(tokenizer):
    pair = encode_preference(tokenizer, LONG_PAIR)
    prompt, longest = len(pair["prompt_ids"]), len(pair["rejected_ids"])
    assert longest > len(pair["chosen_ids"]) and prompt > 30
    full = token_view(tokenizer, LONG_PAIR)
    view = token_view(tokenizer, LONG_PAIR, max_length=30)
    # room for the longer (rejected) answer: the prompt keeps its last 30 - longest tokens
    assert view["cut_before"] == prompt - (30 - longest) and view["cut_at"] is None and not view["left_out"]
    assert [t["truncated"] for t in view["tokens"]] == [i < view["cut_before"] for i in range(view["n_tokens"])]
    trained = "".join(t["text"] for t in view["tokens"] if t["trained"] and not t["truncated"])
    assert trained == "Arr, Paris.<|im_end|>" and view["n_trained"] == full["n_trained"]
    # the kept prompt ends with the user's turn and the generation prompt
    kept = "".join(t["text"] for t in view["tokens"][view["cut_before"]:prompt])
    assert kept.endswith("Capital of France?<|im_end|>\n<|im_start|>assistant\n")
    assert "drops the first" in cut_summary(view) and "✂ max_length 30" in chips_html(view)
    # an answer that leaves no room for its prompt: the stages leave the row out, the view shows all of it cut
    out = token_view(tokenizer, LONG_PAIR, max_length=longest)
    assert out["left_out"] and out["n_trained"] == 0 and all(t["truncated"] for t in out["tokens"])
    assert "leave this row out" in cut_summary(out)
    # an SFT row still keeps its start
    assert token_view(tokenizer, CONVERSATION, max_length=30)["cut_before"] == 0


def test_length_stats_counts_pairs_cut_and_left_out(tokenizer):
    short = {"prompt": [{"role": "user", "content": "Hi"}], "chosen": "Ahoy!", "rejected": "Hello."}
    rows = [LONG_PAIR, short, {**short, "rejected": "Hello, " * 40}]
    stats = length_stats(tokenizer, rows, max_length=40)  # the short pair is 35 tokens, its prompt 31
    assert (stats["pairs_cut"], stats["pairs_dropped"]) == (1, 1)
    assert stats["truncated_rows"] == 2 and stats["untrained_after_truncation"] == 1
    assert length_stats(tokenizer, rows)["pairs_cut"] == 0


def test_length_stats(tokenizer):
    rows = [CONVERSATION, {"messages": CONVERSATION["messages"][:3]}]
    stats = length_stats(tokenizer, rows, max_length=40)
    lengths = sorted(len(encode_row(tokenizer, r)["input_ids"]) for r in rows)
    assert (stats["min"], stats["max"]) == (lengths[0], lengths[1])
    assert stats["truncated_rows"] == sum(n > 40 for n in lengths)


def test_cli_tokens_json(tmp_path):
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps(CONVERSATION) + "\n")
    result = subprocess.run([sys.executable, "-m", "workbench", "data", "tokens", str(data), "--row", "1",
                             "--model", "tiny", "--max-length", "30", "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["cut_at"] == 30 and view["file_stats"]["truncated_rows"] == 1
    trained = "".join(t["text"] for t in view["tokens"] if t["trained"])
    assert trained == "Arr, Paris.<|im_end|>Madrid, matey.<|im_end|>"


def test_cli_tokens_shows_the_preference_cut(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps(LONG_PAIR) + "\n")
    result = subprocess.run([sys.executable, "-m", "workbench", "data", "tokens", str(data), "--model", "tiny",
                             "--max-length", "30"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "prompt tokens and keeps the answers whole" in result.stdout
    assert "✂[max_length]✂" in result.stdout and "[Arr][,][ Paris][.][<|im_end|>]" in result.stdout
    assert "1 rows have their prompt cut from the start, 0 are left out" in result.stdout


def test_cli_tokens_text_marks_trained_tokens(tmp_path):
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps(CONVERSATION) + "\n")
    result = subprocess.run([sys.executable, "-m", "workbench", "data", "tokens", str(data), "--model", "tiny"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "[Arr][,][ Paris][.][<|im_end|>]" in result.stdout
    assert "rows longer than max_length 512" in result.stdout


def test_cli_tokens_cuts_where_training_does_by_default():
    """`data tokens` once cut at 1024 while every stage cut at 512: a row shown whole was cut in training."""
    from dataclasses import fields

    from workbench.cli import build_parser
    from workbench.train.config import STAGE_CONFIGS
    args = build_parser().parse_args(["data", "tokens", "rows.jsonl"])
    for cls in STAGE_CONFIGS.values():
        assert args.max_length == next(f.default for f in fields(cls) if f.name == "max_length")


def test_cli_tokens_row_out_of_range(tmp_path):
    data = tmp_path / "chat.jsonl"
    data.write_text(json.dumps(CONVERSATION) + "\n")
    result = subprocess.run([sys.executable, "-m", "workbench", "data", "tokens", str(data), "--row", "5",
                             "--model", "tiny"], capture_output=True, text=True)
    assert result.returncode == 2 and "has 1 valid rows" in result.stderr and "Traceback" not in result.stderr
