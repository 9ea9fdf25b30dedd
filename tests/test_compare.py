"""Side-by-side comparison on the tiny model: seeded determinism, adapter switching that matches
each variant loaded alone, one base in memory, streaming, multi-turn chat, and the CLI.

The runs (SFT, DPO from it, a reward model) are trained once per test session by `tiny_runs`,
which test_evaluate.py and test_export.py share. A high learning rate makes the few steps move
the tiny model enough that base, SFT and DPO answer differently, so the switching test can fail.
"""

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SFT = os.path.join(ROOT, "sample_data", "sft.jsonl")
PREFERENCE = os.path.join(ROOT, "sample_data", "preference.jsonl")
QUICK = dict(model="tiny", max_steps=3, max_length=128, batch_size=2, val_fraction=0.0, max_rows=12,
             save_steps=1000, learning_rate=0.05)
NAMES = {"sft": "cmp-sft", "dpo": "cmp-dpo", "reward": "cmp-rm"}
_SHARED = {}


def tiny_runs(tmp_path_factory) -> str:
    """A workbench home holding completed tiny SFT, DPO (from the SFT run) and reward runs, made
    once per session. Returns the home's path; set WORKBENCH_HOME to it to use the runs."""
    if "home" in _SHARED:
        return _SHARED["home"]
    from workbench.train import jobs, train
    shared_models = Path(ROOT) / ".test-home" / "models"  # conftest's TEST_HOME
    home = tmp_path_factory.mktemp("compare-home")
    shared_models.mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(shared_models, target_is_directory=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_HOME", str(home))
        # SFT and the reward model train side by side; DPO starts from the finished SFT run.
        sft = train("sft", data=SFT, name=NAMES["sft"], allow_parallel=True, **QUICK)
        reward = train("reward", data=PREFERENCE, name=NAMES["reward"], allow_parallel=True, **QUICK)
        jobs.wait_for(sft)
        assert sft.status()["state"] == "completed", sft.status().get("error")
        dpo = train("dpo", data=PREFERENCE, from_run=NAMES["sft"], name=NAMES["dpo"], allow_parallel=True,
                    **QUICK)
        jobs.wait_for(dpo)
        jobs.wait_for(reward)
        for run in (dpo, reward):
            assert run.status()["state"] == "completed", run.status().get("error")
    _SHARED["home"] = str(home)
    return _SHARED["home"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    home = tiny_runs(tmp_path_factory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_HOME", home)
        yield NAMES


@pytest.fixture(scope="module")
def comparer(runs):
    from workbench.evaluate import Comparer
    return Comparer(["base", runs["sft"], runs["dpo"]], reward_model=runs["reward"])


PROMPT = [{"role": "user", "content": "How do I keep bread fresh?"}]


def texts(answers):
    return [a.text for a in answers]


def test_seeded_comparison_is_deterministic(comparer):
    first = comparer.compare(PROMPT, seed=0, temperature=1.0, max_new_tokens=12)
    again = comparer.compare(PROMPT, seed=0, temperature=1.0, max_new_tokens=12)
    other_seed = comparer.compare(PROMPT, seed=1, temperature=1.0, max_new_tokens=12)
    assert [a.model for a in first] == comparer.models == ["base", "cmp-sft", "cmp-dpo"]
    assert texts(first) == texts(again)
    assert texts(first) != texts(other_seed)
    # the answer depends on (variant, seed), not on which variant went before it
    backwards = [comparer.generate(PROMPT, model=m, seed=0, temperature=1.0, max_new_tokens=12)
                 for m in reversed(comparer.models)]
    assert texts(backwards[::-1]) == texts(first)
    for answer in first:
        assert answer.tokens == 12 and answer.seconds >= 0 and isinstance(answer.reward, float)


@pytest.mark.parametrize("sampling", [dict(temperature=0.0), dict(temperature=0.9, top_p=0.9, seed=3)],
                         ids=["greedy", "sampled"])
def test_each_variant_equals_that_variant_loaded_alone(comparer, sampling):
    from workbench.evaluate import Comparer
    together = comparer.compare(PROMPT, max_new_tokens=10, **sampling)
    # base, SFT and DPO really differ here, so a wrong adapter would show
    assert len(set(texts(together))) == 3, texts(together)
    for answer in together:
        alone = Comparer([answer.model], base="tiny")
        assert alone.generate(PROMPT, model=answer.model, max_new_tokens=10, **sampling).text == answer.text


def test_compare_and_scores_in_each_precision(runs, precision):
    """Side by side in the precision set for the process: the models load in it, and the reward
    scores and held-out losses agree with fp32's within that dtype's tolerance."""
    import torch
    from conftest import assert_close

    from workbench.evaluate import Comparer
    from workbench.evaluate.evaluate import evaluate_models
    from workbench.models.score import RewardScorer
    comparer = Comparer(["base", runs["sft"]], reward_model=runs["reward"])
    assert comparer.hardware.precision == comparer.scorer.hardware.precision == precision
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    assert [m.get_base_model().dtype for m in comparer.base_models()] == [dtype]
    answers = comparer.compare(PROMPT, seed=0, temperature=0.0, max_new_tokens=8)
    assert all(a.tokens > 0 and a.text for a in answers)
    fp32 = RewardScorer(runs["reward"], precision="fp32")
    assert_close([a.reward for a in answers], [fp32.score(PROMPT, a.text) for a in answers], precision,
                 "reward scores")
    record = evaluate_models(["base", runs["sft"]], sft_data=SFT, max_rows=4, comparer=comparer, save=False)
    reference = evaluate_models(["base", runs["sft"]], sft_data=SFT, max_rows=4, precision="fp32", save=False)
    assert (record["settings"]["precision"], reference["settings"]["precision"]) == (precision, "fp32")
    assert_close([m["loss"] for m in record["models"].values()],
                 [m["loss"] for m in reference["models"].values()], precision, "held-out losses")


def test_variants_share_one_base_in_memory(comparer):
    """Three variants hold one base: one model object, and parameter storage of about one model."""
    from workbench.models import load_causal_lm
    assert len(comparer.base_models()) == 1
    (model,) = comparer.base_models()
    held = {p.data_ptr(): p.numel() for p in model.parameters()}
    one_model = sum(p.numel() for p in load_causal_lm("tiny", for_training=False).parameters())
    assert sum(held.values()) < 1.3 * one_model
    # each variant answers through the very same embedding weights
    pointers = set()
    for label in comparer.models:
        with comparer.variant(label) as module:
            pointers.add(module.get_input_embeddings().weight.data_ptr())
    assert len(pointers) == 1
    # a base named by its folder is the same base as the runs' "tiny"
    from workbench.evaluate import Comparer
    from workbench.models import resolve_model
    same = Comparer(["base", comparer.models[1]], base=str(resolve_model("tiny")))
    assert len(same.base_models()) == 1


def test_stream_grows_token_by_token_to_the_generated_text(comparer):
    settings = dict(model="cmp-sft", seed=5, temperature=0.8, max_new_tokens=10)
    pieces = list(comparer.stream(PROMPT, **settings))
    assert len(pieces) > 3
    assert all(later.startswith(earlier) for earlier, later in zip(pieces, pieces[1:]))
    assert pieces[-1] == comparer.last_answers["cmp-sft"].text
    assert pieces[-1] == comparer.generate(PROMPT, **settings).text
    # leaving a stream early stops it, and the comparer stays usable
    stream = comparer.stream(PROMPT, model="base", max_new_tokens=50)
    next(stream)
    stream.close()
    assert comparer.generate(PROMPT, model="base", max_new_tokens=3).tokens == 3


def test_multi_turn_chat_continues_every_variant(comparer):
    histories = {}
    first = comparer.chat(histories, "Hello!", temperature=0.0, max_new_tokens=6)
    second = comparer.chat(histories, "And then?", temperature=0.0, max_new_tokens=6)
    assert set(first) == set(second) == set(comparer.models)
    for label in comparer.models:
        history = histories[label]
        assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
        assert history[1]["content"] == first[label].text and history[3]["content"] == second[label].text
        # the second answer is the answer to that variant's own conversation so far
        assert comparer.generate(history[:3], model=label, temperature=0.0, max_new_tokens=6).text == \
            second[label].text
        assert second[label].reward == pytest.approx(comparer.score(history[:3], second[label].text), abs=1e-5)


def run_cli(capsys, *argv):
    from workbench.cli import main
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_compare_json_schema(runs, capsys):
    code, out, err = run_cli(capsys, "compare", "--prompt", "Hi there", "--models",
                             f"base,{runs['sft']},{runs['dpo']}", "--reward-model", runs["reward"],
                             "--max-new-tokens", "5", "--seed", "2", "--json")
    assert code == 0, err
    answers = json.loads(out)
    assert [a["model"] for a in answers] == ["base", runs["sft"], runs["dpo"]]
    for answer in answers:
        assert set(answer) == {"model", "text", "tokens", "seconds", "reward", "prompt_tokens", "finish_reason"}
        assert isinstance(answer["text"], str) and answer["tokens"] == 5 and answer["prompt_tokens"] > 5
        assert answer["finish_reason"] in ("stop", "length")
        assert isinstance(answer["reward"], float)
    # the same as from Python, with the same seed
    from workbench.evaluate import compare
    same = compare("Hi there", ["base", runs["sft"], runs["dpo"]], seed=2, max_new_tokens=5)
    assert [a.text for a in same] == [a["text"] for a in answers]


def test_cli_compare_streams_text(runs, capsys):
    code, out, err = run_cli(capsys, "compare", "--prompt", "Hi", "--models", f"base,{runs['sft']}",
                             "--max-new-tokens", "4", "--temperature", "0")
    assert code == 0, err
    assert "=== base" in out and f"=== {runs['sft']}" in out and "4 tokens" in out


def test_cli_score_prints_the_reward(runs, capsys):
    from workbench.models.score import RewardScorer
    code, out, err = run_cli(capsys, "score", "--reward-model", runs["reward"], "--prompt", "Hi",
                             "--response", "Hello! How can I help?")
    assert code == 0, err
    expected = RewardScorer(runs["reward"]).score("Hi", "Hello! How can I help?")
    assert float(out.strip()) == pytest.approx(expected, abs=1e-4)


def test_score_many_keeps_the_order_of_its_pairs(runs):
    """score_many batches rows of similar length together; every score still lands on its own pair."""
    from workbench.models.score import RewardScorer
    scorer = RewardScorer(runs["reward"], precision="fp32")
    answers = ["Hello! How can I help you today with anything at all?", "Hi", "Sure, here is a long answer " * 6,
               "Yes.", "A middling answer of a few words."]
    pairs = [([{"role": "user", "content": f"Question {i}"}], a) for i, a in enumerate(answers)]
    together = scorer.score_many(pairs, batch_size=2)
    alone = [scorer.score_many([pair])[0] for pair in pairs]
    assert together == pytest.approx(alone, abs=1e-4)
    assert len(set(round(s, 4) for s in alone)) > 1  # distinct scores, so a shuffle would show


def unfinished_run(runs) -> str:
    """A run folder that stopped before writing its adapter."""
    from workbench.runs import get_run, runs_root
    folder = runs_root() / "cmp-unfinished"
    if not folder.exists():
        folder.mkdir()
        shutil.copy(get_run(runs["sft"]).config_path, folder / "config.yaml")
        (folder / "status.json").write_text(json.dumps({"state": "stopped", "step": 1}))
    return folder.name


@pytest.mark.parametrize("case", ["unknown", "unfinished", "reward-as-model", "twice", "bad-reward"])
def test_cli_bad_input_is_one_line_and_exit_2(runs, capsys, case):
    models = {"unknown": "base,no-such-run", "unfinished": f"base,{unfinished_run(runs)}",
              "reward-as-model": f"base,{runs['reward']}", "twice": f"base,{runs['sft']},base",
              "bad-reward": "base"}[case]
    extra = ["--reward-model", runs["sft"]] if case == "bad-reward" else []
    code, out, err = run_cli(capsys, "compare", "--prompt", "Hi", "--models", models, *extra)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and out == "" and len(lines) == 1, err
    assert "Traceback" not in err
    expected = {"unknown": "no-such-run", "unfinished": "stopped", "reward-as-model": "reward",
                "twice": "twice", "bad-reward": "not a reward-model run"}[case]
    assert expected in lines[0]


def test_answers_use_the_settings_given_and_none_from_the_models_generation_config(fresh_home, tmp_path):
    """A copy of the tiny model whose generation_config.json asks for a repetition penalty and bans
    repeated bigrams answers exactly as the tiny model: the comparison, and the feedback pairs
    sampled through it, use only the settings given (greedy here, and seeded sampling)."""
    from workbench.evaluate import Comparer
    from workbench.models import build_tiny_model
    folder = tmp_path / "leaky"
    shutil.copytree(build_tiny_model(), folder)
    path = folder / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "repetition_penalty": 1.3,
                                "no_repeat_ngram_size": 2}))
    leaky, plain = Comparer(["base"], base=str(folder)), Comparer(["base"], base="tiny")
    for sampling in (dict(temperature=0), dict(temperature=0.02, seed=3)):
        answers = [c.generate(PROMPT, model="base", max_new_tokens=24, **sampling) for c in (leaky, plain)]
        assert answers[0].text == answers[1].text, sampling
