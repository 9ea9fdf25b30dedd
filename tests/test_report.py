"""The report of what each method did: its text metrics on hand-made answers against hand-computed
values, KL against a direct computation, the whole report on the tiny runs (numbers, HTML, JSON),
and `workbench report`. The HTML in Chromium is in test_ui_browser.py."""

import json
import math
import os
from types import SimpleNamespace

import pytest

# The session's shared tiny runs (SFT, DPO, reward), trained once; see test_compare.py.
from test_compare import ROOT, run_cli, runs  # noqa: F401
from workbench.evaluate.report import (
    changes_from_base, corpus_bleu, distinct_n, diversity, kl_per_token, prompt_and_reference, rouge_l, self_bleu,
    words,
)

SFT_EVAL = os.path.join(ROOT, "sample_data", "sft_eval.jsonl")
PREFERENCE_EVAL = os.path.join(ROOT, "sample_data", "preference_eval.jsonl")


# ---------------------------------------------------------------- text metrics on hand-made answers

def test_words_split_punctuation_off():
    assert words("Ahoy, matey! It costs 3.5 coins.") == ["Ahoy", ",", "matey", "!", "It", "costs", "3.5", "coins", "."]


def test_distinct_n_counts_unique_ngrams_over_all_samples():
    # "the cat sat" + "the cat ran": 6 words, 4 distinct (the, cat, sat, ran)
    assert distinct_n(["the cat sat", "the cat ran"], 1) == pytest.approx(4 / 6)
    # bigrams: the cat, cat sat, the cat, cat ran -> 3 distinct of 4
    assert distinct_n(["the cat sat", "the cat ran"], 2) == pytest.approx(3 / 4)
    assert distinct_n(["same words", "same words"], 2) == pytest.approx(1 / 2)
    assert distinct_n(["one", ""], 2) is None  # no bigram at all


def test_self_bleu_is_each_samples_bleu_against_the_others():
    import sacrebleu
    texts = ["the cat sat on the mat", "the cat sat on a mat", "a dog ran in the park"]
    expected = sum(sacrebleu.sentence_bleu(t, [o for o in texts if o is not t]).score for t in texts) / 3
    assert self_bleu(texts) == pytest.approx(expected)
    # identical samples: 100; samples sharing no word at all: (near) 0 under exponential smoothing
    assert self_bleu(["ahoy there matey", "ahoy there matey"]) == pytest.approx(100)
    assert self_bleu(["alpha beta gamma delta", "one two three four"]) < 1
    assert self_bleu(["only one"]) is None


def test_bleu_by_hand():
    """Corpus BLEU of one 5-word answer against a 6-word reference: the geometric mean of its 1- to
    4-gram precisions times the brevity penalty (no precision is 0, so smoothing plays no part)."""
    answer, reference = "the cat sat on mats", "the cat sat on the mat"
    # precisions: 1-grams 4/5, 2-grams 3/4, 3-grams 2/3, 4-grams 1/2; brevity penalty exp(1 - 6/5)
    expected = 100 * math.exp(1 - 6 / 5) * math.exp((math.log(4 / 5) + math.log(3 / 4) + math.log(2 / 3)
                                                      + math.log(1 / 2)) / 4)
    assert corpus_bleu([answer], [reference]) == pytest.approx(expected, rel=1e-4)


def test_rouge_l_by_hand():
    # LCS of "the cat sat on the mat" and "the cat on a mat" = the cat on mat (4 words):
    # precision 4/5, recall 4/6, F1 = 2PR/(P+R)
    p, r = 4 / 5, 4 / 6
    assert rouge_l(["the cat on a mat"], ["the cat sat on the mat"]) == pytest.approx(2 * p * r / (p + r))
    assert rouge_l(["a b", "x y"], ["a b", "z w"]) == pytest.approx(0.5)  # mean of 1 and 0


def test_diversity_of_hand_made_samples():
    def answer(text, tokens, reason="stop"):
        return SimpleNamespace(text=text, tokens=tokens, finish_reason=reason)
    samples = [[answer("the cat sat", 4), answer("the cat ran", 4, "length")],
               [answer("ahoy ahoy", 3), answer("ahoy ahoy", 5)]]
    result = diversity(samples)
    assert result["distinct_1"] == pytest.approx((4 / 6 + 1 / 4) / 2)
    assert result["distinct_2"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert result["self_bleu"] == pytest.approx((self_bleu(["the cat sat", "the cat ran"]) + 100) / 2)
    assert result["mean_length"] == 4 and result["ended_share"] == 0.75 and result["samples"] == 4


def test_kl_per_token_by_hand():
    import torch
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    q = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    kl = kl_per_token(p.log(), q.log())
    assert kl[0] == pytest.approx(0, abs=1e-7)
    assert kl[1] == pytest.approx(0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5), rel=1e-5)


def test_prompt_and_reference_of_each_row_kind():
    chat = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                         {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Name?"},
                         {"role": "assistant", "content": "Bob"}]}
    prompt, reference = prompt_and_reference(chat)
    assert [m["content"] for m in prompt] == ["Be brief.", "Hi", "Hello", "Name?"] and reference == "Bob"
    assert prompt_and_reference({"prompt": [{"role": "user", "content": "Q"}], "chosen": "a", "rejected": "b"}) == (
        [{"role": "user", "content": "Q"}], None)
    assert prompt_and_reference({"text": "plain"}) is None
    assert prompt_and_reference({"messages": [{"role": "assistant", "content": "alone"}]}) is None


def test_changes_from_base_say_which_way_is_better():
    record = {"models": ["base", "dpo"], "stages": {"base": "base", "dpo": "dpo"},
              "metrics": {"base": {"loss": 2.0, "distinct_2": 0.8, "kl_to_base": 0.0},
                          "dpo": {"loss": 1.5, "distinct_2": 0.6, "kl_to_base": 0.2}},
              "win_rates": [{"model": "base", "opponent": "dpo", "n": 4, "wins": 1, "losses": 3, "ties": 0,
                             "win_rate": 0.25, "ci_low": 0.05, "ci_high": 0.7, "confidence": 0.95}]}
    [entry] = changes_from_base(record)
    moved = {c["key"]: c for c in entry["changes"]}
    assert moved["loss"]["delta"] == -0.5 and moved["loss"]["better"] is True
    assert moved["distinct_2"]["delta"] == pytest.approx(-0.2) and moved["distinct_2"]["better"] is False
    assert "kl_to_base" not in moved and entry["kl_to_base"] == 0.2
    versus = entry["win_rate_vs_base"]  # seen from dpo's side
    assert versus["model"] == "dpo" and versus["win_rate"] == 0.75 and versus["wins"] == 3
    assert (versus["ci_low"], versus["ci_high"]) == pytest.approx((0.3, 0.95))


# ---------------------------------------------------------------- the whole report on the tiny runs

@pytest.fixture(scope="module")
def report(runs):
    from workbench.report import make_report
    return make_report([runs["sft"], runs["dpo"]], sft_data=SFT_EVAL, preference_data=PREFERENCE_EVAL,
                       reward_model=runs["reward"], max_rows=3, samples=3, max_new_tokens=6, examples=2)


def test_report_measures_every_model_from_one_comparer(report, runs):
    models = ["base", runs["sft"], runs["dpo"]]
    assert report["models"] == models  # the base comes first: drift is measured from it
    assert report["stages"] == {"base": "base", runs["sft"]: "sft", runs["dpo"]: "dpo"}
    for label in models:
        m = report["metrics"][label]
        assert m["sft_rows"] == 3 and m["pairs"] == 3 and m["prompts"] == 3 and m["samples"] == 9
        for key in ("loss", "preference_accuracy", "preference_accuracy_per_token", "mean_reward", "distinct_1", "distinct_2", "self_bleu",
                    "mean_length", "ended_share", "rouge_l", "bleu", "kl_to_base"):
            assert isinstance(m[key], float), (label, key)
        assert 0 < m["mean_length"] <= 6 and 0 <= m["ended_share"] <= 1
    assert report["metrics"]["base"]["kl_to_base"] == 0
    assert report["metrics"][runs["sft"]]["kl_to_base"] > 0  # trained weights moved the distribution
    assert [len(row["answers"]) for row in report["examples"]] == [3, 3]
    assert [(r["model"], r["opponent"]) for r in report["win_rates"]] == [
        ("base", runs["sft"]), ("base", runs["dpo"]), (runs["sft"], runs["dpo"])]


def test_report_kl_equals_a_direct_computation(report, runs):
    """KL of the SFT run's first greedy answer, computed here from two plain forward passes."""
    import torch

    from workbench.evaluate import Comparer
    from workbench.evaluate.report import _greedy, _prompts, drift
    from workbench.data import load_rows
    comparer = Comparer(["base", runs["sft"]])
    items = _prompts(load_rows(PREFERENCE_EVAL, task="preference")[:1], keep_reference=False)
    [answer] = _greedy(comparer, items, 6)[runs["sft"]]
    prompt_ids = comparer.encode(items[0]["prompt"], model=runs["sft"])
    ids = torch.tensor([prompt_ids + answer.ids])
    start = len(prompt_ids)
    with torch.no_grad():
        with comparer.variant(runs["sft"]) as model:
            p = torch.log_softmax(model(input_ids=ids).logits[0, start - 1:-1].float(), -1)
        with comparer.variant("base") as model:
            q = torch.log_softmax(model(input_ids=ids).logits[0, start - 1:-1].float(), -1)
    expected = float((p.exp() * (p - q)).sum()) / len(answer.ids)
    assert drift(comparer, runs["sft"], items, [answer]) == pytest.approx(expected, rel=1e-4)


def test_report_files_hold_the_numbers(report):
    from workbench.report import get_report, list_reports, report_table
    html_path, json_path = report["html"], report["json"]
    saved = json.loads(open(json_path, encoding="utf-8").read())
    assert saved["metrics"] == json.loads(json.dumps(report["metrics"]))
    page = open(html_path, encoding="utf-8").read()
    # plotly.js inline, so the file opens with no network; nothing loaded from elsewhere
    inline, external = "window.Plotly = Plotly" in page, "<script src=" in page
    assert inline and not external
    header, rows = report_table(report)
    assert header[0] == "metric" and len(header) == 4
    missing = [(row[0], cell) for row in rows for cell in row[1:] if f">{cell}</td>" not in page]
    assert not missing  # every number of the table is in the page
    assert report["id"] in [r["id"] for r in list_reports()]
    assert get_report(report["id"])["metrics"] == saved["metrics"]


def test_report_refuses_what_it_cannot_measure(runs):
    from workbench.errors import ConfigError
    from workbench.report import make_report
    with pytest.raises(ConfigError, match="nothing to report on"):
        make_report([runs["sft"]])
    with pytest.raises(ConfigError, match="samples must be at least 2"):
        make_report([runs["sft"]], sft_data=SFT_EVAL, samples=1)
    from workbench.evaluate import Comparer
    with pytest.raises(ConfigError, match="must serve 'base'"):
        make_report([runs["sft"]], sft_data=SFT_EVAL, comparer=Comparer([runs["sft"]]))


def test_cli_report_writes_html_and_json(runs, tmp_path, capsys):
    out = tmp_path / "team" / "report.html"
    code, stdout, stderr = run_cli(capsys, "report", runs["dpo"], "--data", PREFERENCE_EVAL, "--reward-model",
                                   runs["reward"], "--max-rows", "2", "--samples", "2", "--max-new-tokens", "4",
                                   "--out", str(out))
    assert code == 0, stderr
    assert out.exists() and out.with_suffix(".json").exists()
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["models"] == ["base", runs["dpo"]] and record["data"]["preference"] == PREFERENCE_EVAL
    assert "preference accuracy" in stdout and str(out) in stdout and "wins" in stdout
    code, stdout, stderr = run_cli(capsys, "report", runs["dpo"], "--data", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "missing.jsonl" in stderr and "Traceback" not in stderr
    code, stdout, stderr = run_cli(capsys, "report", "--list")
    assert code == 0 and record["id"] in stdout
