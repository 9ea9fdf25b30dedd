"""Generation that samples from exactly the distribution we ask for, whatever the model ships.

transformers fills every field of a GenerationConfig left at None from the model's own
`generation_config` (its generation_config.json), then from global defaults
(`GenerationMixin._prepare_generation_config`: `update(**self.generation_config.to_dict(),
defaults_only=True)`). A model that ships repetition_penalty, no_repeat_ngram_size, min_p or
suppress_tokens would then be sampled from one distribution and scored under another: PPO's and
RLOO's old log-probs, ratios and KL would be wrong from the first step, and a feedback pair would
not be what its recorded settings (temperature, top_p) say.

Passing neutral values is not enough: None is itself the off value of min_p, suppress_tokens,
forced_bos_token_id and others, and a None is what gets filled in. So a rollout runs with its own
complete config as the model's defaults too (`model_defaults`), the way TRL worked around the
same merge before transformers 5 (`trl.models.utils._override_model_generation_config`).
"""

from __future__ import annotations

from contextlib import contextmanager

# Every GenerationConfig field that changes the next-token distribution, which tokens may come out
# or when an answer ends (the processors of transformers' `_get_logits_processor`, the decoding
# modes, the stopping criteria), at the value that leaves sampling alone.
NEUTRAL = {
    # the sampling warpers
    "top_k": 0, "top_p": 1.0, "min_p": None, "top_h": None, "typical_p": 1.0,
    "epsilon_cutoff": 0.0, "eta_cutoff": 0.0,
    # the logits processors
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "sequence_bias": None,
    "suppress_tokens": None, "begin_suppress_tokens": None, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "min_length": 0, "min_new_tokens": None,
    "exponential_decay_length_penalty": None, "renormalize_logits": False, "remove_invalid_values": False,
    "guidance_scale": None, "watermarking_config": None,
    # one sequence a prompt, decoded token by token from the model itself
    "num_beams": 1, "num_return_sequences": 1, "token_healing": False,
    "prompt_lookup_num_tokens": None, "assistant_early_exit": None,
    # an answer ends at EOS or max_new_tokens, nothing else
    "max_length": None, "stop_strings": None, "max_time": None,
}
SAMPLING_ONLY = ("temperature", "top_k", "top_p", "min_p", "top_h", "typical_p", "epsilon_cutoff",
                 "eta_cutoff")


def generation_config(*, temperature: float, max_new_tokens: int, eos_token_id, pad_token_id,
                      bos_token_id=None, top_p: float = 1.0):
    """A complete GenerationConfig: multinomial sampling from softmax(logits / temperature) (greedy
    when temperature is 0), cut to the nucleus `top_p` when below 1, at most `max_new_tokens`
    tokens, ending at `eos_token_id` (an id or a list); every other setting off (NEUTRAL)."""
    from transformers import GenerationConfig
    settings = {**NEUTRAL, "do_sample": temperature > 0, "temperature": temperature, "top_p": top_p,
                "max_new_tokens": max_new_tokens, "use_cache": True, "eos_token_id": eos_token_id,
                "pad_token_id": pad_token_id, "bos_token_id": bos_token_id}
    if temperature <= 0:  # greedy: the sampling warpers are not used (and warn when set)
        settings.update(dict.fromkeys(SAMPLING_ONLY))
    return GenerationConfig(**settings)


@contextmanager
def model_defaults(model, config):
    """Within the block, `config` is `model`'s generation_config (a PeftModel's base model's, which
    its generate reads); the model's own is back afterwards. Generation inside then uses no setting
    of the model's generation_config.json, including those a trainer's generate call leaves unset."""
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    own = lm.generation_config
    lm.generation_config = config
    try:
        yield config
    finally:
        lm.generation_config = own


def generate(model, config, **inputs):
    """`model.generate(**inputs)` under `config` alone (see `model_defaults`). inputs: input_ids
    (B, P), attention_mask (B, P), and non-config arguments such as streamer or stopping_criteria.
    Returns what generate returns: ids (B, P + new tokens) unless `config` asks for more."""
    with model_defaults(model, config):
        return model.generate(**inputs, generation_config=config)
