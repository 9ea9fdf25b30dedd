"""The decoding fast path (`workbench.models.decode`) gives the answers of the plain path.

Plain path: transformers' `generate` under the workbench's complete generation config
(`workbench.models.sampling.generate`), one prompt at a time, seeded with torch.manual_seed. The
fast path batches rows (different prompts, seeds and adapters in one forward pass a token); each
row must come out as the plain path gives it alone. Speed is measured in bench/run.py, never here.
"""

import pytest

PROMPTS = ["How do I keep bread fresh?", "Name a colour.", "Write one sentence about the sea and its tides."]
SAMPLINGS = {"greedy": dict(temperature=0.0, top_p=1.0), "sampled": dict(temperature=0.9, top_p=0.9)}


def tiny(precision):
    from workbench.models import detect_hardware, load_causal_lm, load_tokenizer
    model = load_causal_lm("tiny", for_training=False, hardware=detect_hardware(precision))
    return model.eval(), load_tokenizer("tiny")


def prompt_ids(tokenizer, text):
    from workbench.data.tokens import encode_prompt
    return encode_prompt(tokenizer, [{"role": "user", "content": text}])


def plain(model, tokenizer, ids, seed, max_new_tokens, temperature, top_p):
    """The plain path: one prompt through transformers' generate."""
    import torch

    from workbench.models.sampling import generate, generation_config
    config = generation_config(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                               eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    input_ids = torch.tensor([ids])
    torch.manual_seed(seed)
    with torch.no_grad():
        out = generate(model, config, input_ids=input_ids, attention_mask=torch.ones_like(input_ids))
    return out[0, len(ids):].tolist()


def fast(model, tokenizer, rows, max_new_tokens, temperature, top_p, **extra):
    from workbench.models.decode import decode
    return decode(model, rows, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **extra)


@pytest.mark.parametrize("how", SAMPLINGS)
def test_one_row_gives_the_plain_generate_tokens_in_each_precision(precision, how):
    from workbench.models.decode import Row
    model, tokenizer = tiny(precision)
    for text, seed in zip(PROMPTS, (0, 7, 123)):
        ids = prompt_ids(tokenizer, text)
        expected = plain(model, tokenizer, ids, seed, 20, **SAMPLINGS[how])
        assert fast(model, tokenizer, [Row(ids, seed=seed)], 20, **SAMPLINGS[how]) == [expected], (text, seed)


@pytest.mark.parametrize("how", SAMPLINGS)
def test_batched_rows_of_different_lengths_seeds_and_adapters_each_answer_as_alone(how):
    """fp32, where a batched matrix product rounds as a single one: three prompts of different
    lengths (left-padded), their own seeds, and three variants of one base in one pass (two random
    LoRA adapters and the base with adapters off) give each row its own plain-path answer."""
    import torch
    from peft import LoraConfig, get_peft_model

    from workbench.models.decode import BASE_ADAPTER, Row
    model, tokenizer = tiny("fp32")
    torch.manual_seed(0)
    config = LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)  # random: changes answers
    peft = get_peft_model(model, config, adapter_name="one").eval()
    peft.add_adapter("two", config)
    peft.eval()
    rows = [Row(prompt_ids(tokenizer, text), seed=seed, adapter=adapter)
            for text, seed, adapter in zip(PROMPTS, (3, 4, 5), ("one", "two", BASE_ADAPTER))]
    together = fast(peft, tokenizer, rows, 16, **SAMPLINGS[how])
    alone = []
    for row in rows:
        if row.adapter == BASE_ADAPTER:
            with peft.disable_adapter():
                alone.append(plain(peft, tokenizer, row.prompt_ids, row.seed, 16, **SAMPLINGS[how]))
        else:
            peft.set_adapter(row.adapter)
            alone.append(plain(peft, tokenizer, row.prompt_ids, row.seed, 16, **SAMPLINGS[how]))
    assert together == alone
    assert [fast(peft, tokenizer, [row], 16, **SAMPLINGS[how])[0] for row in rows] == alone  # one row each
    # the adapters really change the answers, so a row run with the wrong one would show
    same_prompt = [Row(rows[0].prompt_ids, seed=3, adapter=a) for a in ("one", "two", BASE_ADAPTER)]
    assert len({tuple(a) for a in fast(peft, tokenizer, same_prompt, 16, **SAMPLINGS[how])}) == 3


def test_tokens_stream_in_order_and_a_stop_ends_every_row():
    from workbench.models.decode import Row
    model, tokenizer = tiny("fp32")
    rows = [Row(prompt_ids(tokenizer, text), seed=1) for text in PROMPTS[:2]]
    seen = []
    answers = fast(model, tokenizer, rows, 12, temperature=0.9, top_p=1.0,
                   on_token=lambda row, token: seen.append((row, token)))
    for i, answer in enumerate(answers):
        assert [token for row, token in seen if row == i] == answer
    steps = []
    stopped = fast(model, tokenizer, rows, 12, temperature=0.9, top_p=1.0,
                   on_token=lambda row, token: steps.append(row), should_stop=lambda: len(steps) >= 4)
    assert [len(a) for a in stopped] == [2, 2]
    assert stopped == [a[:2] for a in answers]
