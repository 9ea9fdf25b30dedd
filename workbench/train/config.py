"""One typed config per training stage. A run is fully described by its config.

The config is saved as `config.yaml` in the run folder, reloads with `--config`, and maps to the
exact CLI command that equals it (`to_command`). Its fields also *are* the CLI's options: the
parser is generated from them, so the two cannot drift apart.

TRL's own config classes (SFTConfig, RewardConfig, DPOConfig, KTOConfig) are filled from these in
the stage modules; TRL's defaults that fail or crawl on a CPU (bf16, gradient checkpointing) are replaced
by values chosen from the hardware.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass, fields
from pathlib import Path

from workbench.errors import ConfigError
from workbench.models.hardware import METHODS, PRECISIONS
from workbench.rl import KL_ESTIMATORS
from workbench.train.knobs import coerce, from_text, knob


# The stages whose output is a policy (a causal LM's adapter or weights) that a later stage continues.
POLICY_STAGES = ("sft", "dpo", "kto", "ppo", "rloo", "grpo")


# Where every stage cuts a row unless told otherwise; the token views show the same cut by default.
DEFAULT_MAX_LENGTH = 512


@dataclass
class RunConfig:
    """Settings every stage shares."""

    stage: str = knob("", "the training stage")
    name: str | None = knob(None, "run folder name; made from the stage and time when empty", kind="text")
    model: str = knob("smollm2-135m", "base model: a name from `workbench models list` or a folder",
                       kind="model")
    data: str = knob("", "training file (any format `workbench data inspect` reads)", kind="file")
    eval_data: str | None = knob(None, "held-out file; when empty, val_fraction of data is held out",
                                  kind="file")
    val_fraction: float = knob(0.1, "share of data held out for evaluation when no eval_data is given")
    method: str | None = knob(None, "lora | qlora | full; empty = what this hardware serves best",
                               kind="choice", choices=METHODS,
                               auto=lambda hardware: f"{hardware.default_method} on this machine")
    precision: str = knob("auto", "auto | fp32 | bf16: the dtype the model computes in; auto = "
                                  "$WORKBENCH_PRECISION if set, else bf16 where this machine runs it "
                                  "in hardware, else fp32 (the run records what auto chose)",
                           kind="precision")
    max_steps: int | None = knob(None, "optimizer steps; overrides epochs when set", kind="int")
    epochs: float = knob(1.0, "passes over the training rows (when max_steps is empty)")
    learning_rate: float | None = knob(None, "empty = the stage's default", kind="float")
    batch_size: int = knob(4, "rows per step and device")
    grad_accum: int = knob(1, "steps of gradients summed before each optimizer update")
    micro_batch: int | None = knob(None, "rows per forward pass (a divisor of batch_size); empty = what "
                                         "this hardware serves best (on a CPU: SFT 2, reward and DPO 1, "
                                         "KTO 2)", kind="int")
    max_length: int = knob(DEFAULT_MAX_LENGTH, "tokens; longer rows are cut: SFT keeps the start, reward, DPO and KTO "
                                "keep the answers whole and drop the start of the prompt")
    lora_r: int = knob(16, "LoRA rank")
    lora_alpha: int = knob(32, "LoRA scale numerator (scale = alpha / r)")
    lora_dropout: float = knob(0.0, "dropout on the LoRA path")
    lora_targets: str = knob("all-linear", "modules LoRA adapts: all-linear, or names like q_proj,v_proj")
    seed: int = knob(0, "seed for the split, data order and initialisation")
    logging_steps: int = knob(1, "write a metrics row every N steps")
    eval_steps: int | None = knob(None, "empty = about ten evaluations per run, at most one every 5 steps",
                                   kind="int")
    save_steps: int = knob(50, "save a checkpoint every N steps (and always on stop)")
    save_total_limit: int = knob(3, "checkpoints kept; older ones are removed")
    max_rows: int | None = knob(None, "use only the first N valid rows of data (quick tries)", kind="int")
    launcher: str = knob("local", "local: one process; accelerate: `accelerate launch` (DDP, FSDP, DeepSpeed)")
    num_processes: int = knob(1, "processes for the accelerate launcher (GPUs, or CPU workers with gloo)")
    accelerate_config: str | None = knob(None, "an Accelerate config file (FSDP, DeepSpeed, several nodes)",
                                          kind="file")

    DEFAULT_LEARNING_RATE = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}
    # How this machine runs a job (processes, an Accelerate file it reads): for whoever runs the
    # app, never for a user of a shared one (see workbench.train.jobs.prepare_config).
    MACHINE_FIELDS = ("launcher", "num_processes", "accelerate_config")

    def resolved_learning_rate(self) -> float:
        return self.learning_rate or self.DEFAULT_LEARNING_RATE[self.method or "lora"]

    # ------------------------------------------------------------ checks
    def validate(self) -> "RunConfig":
        """Raise ConfigError naming the field and the allowed values; return self when fine."""
        def bad(name, message):
            raise ConfigError(f"{self.stage} config: '{name}' {message}")

        if self.method is not None and self.method not in METHODS:
            bad("method", f"must be one of {', '.join(METHODS)}, not '{self.method}'")
        if self.precision not in PRECISIONS + ("fp16",):  # fp16: what auto picks on a GPU without bf16
            bad("precision", f"must be one of {', '.join(PRECISIONS)}, not '{self.precision}'")
        if self.max_steps is not None and self.max_steps <= 0:
            bad("max_steps", f"must be a positive number of steps, not {self.max_steps}")
        if self.max_steps is None and self.epochs <= 0:
            bad("epochs", f"must be positive, not {self.epochs}")
        for name in ("batch_size", "grad_accum", "max_length", "lora_r", "lora_alpha",
                     "logging_steps", "save_steps", "save_total_limit"):
            if getattr(self, name) < 1:
                bad(name, f"must be at least 1, not {getattr(self, name)}")
        if self.micro_batch is not None and (self.micro_batch < 1 or self.batch_size % self.micro_batch):
            bad("micro_batch", f"must divide batch_size ({self.batch_size}), not {self.micro_batch}")
        if self.eval_steps is not None and self.eval_steps < 1:
            bad("eval_steps", f"must be at least 1, not {self.eval_steps}")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            bad("learning_rate", f"must be between 0 and 1, not {self.learning_rate}")
        if not 0 <= self.val_fraction < 1:
            bad("val_fraction", f"must be at least 0 and below 1, not {self.val_fraction}")
        if not 0 <= self.lora_dropout < 1:
            bad("lora_dropout", f"must be at least 0 and below 1, not {self.lora_dropout}")
        if self.max_rows is not None and self.max_rows < 1:
            bad("max_rows", f"must be at least 1, not {self.max_rows}")
        if self.launcher not in ("local", "accelerate"):
            bad("launcher", f"must be 'local' or 'accelerate', not '{self.launcher}'")
        if self.num_processes < 1:
            bad("num_processes", f"must be at least 1, not {self.num_processes}")
        if self.launcher == "local" and (self.num_processes > 1 or self.accelerate_config):
            bad("launcher", "must be 'accelerate' to use num_processes or accelerate_config")
        if self.accelerate_config and not Path(self.accelerate_config).expanduser().is_file():
            bad("accelerate_config", f"names {self.accelerate_config}, which is not a file")
        for name in self.file_fields():
            value = getattr(self, name)
            if value and not Path(value).expanduser().exists():
                bad(name, f"names {value}, which does not exist")
        if "data" in self.file_fields() and not self.data:
            bad("data", "is required: the training file (`--data FILE`)")
        return self

    def file_fields(self) -> tuple[str, ...]:
        return ("data", "eval_data")

    @classmethod
    def knobs(cls) -> list:
        """The fields a user sets (every field but the stage), in the order the front ends show them."""
        return [f for f in fields(cls) if f.name != "stage"]

    @classmethod
    def run_fields(cls) -> dict[str, tuple[str, ...]]:
        """Fields that name another run -> the stages whose runs they take: from_run a policy's
        (sft first, the usual one), reward_model a reward model's."""
        return {f.name: f.metadata["runs"] for f in cls.knobs() if f.metadata["kind"] == "run"}

    # ------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "RunConfig":
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"Did you mean '{close[0]}'?" if close else f"Known keys: {', '.join(sorted(known))}."
                raise ConfigError(f"{source}: unknown key '{key}' for the {cls().stage} stage", hint=hint)
        config = cls(**{k: coerce(cls, k, v, source) for k, v in values.items()})
        return config

    @classmethod
    def from_form(cls, values: dict, source: str = "the form") -> "RunConfig":
        """The config of stage `values["stage"]` (or this class's) from a form's values, as
        `form_value` shows them: text, numbers, "auto", "yes" / "no". An empty box is None where the
        field takes None, else the stage's default. A form holds every stage's fields: those the
        stage lacks are ignored, a name no stage has is refused. Raises ConfigError naming `source`
        and the field for a value of the wrong kind."""
        stage = values.get("stage") or cls().stage
        target = config_class(stage)
        default = target()
        every_field = {f.name for other in STAGE_CONFIGS.values() for f in fields(other)}
        settings = {k: v for k, v in values.items() if k not in every_field}  # from_dict names them
        for f in target.knobs():
            if f.name in values:
                value = from_text(f, values[f.name])
                keep_default = value is None and not f.metadata["optional"]
                settings[f.name] = getattr(default, f.name) if keep_default else value
        return target.from_dict({**settings, "stage": stage}, source=source)

    @classmethod
    def from_args(cls, args) -> "RunConfig":
        """The config a parsed `workbench train STAGE ...` command line makes: the options given
        (the generated parser leaves out those not given) over `--config`'s file, or the defaults."""
        values = vars(args)
        stage = values.get("stage") or cls().stage
        names = {f.name for f in config_class(stage).knobs()}
        settings = {k: v for k, v in values.items() if k in names}
        return merge_config(stage, settings, values.get("config"), source="command line")

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        import yaml
        try:
            values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except yaml.YAMLError as error:
            raise ConfigError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of settings, found {type(values).__name__}")
        stage = values.get("stage", cls().stage)
        if stage != cls().stage:
            raise ConfigError(f"{path} is a config for the '{stage}' stage, not '{cls().stage}'",
                              hint=f"Use `workbench train {stage} --config {path}`.")
        return cls.from_dict(values, source=str(path))

    def save(self, path: str | Path) -> None:
        import yaml

        from workbench.io import write_atomic
        write_atomic(Path(path), yaml.safe_dump(self.to_dict(), sort_keys=False))

    def to_command(self) -> str:
        """The `workbench train` command this config equals (defaults left out)."""
        default = type(self)()
        words = ["workbench", "train", self.stage]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "stage" or value == getattr(default, f.name):
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                words.append(flag if value else "--no-" + f.name.replace("_", "-"))
            elif value is not None:
                words += [flag, str(value)]
        return shlex.join(words)


@dataclass
class SFTRunConfig(RunConfig):
    """Supervised fine-tuning on conversations: loss on assistant turns by default."""

    stage: str = knob("sft", "the training stage")
    assistant_only_loss: bool = knob(True, "False: train on every token (system and user turns too)")
    packing: bool | None = knob(None, "pack rows into one padding-free sequence; empty = what this hardware "
                                      "serves best (off on a CPU, which has no varlen attention)",
                                kind="bool")


@dataclass
class RewardRunConfig(RunConfig):
    """A reward model: a scalar head on the base, trained so chosen scores above rejected."""

    stage: str = knob("reward", "the training stage")
    DEFAULT_LEARNING_RATE = {"lora": 1e-4, "qlora": 1e-4, "full": 1e-5}


@dataclass
class DPORunConfig(RunConfig):
    """Direct preference optimisation, from an SFT run's adapter (or the base)."""

    stage: str = knob("dpo", "the training stage")
    from_run: str | None = knob(None, "SFT run whose adapter DPO starts from; its base is used", kind="run",
                                 runs=POLICY_STAGES)
    beta: float = knob(0.1, "strength of the KL pull towards the reference")
    DEFAULT_LEARNING_RATE = {"lora": 5e-5, "qlora": 5e-5, "full": 5e-7}

    def validate(self):
        super().validate()
        if self.beta <= 0:
            raise ConfigError(f"dpo config: 'beta' must be positive, not {self.beta}")
        return self


@dataclass
class KTORunConfig(RunConfig):
    """Kahneman-Tversky optimisation on unpaired feedback (one answer, labelled good or bad), from an
    SFT run's adapter (or the base)."""

    stage: str = knob("kto", "the training stage")
    from_run: str | None = knob(None, "SFT run whose adapter KTO starts from; its base is used", kind="run",
                                 runs=POLICY_STAGES)
    beta: float = knob(0.1, "strength of the KL pull towards the reference")
    desirable_weight: float = knob(1.0, "weight of the loss on desirable (label true) answers; raise it when "
                                        "they are fewer than the undesirable ones")
    undesirable_weight: float = knob(1.0, "weight of the loss on undesirable (label false) answers; raise it "
                                          "when they are fewer than the desirable ones")
    batch_size: int = knob(4, "rows per step and device (at least 2: KTO estimates its KL term from "
                              "the batch's rows paired with each other's answers)")
    DEFAULT_LEARNING_RATE = {"lora": 5e-5, "qlora": 5e-5, "full": 5e-7}

    def validate(self):
        super().validate()

        def bad(name, message, hint=None):
            raise ConfigError(f"kto config: '{name}' {message}", hint=hint)

        # TRL's KTOTrainer estimates the KL reference point from each row's prompt with another
        # row's answer in the same forward pass; one row a pass would pair a row with itself.
        why = "KTO's KL estimate pairs each prompt with another row's answer in the same forward pass"
        if self.batch_size < 2:
            bad("batch_size", f"must be at least 2, not {self.batch_size}: {why}")
        if self.micro_batch is not None and self.micro_batch < 2:
            bad("micro_batch", f"must be at least 2, not {self.micro_batch}: {why}",
                hint="Leave micro_batch empty to let the workbench choose, or give 2 or more.")
        for name in ("beta", "desirable_weight", "undesirable_weight"):
            if getattr(self, name) <= 0:
                bad(name, f"must be positive, not {getattr(self, name)}")
        return self


@dataclass
class OnlineRunConfig(RunConfig):
    """What the online RLHF stages (ppo, rloo, grpo) share: prompts in, a reward out of each answer."""

    REWARD_SOURCES = ("reward_model", "reward_rule")  # give exactly one

    prompts: str = knob("", "prompts file (any format with prompts: prompt-only, preference, SFT, ...)",
                         kind="file")
    from_run: str | None = knob(None, "SFT (or DPO) run whose adapter the policy starts from, and the "
                                      "reference is; its base is used", kind="run", runs=POLICY_STAGES)
    reward_model: str | None = knob(None, "reward-model run (`workbench train reward`) that scores answers",
                                     kind="run", runs=("reward",))
    reward_rule: str | None = knob(None, "instead of a reward model, a rule (demos, tests): length "
                                         "(+0.1 a word), brevity (-0.1 a word), token:WORD (+1 each time)", kind="text")
    max_new_tokens: int = knob(48, "longest answer sampled, in tokens")
    temperature: float = knob(0.7, "sampling temperature of the answers")
    missing_eos_penalty: float | None = knob(1.0, "subtracted from the score of an answer cut off at "
                                                  "max_new_tokens (empty = none)", optional=True)
    sample_every: int = knob(5, "append sample answers (prompt, response, score) every N steps")

    def file_fields(self) -> tuple[str, ...]:
        return ("prompts", "eval_data")

    def validate(self):
        super().validate()

        def bad(name, message, hint=None):
            raise ConfigError(f"{self.stage} config: '{name}' {message}", hint=hint)

        if not self.prompts:
            bad("prompts", "is required: the prompts to answer (`--prompts FILE`)",
                hint="Any file with prompts works, e.g. sample_data/prompts.jsonl or a preference file.")
        if self.data:
            bad("data", f"is not used by {self.stage}; give the prompts with `--prompts {self.data}`")
        given = [name for name in self.REWARD_SOURCES if getattr(self, name)]
        if len(given) != 1:
            others = self.REWARD_SOURCES[1:]
            names = "', '".join(others[:-1]) + ("' or '" if len(others) > 1 else "") + others[-1]
            bad(self.REWARD_SOURCES[0], f"or '{names}': give exactly one" + (
                f", not {len(given)} ({', '.join(given)})" if given else ": what scores the answers"),
                hint="Train a reward model with `workbench train reward --data PREFERENCE_FILE` and pass "
                     "`--reward-model RUN`, or try a rule: `--reward-rule brevity`" + (
                         ", or check answers against a reference column: `--reward-check exact`."
                         if "reward_check" in self.REWARD_SOURCES else "."))
        if self.method == "full":
            bad("method", f"must be lora or qlora: {self.stage} keeps one base in memory and switches "
                          "adapters on it (policy, reference, reward, value)")
        if self.max_new_tokens < 1 or self.sample_every < 1:
            name = "max_new_tokens" if self.max_new_tokens < 1 else "sample_every"
            bad(name, f"must be at least 1, not {getattr(self, name)}")
        if self.max_new_tokens >= self.max_length:
            bad("max_new_tokens", f"({self.max_new_tokens}) must be below max_length ({self.max_length}), "
                                  "which holds the prompt and the answer")
        if self.temperature <= 0:
            bad("temperature", f"must be positive, not {self.temperature}")
        return self


@dataclass
class PPORunConfig(OnlineRunConfig):
    """Online RLHF with PPO: sample answers, score them, and push the policy towards higher scores
    while a KL penalty keeps it near the reference (a value model, GAE, clipped losses)."""

    stage: str = knob("ppo", "the training stage")
    batch_size: int = knob(4, "answers per PPO minibatch (one optimizer step)")
    eval_steps: int | None = knob(None, "score held-out prompts every N steps; empty = at start and end",
                                   kind="int")
    max_steps: int | None = knob(None, "PPO steps (one rollout and its update each); overrides epochs",
                                  kind="int")
    rollout_batch_size: int = knob(16, "prompts answered per PPO step (one rollout)")
    ppo_epochs: int = knob(4, "passes over each rollout")
    kl_coef: float = knob(0.05, "weight of the per-token KL penalty against the reference")
    kl_target: float | None = knob(None, "adaptive KL: target KL per answer (nats); empty = fixed kl_coef",
                                     kind="float")
    kl_horizon: int = knob(10000, "adaptive KL: answers over which the coefficient adapts")
    kl_estimator: str = knob("k1", f"per-token KL estimator in the reward: {', '.join(KL_ESTIMATORS)}")
    clip_range: float = knob(0.2, "PPO clip range of the probability ratio")
    value_clip_range: float = knob(0.2, "clip range of the value predictions")
    vf_coef: float = knob(0.1, "weight of the value loss")
    gamma: float = knob(1.0, "discount per token")
    lam: float = knob(0.95, "GAE lambda")
    whiten_rewards: bool = knob(False, "normalise the per-token rewards of each rollout")
    DEFAULT_LEARNING_RATE = {"lora": 5e-5, "qlora": 5e-5, "full": 1e-6}

    def validate(self):
        super().validate()
        problems = [
            ("rollout_batch_size", self.rollout_batch_size >= 1, "must be at least 1"),
            ("ppo_epochs", self.ppo_epochs >= 1, "must be at least 1"),
            ("batch_size", self.batch_size <= self.rollout_batch_size,
             f"(a minibatch) must not exceed rollout_batch_size ({self.rollout_batch_size})"),
            ("kl_coef", self.kl_coef >= 0, "must not be negative"),
            ("kl_target", self.kl_target is None or self.kl_target > 0, "must be positive"),
            ("kl_horizon", self.kl_horizon >= 1, "must be at least 1"),
            ("kl_estimator", self.kl_estimator in KL_ESTIMATORS, f"must be one of {', '.join(KL_ESTIMATORS)}"),
            ("clip_range", self.clip_range > 0, "must be positive"),
            ("value_clip_range", self.value_clip_range > 0, "must be positive"),
            ("vf_coef", self.vf_coef >= 0, "must not be negative"),
            ("gamma", 0 < self.gamma <= 1, "must be in (0, 1]"),
            ("lam", 0 <= self.lam <= 1, "must be in [0, 1]"),
        ]
        for name, ok, message in problems:
            if not ok:
                raise ConfigError(f"ppo config: '{name}' {message}, not {getattr(self, name)}")
        return self


@dataclass
class RLOORunConfig(OnlineRunConfig):
    """Online RLHF without a value model (TRL's RLOOTrainer): k answers per prompt, each one's
    advantage its score minus the mean score of the others."""

    stage: str = knob("rloo", "the training stage")
    batch_size: int = knob(4, "answers per step and device (a multiple of num_generations)")
    num_generations: int = knob(4, "answers sampled per prompt (k, at least 2)")
    kl_coef: float = knob(0.05, "weight of the KL penalty against the reference (TRL's beta)")
    DEFAULT_LEARNING_RATE = {"lora": 5e-5, "qlora": 5e-5, "full": 1e-6}

    def validate(self):
        super().validate()
        if self.num_generations < 2:
            raise ConfigError(f"rloo config: 'num_generations' must be at least 2, not {self.num_generations}",
                              hint="RLOO's baseline for an answer is the mean score of the other answers.")
        if (self.batch_size * self.grad_accum) % self.num_generations:
            raise ConfigError(f"rloo config: 'batch_size' x 'grad_accum' ({self.batch_size * self.grad_accum}) "
                              f"must be a multiple of num_generations ({self.num_generations})")
        if self.kl_coef < 0:
            raise ConfigError(f"rloo config: 'kl_coef' must not be negative, not {self.kl_coef}")
        return self


@dataclass
class GRPORunConfig(OnlineRunConfig):
    """Group relative policy optimisation (TRL's GRPOTrainer): k answers per prompt, each one's
    advantage its score minus the group's mean score, divided by the group's standard deviation.
    The score comes from a reward model, a rule, or a check against a reference answer."""

    stage: str = knob("grpo", "the training stage")
    reward_check: str | None = knob(None, "instead of a reward model or rule, a verifiable reward: 1 when the "
                                          "answer passes, else 0, against each prompt row's reference_field: "
                                          "exact (the final answer equals it; numbers compared as numbers) or "
                                          "regex (the reference is a regular expression found in the answer)",
                                    kind="text")
    reference_field: str = knob("answer", "the prompts file's field holding each row's reference (for "
                                          "reward_check)")
    batch_size: int = knob(4, "answers per step and device (a multiple of num_generations)")
    num_generations: int = knob(4, "answers sampled per prompt (the group, at least 2)")
    kl_coef: float = knob(0.04, "weight of the KL penalty against the reference (TRL's beta; TRL "
                                "defaults to 0, no reference and no kl logged)")
    REWARD_SOURCES = ("reward_model", "reward_rule", "reward_check")
    DEFAULT_LEARNING_RATE = {"lora": 5e-5, "qlora": 5e-5, "full": 1e-6}

    def validate(self):
        super().validate()

        def bad(name, message, hint=None):
            raise ConfigError(f"grpo config: '{name}' {message}", hint=hint)

        from workbench.rl.rewards import REWARD_CHECKS
        if self.reward_check is not None and self.reward_check not in REWARD_CHECKS:
            bad("reward_check", f"must be one of {', '.join(REWARD_CHECKS)}, not '{self.reward_check}'")
        if not self.reference_field.strip() or self.reference_field in ("prompt", "messages"):
            bad("reference_field", f"must name a field beside the prompt, not '{self.reference_field}'")
        if self.num_generations < 2:
            bad("num_generations", f"must be at least 2, not {self.num_generations}",
                hint="GRPO compares each answer with the other answers to the same prompt.")
        if (self.batch_size * self.grad_accum) % self.num_generations:
            bad("batch_size", f"x 'grad_accum' ({self.batch_size * self.grad_accum}) must be a multiple of "
                              f"num_generations ({self.num_generations})")
        if self.kl_coef < 0:
            bad("kl_coef", f"must not be negative, not {self.kl_coef}")
        return self


STAGE_CONFIGS: dict[str, type[RunConfig]] = {
    "sft": SFTRunConfig,
    "reward": RewardRunConfig,
    "dpo": DPORunConfig,
    "kto": KTORunConfig,
    "ppo": PPORunConfig,
    "rloo": RLOORunConfig,
    "grpo": GRPORunConfig,
}


def config_class(stage: str) -> type[RunConfig]:
    try:
        return STAGE_CONFIGS[stage]
    except KeyError:
        raise ConfigError(f"unknown stage '{stage}'",
                          hint=f"Stages: {', '.join(STAGE_CONFIGS)}.") from None


def merge_config(stage: str, settings: dict, base=None, *, source: str = "settings") -> RunConfig:
    """The `stage` config that `settings` (field -> value) make over `base`: a saved config.yaml
    path, a config object, or None for the stage's defaults. Raises ConfigError naming `source`
    for an unknown field or a bad value."""
    cls = config_class(stage)
    if base is None:
        values = {}
    elif isinstance(base, RunConfig):
        values = base.to_dict()
    else:
        values = cls.load(base).to_dict()
    return cls.from_dict({**values, **settings, "stage": stage}, source=source)


def start_from(stage: str, model: str, *, base: str | None = None) -> dict:
    """The settings that make a `stage` run start from `model`, a name the model pickers offer
    ("base" is `base`, a run, or a model name or folder): {"from_run": the run} where the stage
    continues a policy run's adapter, else {"model": the base it is on}."""
    from workbench.models.variants import model_ref
    ref = model_ref(model or "base", base=base or None)
    continues = config_class(stage).run_fields().get("from_run", ())
    if ref.is_run and ref.adapter is not None and ref.stage in continues:
        return {"from_run": ref.run_name}
    return {"model": ref.base}


__all__ = ["RunConfig", "SFTRunConfig", "RewardRunConfig", "DPORunConfig", "KTORunConfig", "OnlineRunConfig",
           "PPORunConfig", "RLOORunConfig", "GRPORunConfig", "STAGE_CONFIGS",
           "config_class", "merge_config", "POLICY_STAGES", "start_from"]
