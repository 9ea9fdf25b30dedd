"""PPO and RLOO on the tiny model: it learns, one base holds every network, stop / resume continue
the same run, the job path works end to end, and bad input is refused before a job starts.

Most runs here call the stage's `train(config, run)` in this process (what the job process does)
to save a process start per test; one test goes through `workbench.train.train` as a user does.
The trained reward runs are stand-ins made in a second: a LoRA with random, non-zero weights
saved exactly as the reward stage saves one (its training is tested in test_train.py).
"""

import copy
import dataclasses
import json
import math
import os
import shutil

import pytest
import torch
from conftest import assert_close

from workbench.errors import ConfigError, DataError, RunError
from workbench.runs import Run, new_run_folder, runs_root
from workbench.train.config import PPORunConfig, RLOORunConfig
from workbench.train.jobs import prepare_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "sample_data", "prompts.jsonl")
SMALL = dict(model="tiny", prompts=PROMPTS, max_steps=3, rollout_batch_size=4, batch_size=2, ppo_epochs=1,
             max_new_tokens=4, max_length=96, save_steps=1000)


@pytest.fixture(autouse=True)
def one_thread():
    # On a shared 2-core machine, two OpenMP threads per tiny matrix product wait on each other:
    # one thread ran these tiny-model steps about 10x faster.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_here(config) -> Run:
    """What `workbench train` does, minus the job process: check, save the config, train."""
    from workbench.train.stages import train_stage
    prepare_config(config)
    run = new_run_folder(config.stage, config.name)
    config.name = run.name
    config.save(run.config_path)
    train_stage(config, run)
    return run


def adapter_run(name: str, stage: str, seed: int = 0, base: str = "tiny") -> Run:
    """A completed `stage` run whose adapter has random non-zero weights (a reward run's with its
    score head), saved the way the SFT / reward stages save theirs."""
    from peft import get_peft_model

    from workbench.models import load_causal_lm, load_reward_model
    from workbench.train.common import lora_config
    from workbench.train.config import RewardRunConfig
    torch.manual_seed(seed)
    if stage == "reward":
        model = load_reward_model(base)
        peft = get_peft_model(model, lora_config(RewardRunConfig(lora_r=4, lora_alpha=8), task_type="SEQ_CLS",
                                                 modules_to_save=["score"]))
    else:
        peft = get_peft_model(load_causal_lm(base), lora_config(RewardRunConfig(lora_r=4, lora_alpha=8)))
    with torch.no_grad():
        for key, weight in peft.named_parameters():
            if "lora_B" in key or "score" in key:
                weight.normal_(0.0, 0.5)
    run = Run(runs_root() / name)
    run.path.mkdir(parents=True)
    run.config_path.write_text(f"stage: {stage}\nmodel: {base}\nname: {name}\n")
    peft.save_pretrained(str(run.adapter_dir))
    run.update_status(state="completed", step=1, max_steps=1)
    return run


# ------------------------------------------------------------------------------------ it learns

# The settings were chosen by measurement, on an AVX2 CPU (bf16 emulated), running this test's
# config for seeds 0-7 in both precisions (/tmp/ppo/one.py, 2026-12-02); "passed" = reached the
# target below:
#   learning rate 5e-3 (before):          runs drift 14-71 nats from the reference when they fail;
#                                         fp32 13 of 16, bf16 9 of 16 on an AMX CPU
#   5e-3 with adaptive KL (target 4):     fp32 2 of 5, bf16 3 of 4 (stopped: no better)
#   1.5e-3:                               fp32 8 of 8, bf16 6 of 8, KL 1-3 nats  <- these settings
#   1.5e-3 and 4 PPO epochs:              fp32 5 of 8, bf16 7 of 8
#   1.5e-3 and 40 steps:                  fp32 6 of 8, bf16 5 of 7
#   1.5e-3 and half the prompts held out: fp32 3 of 8, bf16 4 of 8
#   2.5e-3:                               fp32 7 of 8, bf16 4 of 7
# Over every setting bf16 passed 26 of 38 runs and fp32 29 of 40: the misses are the chaos of a
# near-greedy (temperature 0.02) policy on 30 training prompts, not the precision (bf16's policy
# gradient has a cosine of 0.99998 with fp32's; log-probabilities and values are fp32 either way).
# Seed 7 passed in both precisions with the widest margin (fp32 0.49 -> 0.77, bf16 0.49 -> 0.73,
# target 0.645). One seed is one draw: on another CPU kind the same seed takes another path, and
# with these settings about 1 run in 6 misses. A PPO that does not learn cannot pass: the target
# is a gain of half the gap to the best score.


def test_ppo_raises_held_out_reward_on_tiny_model(fresh_home, precision):
    """Reward: +0.1 a word. Answers are 8 tokens, so the best score is about 0.8. The same target
    in fp32 and in bf16: the body computes in the precision, log-probabilities and values in fp32.

    The tiny model's random 16-wide embeddings give logits within about +-0.3: at temperature 1 it
    samples almost uniformly from 49,152 tokens (entropy 10.8 nats) and no CI-sized run can shape
    that. At temperature 0.02 its sampling entropy is about 1.8 nats, like a real model's, and
    which tokens come out (words, or pieces without a leading space) is something LoRA can move.
    """
    run = run_here(PPORunConfig(model="tiny", prompts=PROMPTS, reward_rule="length", temperature=0.02,
                                learning_rate=1.5e-3, max_steps=30, rollout_batch_size=16, batch_size=8,
                                ppo_epochs=2, max_new_tokens=8, max_length=96, val_fraction=0.25,
                                save_steps=1000, seed=7))
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    assert run.config()["precision"] == precision
    evals = [row for row in run.metrics() if "eval_reward/mean" in row]
    assert [row["step"] for row in evals] == [0, 30] and evals[0]["eval_prompts"] == 10
    start, end = evals[0]["eval_reward/mean"], evals[-1]["eval_reward/mean"]
    # held-out prompts: at least half of the way from the start to the best possible score
    assert end >= start + 0.5 * (0.8 - start), (start, end)
    assert math.isfinite(evals[-1]["eval_kl"]) and 0 < evals[-1]["eval_kl"] < 50
    steps = [row for row in run.metrics() if "policy_loss" in row]
    assert [row["step"] for row in steps] == list(range(1, 31))
    for key in ("reward/mean", "kl", "kl_coef", "policy_loss", "value_loss", "clip_frac", "approx_kl",
                "response_length", "entropy", "step", "epoch", "time"):
        assert key in steps[-1] and math.isfinite(steps[-1][key]), key
    assert all(math.isfinite(row["kl"]) for row in steps)
    assert status["final"]["eval_reward/start"] == start and status["final"]["eval_reward/mean"] == end
    samples = run.samples()
    assert {s["step"] for s in samples} == {1, 5, 10, 15, 20, 25, 30}  # every sample_every steps, first and last
    assert set(samples[0]) == {"step", "prompt", "response", "score"}
    # the output is an adapter, usable wherever an SFT run is
    from workbench.models.variants import model_ref
    ref = model_ref(run.name)
    assert ref.stage == "ppo" and ref.base == "tiny" and (ref.adapter / "adapter_model.safetensors").exists()


# ------------------------------------------------------------------------------------ one base

def test_reward_and_reference_adapters_on_one_base(fresh_home, precision):
    from workbench.models import detect_hardware, load_tokenizer
    from workbench.models.score import RewardScorer
    from workbench.train import ppo, ppo_actors
    sft, reward = adapter_run("sft-x", "sft", seed=1), adapter_run("rm-x", "reward", seed=2)
    config = prepare_config(PPORunConfig(**{**SMALL, "from_run": sft.name, "reward_model": reward.name}))
    tokenizer = load_tokenizer("tiny")
    assert config.precision == precision
    actors = ppo.load_actors(config, "tiny", sft.adapter_dir, detect_hardware(config.precision), tokenizer)
    assert actors.model.get_base_model().dtype == {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    assert not actors.second_copy and set(actors.model.peft_config) == {"default", "reference", "reward", "value"}
    rows, _ = ppo.prompt_rows(config)
    batch = ppo.sample_answers(actors, tokenizer, ppo.encode_prompts(tokenizer, rows[:3], 80), config)
    rows_ = ppo._rows(batch)
    with torch.no_grad():
        # the reward adapter + score head on the shared base scores exactly like the reward model
        # alone: the same precision, the same layout of the tokens, the same fp32 head
        shared = actors.score(*rows_)
        packed = ppo_actors.right_padded(*rows_, tokenizer.pad_token_id)
        alone = RewardScorer(reward.name, precision=precision).score_ids(*packed)
        assert torch.allclose(shared, alone, atol=1e-5) and shared.std() > 0
        assert_close(shared, RewardScorer(reward.name, precision="fp32").score_ids(*packed), precision,
                     "reward scores")
        # the reference is the SFT policy itself (a frozen copy of its adapter), not the base
        policy, _ = ppo.policy_logprobs(actors, "default", *rows_, 1.0)
        reference, _ = ppo.policy_logprobs(actors, actors.reference, *rows_, 1.0)
        base, _ = ppo.policy_logprobs(actors, None, *rows_, 1.0)
        assert torch.equal(policy, reference) and not torch.allclose(policy, base, atol=1e-4)
    # the value function starts from the reward model: its head is the score head
    score_weight = ppo_actors.adapter_weights(reward.adapter_dir)["base_model.model.score.weight"]
    assert torch.equal(actors.value_head.weight.data, score_weight)
    # only the policy and value adapters (and the value head) are trained
    names = {n for n, p in actors.model.named_parameters() if any(p is t for t in actors.trainable)}
    assert names and all(".default." in n or ".value." in n for n in names)


def test_an_update_moves_policy_and_value_adapters_and_nothing_frozen(fresh_home):
    """The value function is an adapter and a head: one update must move the adapter too, not only
    the head (PEFT's adapter switches set requires_grad, and a backward pass after a switch back to
    the policy used to skip the value adapter). Reference and reward stay bit-for-bit the same."""
    from workbench.models import detect_hardware, load_tokenizer
    from workbench.train import ppo
    sft, reward = adapter_run("sft-u", "sft", seed=1), adapter_run("rm-u", "reward", seed=2)
    config = prepare_config(PPORunConfig(**{**SMALL, "from_run": sft.name, "reward_model": reward.name}))
    tokenizer = load_tokenizer("tiny")
    actors = ppo.load_actors(config, "tiny", sft.adapter_dir, detect_hardware(), tokenizer)
    lora = {n: p for n, p in actors.model.named_parameters() if "lora_" in n}
    before = {n: p.detach().clone() for n, p in lora.items()}
    head_before = actors.value_head.weight.detach().clone()
    optimizer = torch.optim.AdamW(actors.trainable, lr=1e-3, weight_decay=0.0)
    rows, _ = ppo.prompt_rows(config)
    batch = ppo.rollout(actors, tokenizer, ppo.encode_prompts(tokenizer, rows[:4], 80), config, config.kl_coef)
    ppo.ppo_update(actors, optimizer, batch, config)

    def moved(name: str) -> list[bool]:
        return [not torch.equal(before[n], p.detach()) for n, p in lora.items() if f".{name}." in n]

    for name in ("default", "value", "reference", "reward"):
        assert moved(name), f"no LoRA weights of adapter '{name}'"
    assert all(moved("default")) and all(moved("value")), (sum(moved("default")), sum(moved("value")))
    assert not any(moved("reference")) and not any(moved("reward"))
    assert not torch.equal(actors.value_head.weight, head_before)
    # still frozen after every adapter switch of a rollout and an update
    assert not any(p.requires_grad for n, p in lora.items() if ".reference." in n or ".reward." in n)


# ------------------------------------------------------------------------------------ sampling = scoring

# What a user's model may ship in generation_config.json: each of these changes the distribution
# transformers samples from, and none of them is in the scoring pass's log-probs.
LEAKY_GENERATION = dict(repetition_penalty=1.3, no_repeat_ngram_size=2, min_p=0.05, typical_p=0.5,
                        epsilon_cutoff=3e-4, top_k=5, top_p=0.5, suppress_tokens=[3, 4], min_new_tokens=6,
                        bad_words_ids=[[5]])


def leaky_model(folder):
    """A copy of the tiny model whose generation_config.json also sets LEAKY_GENERATION."""
    from workbench.models import build_tiny_model
    shutil.copytree(build_tiny_model(), folder)
    path = folder / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **LEAKY_GENERATION}))
    return folder


def test_answers_are_scored_under_the_distribution_they_were_sampled_from(fresh_home, tmp_path, monkeypatch):
    """PPO's old log-probs and KL are computed by a forward pass at the sampling temperature; the
    sampler must have drawn from exactly that distribution, not one the model's
    generation_config.json reshaped (repetition penalty, n-gram ban, min_p, suppressed tokens...)."""
    from workbench.models import detect_hardware, load_tokenizer
    from workbench.train import ppo
    folder = str(leaky_model(tmp_path / "leaky"))
    config = prepare_config(PPORunConfig(**{**SMALL, "model": folder, "max_new_tokens": 8},
                                         reward_rule="length", temperature=1.0))
    tokenizer = load_tokenizer(folder)
    # exact comparisons: sampled and scored in fp32, whatever the machine would pick
    actors = ppo.load_actors(config, folder, None, detect_hardware("fp32"), tokenizer)
    assert actors.model.get_base_model().generation_config.repetition_penalty == 1.3  # the model ships it
    outputs = []
    generate = actors.model.generate

    def generate_keeping_scores(*args, generation_config, **kwargs):
        generation_config = copy.deepcopy(generation_config)
        generation_config.update(output_scores=True, output_logits=True, return_dict_in_generate=True)
        out = generate(*args, generation_config=generation_config, **kwargs)
        outputs.append(out)
        return out.sequences

    monkeypatch.setattr(actors.model, "generate", generate_keeping_scores)
    rows, _ = ppo.prompt_rows(config)
    batch = ppo.sample_answers(actors, tokenizer, ppo.encode_prompts(tokenizer, rows[:4], 80), config)
    batch = ppo.score_answers(actors, batch, config)
    (out,) = outputs
    drawn_from = torch.stack(out.scores, dim=1)  # (B, R, V): the sampler's processed scores
    logits = torch.stack(out.logits, dim=1)      # (B, R, V): the model's own
    mask, responses = batch["mask"], batch["responses"]
    assert drawn_from.shape[:2] == mask.shape and mask.sum() > 4
    sampled = drawn_from.log_softmax(-1).gather(-1, responses.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(sampled[mask], batch["logprobs"][mask], atol=1e-4), \
        (sampled[mask] - batch["logprobs"][mask]).abs().max()
    # the whole distribution, not only at the drawn tokens: at temperature 1 nothing stands between
    # the model's logits and the sampler
    assert torch.equal(drawn_from[mask], logits[mask])


def record_logits_processors(monkeypatch) -> list:
    """The logits-processor lists transformers builds from now on, one per generate call: each
    must be empty when nothing but the temperature shapes sampling."""
    from transformers.generation.utils import GenerationMixin
    processors = []
    build = GenerationMixin._get_logits_processor

    def recording(self, *args, **kwargs):
        processors.append(build(self, *args, **kwargs))
        return processors[-1]

    monkeypatch.setattr(GenerationMixin, "_get_logits_processor", recording)
    return processors


def test_rloo_samples_without_the_models_generation_settings(fresh_home, tmp_path, monkeypatch):
    """TRL's RLOOTrainer builds its own GenerationConfig, but transformers fills its unset fields
    (min_p, no_repeat_ngram_size, suppress_tokens, ...) from the model's generation_config.json."""
    processors = record_logits_processors(monkeypatch)
    folder = str(leaky_model(tmp_path / "leaky"))
    run = run_here(RLOORunConfig(model=folder, prompts=PROMPTS, reward_rule="length", max_steps=1,
                                 batch_size=4, num_generations=2, max_new_tokens=4, max_length=96,
                                 save_steps=1000, temperature=1.0))
    assert run.status()["state"] == "completed", run.status().get("error")
    built = [[type(x).__name__ for x in p] for p in processors]
    assert built and all(not names for names in built), built


# ------------------------------------------------------------------------------------ stop / resume

def test_stop_then_resume_equals_an_uninterrupted_run(fresh_home):
    from peft.utils import load_peft_weights

    from workbench.train import ppo
    whole = run_here(PPORunConfig(**SMALL, reward_rule="length", name="whole"))
    config = prepare_config(PPORunConfig(**SMALL, reward_rule="length", name="halted"))
    halted = new_run_folder("ppo", "halted")
    config.save(halted.config_path)
    halted.stop_path.touch()  # a stop asked for while step 1 runs
    ppo.train(config, halted)
    status = halted.status()
    assert status["state"] == "stopped" and status["step"] == 1 and not halted.stop_requested()
    checkpoint = halted.last_checkpoint()
    assert checkpoint.name == "checkpoint-1"
    for name in ("adapter_model.safetensors", "value/adapter_model.safetensors", "value_head.safetensors",
                 "optimizer.pt", "rng_state.pth", "trainer_state.json"):
        assert (checkpoint / name).exists(), name
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 1

    ppo.train(config, halted, resume_from=checkpoint)
    status = halted.status()
    assert status["state"] == "completed" and status["step"] == 3
    steps = [row["step"] for row in halted.metrics() if "policy_loss" in row]
    assert steps == [1, 2, 3]
    # same prompts, same samples, same optimizer and random state: the same run as without a stop
    a, b = (load_peft_weights(str(r.adapter_dir)) for r in (whole, halted))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    rewards = [[row["reward/mean"] for row in r.metrics() if "policy_loss" in row] for r in (whole, halted)]
    assert rewards[0] == pytest.approx(rewards[1])


# ------------------------------------------------------------------------------------ the job path

def test_ppo_job_from_sft_and_reward_runs(fresh_home, monkeypatch):
    from workbench.train import train
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the job process inherits it (see one_thread)
    sft, reward = adapter_run("sft-j", "sft", seed=3), adapter_run("rm-j", "reward", seed=4)
    run = train("ppo", **{**SMALL, "model": "smollm2-135m", "max_steps": 2}, from_run=sft.name,
                reward_model=reward.name, name="ppo-j", wait=True)
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    assert run.config()["model"] == "tiny"  # the base comes from the SFT run
    first = next(row for row in run.metrics() if row.get("step") == 1 and "kl" in row)
    assert abs(first["kl"]) < 1e-5  # the reference is the SFT policy, where the policy starts
    assert first["reward/mean"] != 0 and status["final"]["reward_model_copy"] is False
    assert status["final"]["peak_rss_mb"] > 0 and run.samples()
    assert (run.adapter_dir / "adapter_model.safetensors").exists()


def test_rloo_through_trl_logs_reward(fresh_home):
    reward = adapter_run("rm-r", "reward", seed=5)
    run = run_here(RLOORunConfig(model="tiny", prompts=PROMPTS, reward_model=reward.name, max_steps=2,
                                 batch_size=4, num_generations=2, max_new_tokens=4, max_length=96,
                                 save_steps=1000, sample_every=1))
    status = run.status()
    assert status["state"] == "completed", status.get("error")
    rows = [row for row in run.metrics() if "reward/mean" in row and "loss" in row]
    assert [row["step"] for row in rows] == [1, 2]
    for key in ("reward", "kl", "entropy", "completions/mean_length", "step", "epoch", "time"):
        assert key in rows[-1], key
    assert rows[0]["reward/mean"] != 0
    assert {s["step"] for s in run.samples()} >= {1, 2}
    assert (run.adapter_dir / "adapter_model.safetensors").exists()


# ------------------------------------------------------------------------------------ bad input

def other_vocab_model(folder):
    """A model folder whose tokenizer is not SmolLM2's (a 100-word vocabulary)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    vocab = {w: i for i, w in enumerate(["<pad>", "<s>", "</s>"] + [f"w{i}" for i in range(97)])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>",
                            eos_token="</s>").save_pretrained(folder)
    LlamaForCausalLM(LlamaConfig(vocab_size=100, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(folder)
    return folder


def test_bad_input_is_refused_before_a_job_starts(fresh_home, tmp_path, capsys):
    from workbench.cli import main

    def check(**settings):
        prepare_config(PPORunConfig(**{**SMALL, **settings}))

    with pytest.raises(ConfigError, match="reward_model.*give exactly one"):
        check()
    with pytest.raises(RunError, match="no run named 'nope'"):
        check(reward_model="nope")
    sft = adapter_run("sft-b", "sft")
    with pytest.raises(ConfigError, match="is a sft run, not a reward-model run"):
        check(reward_model=sft.name)
    with pytest.raises(ConfigError, match="unknown reward rule 'loud'"):
        check(reward_rule="loud")
    with pytest.raises(ConfigError, match="'method' must be lora or qlora"):
        check(reward_rule="length", method="full")
    other = Run(runs_root() / "rm-other")
    other.path.mkdir()
    other.config_path.write_text(f"stage: reward\nmodel: {other_vocab_model(tmp_path / 'other')}\n")
    other.adapter_dir.mkdir()
    other.update_status(state="completed")
    with pytest.raises(ConfigError, match="tokenizer .* is not the policy's"):
        check(reward_model="rm-other")
    reward = adapter_run("rm-b", "reward")
    with pytest.raises(ConfigError, match="run 'rm-b' is a reward run; the policy starts from"):
        check(reward_model=reward.name, from_run=reward.name)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.jsonl: the file is empty"):
        check(reward_model=reward.name, prompts=str(empty))
    # the same through the command line: one line, no traceback, no run folder
    capsys.readouterr()
    code = main(["train", "ppo", "--prompts", str(empty), "--reward-model", reward.name, "--model", "tiny"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "empty.jsonl" in err and "Traceback" not in err
    assert not any(p.name.startswith("ppo-") for p in runs_root().iterdir())


def test_cli_has_ppo_and_rloo_options(capsys):
    from workbench.cli import main
    for stage, flags in (("ppo", ["--prompts", "--from", "--reward-model", "--kl-coef", "--kl-target",
                                  "--method", "--max-steps", "--rollout-batch-size", "--ppo-epochs"]),
                         ("rloo", ["--prompts", "--from", "--reward-model", "--num-generations"])):
        with pytest.raises(SystemExit) as exit_:
            main(["train", stage, "--help"])
        out = capsys.readouterr().out
        assert exit_.value.code == 0 and all(flag in out for flag in flags), stage
