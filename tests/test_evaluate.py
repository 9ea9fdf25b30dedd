"""Held-out evaluation: win rates and their Wilson interval on hand-made scores, the loss and
preference log-likelihoods checked against direct computations, saved results, and `workbench eval`."""

import json
import math
import os

import pytest

# The session's shared tiny runs (SFT, DPO, reward), trained once; see test_compare.py.
from test_compare import ROOT, run_cli, runs  # noqa: F401
from workbench.errors import ConfigError
from workbench.evaluate import wilson_interval, win_rates

SFT_EVAL = os.path.join(ROOT, "sample_data", "sft_eval.jsonl")
PREFERENCE_EVAL = os.path.join(ROOT, "sample_data", "preference_eval.jsonl")
PROMPTS = os.path.join(ROOT, "sample_data", "prompts.jsonl")


# ---------------------------------------------------------------- win rates (no model)

def test_win_rates_on_hand_made_scores():
    scores = {"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 2.0, 5.0, 1.0], "c": [9.0, 9.0, 9.0, 9.0]}
    rows = win_rates(scores)
    assert [(r["model"], r["opponent"]) for r in rows] == [("a", "b"), ("a", "c"), ("b", "c")]
    a_b = rows[0]
    # prompt 1: a wins, 2: tie, 3: b wins, 4: a wins -> (2 + 1/2) / 4
    assert (a_b["wins"], a_b["losses"], a_b["ties"], a_b["n"]) == (2, 1, 1, 4)
    assert a_b["win_rate"] == pytest.approx(0.625)
    # Wilson 95% for 2.5 / 4, worked by hand: centre 0.56376, half-width 0.34433
    assert a_b["ci_low"] == pytest.approx(0.21943, abs=1e-4)
    assert a_b["ci_high"] == pytest.approx(0.90809, abs=1e-4)
    assert rows[1]["win_rate"] == 0.0 and rows[1]["losses"] == 4
    assert rows[1]["ci_low"] == pytest.approx(0.0, abs=1e-12) and 0.3 < rows[1]["ci_high"] < 0.5  # never a [0, 0] interval


def test_wilson_interval_matches_the_textbook_and_narrows_with_n():
    # 8 successes in 10 at 95%: (0.490, 0.943) (Wilson 1927; Newcombe 1998, table I)
    low, high = wilson_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    wide, narrow = wilson_interval(8, 10), wilson_interval(80, 100)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert wilson_interval(8, 10, confidence=0.99)[0] < low


def test_win_rates_ties_count_half_and_the_other_side_is_the_complement():
    rows = win_rates({"x": [1, 1, 1, 2], "y": [1, 1, 1, 1]})
    assert rows[0]["ties"] == 3 and rows[0]["win_rate"] == pytest.approx((1 + 3 / 2) / 4)
    flipped = win_rates({"y": [1, 1, 1, 1], "x": [1, 1, 1, 2]})[0]
    assert flipped["win_rate"] == pytest.approx(1 - rows[0]["win_rate"])
    assert flipped["ci_low"] == pytest.approx(1 - rows[0]["ci_high"])
    assert win_rates({"x": [], "y": []})[0]["win_rate"] is None
    with pytest.raises(ConfigError, match="one score per prompt"):
        win_rates({"x": [1, 2], "y": [1]})


# ---------------------------------------------------------------- on the tiny runs

@pytest.fixture(scope="module")
def comparer(runs):
    from workbench.evaluate import Comparer
    return Comparer(["base", runs["sft"], runs["dpo"]])


def test_sft_loss_is_the_mean_over_trained_tokens(comparer, runs):
    """Checked against transformers' own loss with labels masked to the assistant tokens."""
    import torch

    from workbench.data import load_rows
    from workbench.data.tokens import encode_row
    from workbench.evaluate.evaluate import sft_loss
    rows = load_rows(SFT_EVAL, task="sft")[:3]
    tokenizer = comparer.tokenizer("base")
    total = count = 0
    with comparer.variant(runs["sft"]) as model:
        for row in rows:
            encoded = encode_row(tokenizer, row)
            ids = torch.tensor([encoded["input_ids"]])
            labels = ids.masked_fill(torch.tensor([encoded["assistant_masks"]]) == 0, -100)
            n = int((labels[0, 1:] != -100).sum())
            with torch.no_grad():
                total += float(model(input_ids=ids, labels=labels).loss) * n
            count += n
    result = sft_loss(comparer, runs["sft"], rows)
    assert result["sft_rows"] == 3 and result["sft_tokens"] == count
    assert result["loss"] == pytest.approx(total / count, rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(total / count), rel=1e-5)
    # the SFT run learnt something about answers like these; the random base did not
    assert result["loss"] < sft_loss(comparer, "base", rows)["loss"]


def test_preference_accuracy_flips_when_chosen_and_rejected_swap(comparer, runs):
    from workbench.data import load_rows
    from workbench.evaluate.evaluate import preference_accuracy
    pairs = load_rows(PREFERENCE_EVAL, task="preference")[:6]
    swapped = [{**row, "chosen": row["rejected"], "rejected": row["chosen"]} for row in pairs]
    straight = preference_accuracy(comparer, runs["dpo"], pairs)
    flipped = preference_accuracy(comparer, runs["dpo"], swapped)
    assert straight["pairs"] == 6
    assert straight["preference_accuracy"] == pytest.approx(1 - flipped["preference_accuracy"])
    assert straight["preference_margin"] == pytest.approx(-flipped["preference_margin"], rel=1e-5)
    assert straight["preference_accuracy_per_token"] == pytest.approx(
        1 - flipped["preference_accuracy_per_token"])


def test_evaluate_models_reports_saves_and_lists(runs, comparer):
    from workbench.evaluate import evaluate_models, list_evals
    from workbench.evaluate.evaluate import evals_dir
    from workbench.runs import get_run
    models = ["base", runs["sft"], runs["dpo"]]
    result = evaluate_models(models, sft_data=SFT_EVAL, preference_data=PREFERENCE_EVAL, prompts=PROMPTS,
                             reward_model=runs["reward"], max_rows=3, max_new_tokens=5, comparer=comparer)
    assert list(result["models"]) == models
    for label in models:
        metrics = result["models"][label]
        assert metrics["sft_rows"] == 3 and metrics["loss"] > 0
        assert metrics["pairs"] == 3 and 0 <= metrics["preference_accuracy"] <= 1
        assert metrics["prompts"] == 3 and isinstance(metrics["mean_reward"], float)
        assert len(result["scores"][label]) == 3 and len(result["generations"][label]) == 3
        assert metrics["mean_reward"] == pytest.approx(sum(result["scores"][label]) / 3)
    assert result["win_rates"] == win_rates(result["scores"])
    assert [r["n"] for r in result["win_rates"]] == [3, 3, 3]
    # saved once in evals/ and once in every run involved, reward model included
    saved = json.loads((evals_dir() / f"{result['id']}.json").read_text())
    assert saved == json.loads(json.dumps(result))
    for name in (runs["sft"], runs["dpo"], runs["reward"]):
        assert (get_run(name).path / "evals" / f"{result['id']}.json").exists()
    assert result["id"] in [r["id"] for r in list_evals()]
    assert result["id"] in [r["id"] for r in list_evals(runs["dpo"])]
    # greedy generation by default: the same evaluation gives the same answers
    again = evaluate_models(models, prompts=PROMPTS, reward_model=runs["reward"], max_rows=2,
                            max_new_tokens=5, save=False, comparer=comparer)
    assert again["id"] is None
    for m in models:
        assert [g["text"] for g in again["generations"][m]] == [g["text"] for g in result["generations"][m][:2]]
        assert again["scores"][m] == pytest.approx(result["scores"][m][:2], abs=1e-5)


def test_cli_eval_picks_metrics_from_the_file(runs, capsys):
    models = f"base,{runs['sft']}"
    code, out, err = run_cli(capsys, "eval", "--models", models, "--data", SFT_EVAL, "--max-rows", "3", "--json")
    assert code == 0, err
    record = json.loads(out)
    assert set(record["models"]["base"]) == {"loss", "perplexity", "sft_rows", "sft_tokens"}
    assert record["win_rates"] == []

    code, out, err = run_cli(capsys, "eval", "--models", models, "--data", PREFERENCE_EVAL, "--max-rows", "3",
                             "--max-new-tokens", "4", "--reward-model", runs["reward"])
    assert code == 0, err
    assert "pref acc" in out and f"base vs {runs['sft']}" in out and "n=3 prompts" in out

    code, out, err = run_cli(capsys, "eval", "--models", models, "--data", PROMPTS)
    assert code == 2 and "needs a reward model" in err and len(err.strip().splitlines()) == 1
