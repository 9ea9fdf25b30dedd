"""Speed and memory of the workbench on this machine, measured side by side in one run.

    make bench                      # or: .venv/bin/python bench/run.py [--quick] [--out FILE]

Prints a table and writes JSON (bench/results/latest.json). What it measures:
- the machine's fp32 ceiling (a large matrix product's FLOP/s);
- SFT LoRA throughput on the default model and the same rows: the workbench's own SFT stage
  against TRL's SFTTrainer with its documented defaults plus only `use_cpu=True` (on a CPU);
  useful (non-padding) tokens per second, the ratio, and the workbench's fraction of the
  ceiling, from the FLOPs per token the run truly needs;
- peak memory (RSS) of each stage's job process on the default model, and of a three-variant
  comparison against one model;
- time to ready: loading the default model from the cache, and `workbench launch` until the
  page answers;
- generation tokens/s through the comparison path against plain `model.generate`;
- `workbench serve`: latency, time to the first streamed token and tokens/s of the OpenAI endpoint,
  asked through the `openai` client, beside the comparison path it serves from.
Targets are checked here, printed as ratios; tests never assert on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SFT_FILE = ROOT / "sample_data" / "sft.jsonl"
MODEL = "smollm2-135m"


# ---------------------------------------------------------------- helpers

def peak_rss_mb(pid: int) -> float | None:
    """The process's high-water resident memory (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class PeakWatcher:
    """Polls a process's VmHWM until it exits; the last reading is its peak RSS."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, None
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while True:
            value = peak_rss_mb(self.pid)
            if value is None:
                return
            self.peak = max(self.peak or 0, value)
            time.sleep(0.2)


def python(code: str, env=None, timeout=900) -> tuple[dict, float]:
    """Run `code` in a fresh interpreter; it prints one JSON line last. Returns (result, peak MB)."""
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, **(env or {})}, cwd=str(ROOT))
    watcher = PeakWatcher(process.pid)
    out, err = process.communicate(timeout=timeout)
    watcher.thread.join(timeout=1)
    if process.returncode != 0:
        raise RuntimeError(f"benchmark step failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), watcher.peak


# ---------------------------------------------------------------- measurements

def matmul_ceiling(sizes=(1024, 2048, 3072), repeats: int = 10) -> float:
    """Best fp32 FLOP/s of a square matrix product on all cores, over a few sizes.

    A shared machine's clock and neighbours move: one size measured once came out below what
    the model's own thinner products reached minutes later. So: the best of several sizes, and
    main() measures again after the SFT runs and keeps the higher figure.
    """
    import torch
    best = 0.0
    for size in sizes:
        a, b = torch.randn(size, size), torch.randn(size, size)
        torch.mm(a, b)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * size ** 3 / (time.perf_counter() - start))
    return best


def shape_matmul_rate(shape: dict, tokens: int, repeats: int = 5) -> float:
    """Best fp32 FLOP/s of this model's own linear layers on a pass of `tokens` tokens, forward
    ([tokens, in] @ [in, out]) and the activation gradient backward ([tokens, out] @ [out, in]).

    What the big square product reaches is not what these thin products can: this figure says
    how much of the gap to the ceiling is the model's shape rather than the training loop.
    """
    import torch
    h, i, kv = shape["hidden"], shape["intermediate"], shape["kv_dim"]
    dims = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]
    pairs = [(torch.randn(tokens, a), torch.randn(a, b)) for a, b in dims]
    pairs += [(torch.randn(tokens, b), torch.randn(b, a)) for a, b in dims]
    flops = sum(2 * tokens * w.shape[0] * w.shape[1] for _, w in pairs)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for x, w in pairs:
            torch.mm(x, w)
        best = max(best, flops / (time.perf_counter() - start))
    return best


def model_shape(model_dir: Path) -> dict:
    config = json.loads((model_dir / "config.json").read_text())
    hidden, layers, vocab = config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]
    inter, heads = config["intermediate_size"], config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", heads)
    head_dim = config.get("head_dim") or hidden // heads
    per_layer = (hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim + heads * head_dim * hidden
                 + 3 * hidden * inter)
    return {"hidden": hidden, "layers": layers, "vocab": vocab, "body_params": per_layer * layers,
            "head_params": hidden * vocab, "intermediate": inter, "kv_dim": kv_heads * head_dim}


def flops_per_token(shape: dict, context: float, trained_fraction: float, lora_params: int) -> float:
    """FLOPs a LoRA step needs per processed token, forward and backward.

    The frozen body costs 2 FLOPs per weight forward and 2 backward (gradients flow to the
    activations, not to frozen weights); LoRA weights cost 6. Attention scores and their
    weighted sum cost 4 * context * hidden per layer forward, twice that backward. The LM head
    runs only on tokens whose loss is taken (TRL's fused head): 4 FLOPs per weight there.
    """
    body = 4 * shape["body_params"] + 6 * lora_params
    attention = 3 * 4 * context * shape["hidden"] * shape["layers"]
    head = 4 * shape["head_params"] * trained_fraction
    return body + attention + head


WORKBENCH_SFT = r"""
import json, time, os
from workbench.train import train
run = train("sft", data=os.environ["BENCH_DATA"], model=os.environ["BENCH_MODEL"], max_steps=int(os.environ["BENCH_STEPS"]),
            batch_size=int(os.environ["BENCH_BATCH"]), max_length=512, eval_steps=10**6, val_fraction=0.0,
            save_steps=10**6, name="bench-sft", wait=True)
status = run.status()
assert status["state"] == "completed", status.get("error")
rows = [r for r in run.metrics() if "loss" in r]
print(json.dumps({"rows": rows, "peak_mb": None, "status": status, "micro_batch": run.config()["micro_batch"]}))
"""


def workbench_sft(home: Path, steps: int, batch: int) -> dict:
    """The workbench's SFT job; its own metrics give per-step time and tokens."""
    env = {"WORKBENCH_HOME": str(home), "BENCH_DATA": str(SFT_FILE), "BENCH_MODEL": MODEL,
           "BENCH_STEPS": str(steps), "BENCH_BATCH": str(batch)}
    code = WORKBENCH_SFT
    result, _ = python(code, env=env)
    rows = result["rows"]
    # Step 1 pays for warm-up; time the steps after it from the log timestamps.
    timed = [r for r in rows if r["step"] >= 2]
    seconds = timed[-1]["time"] - rows[0]["time"]
    tokens = rows[-1]["num_tokens"] - rows[0]["num_tokens"]
    micro = result["micro_batch"]
    return {"tokens_per_s": tokens / seconds, "steps": len(timed), "seconds": seconds, "tokens": tokens,
            "rows_per_pass": micro}


TRL_DEFAULTS = r"""
import json, os, time, torch
from datasets import Dataset
from peft import LoraConfig
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer
from workbench.data import load_rows
from workbench.models import resolve_model, load_tokenizer
rows = [{"messages": r["messages"]} for r in load_rows(os.environ["BENCH_DATA"], task="sft")]
path = str(resolve_model(os.environ["BENCH_MODEL"]))
times, tokens = [], []
class Clock(TrainerCallback):
    def on_step_begin(self, args, state, control, **kw): self.t = time.perf_counter()
    def on_step_end(self, args, state, control, **kw): times.append(time.perf_counter() - self.t)
# TRL's documented defaults, plus only the change needed to run at all on a CPU (use_cpu=True).
args = SFTConfig(output_dir=os.environ["BENCH_OUT"], max_steps=int(os.environ["BENCH_STEPS"]), report_to="none",
                 use_cpu=True, save_strategy="no")
trainer = SFTTrainer(model=path, args=args, train_dataset=Dataset.from_list(rows),
                     processing_class=load_tokenizer(os.environ["BENCH_MODEL"]),
                     peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"),
                     callbacks=[Clock()])
collate = trainer.data_collator
seen = []
def counting(batch):
    out = collate(batch)
    seen.append(int(out["attention_mask"].sum()) if "attention_mask" in out else int(out["input_ids"].numel()))
    return out
trainer.data_collator = counting
trainer.train()
print(json.dumps({"times": times, "tokens": seen[: len(times)], "bf16": args.bf16,
                  "gradient_checkpointing": args.gradient_checkpointing, "batch": args.per_device_train_batch_size}))
"""


def trl_defaults_sft(steps: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        env = {"BENCH_DATA": str(SFT_FILE), "BENCH_MODEL": MODEL, "BENCH_STEPS": str(steps), "BENCH_OUT": out}
        result, peak = python(TRL_DEFAULTS, env=env, timeout=3000)
    times, tokens = result["times"], result["tokens"]
    # The first step pays for warm-up; with one step only, it is all there is.
    use = slice(1, None) if len(times) > 1 else slice(None)
    seconds, counted = sum(times[use]), sum(tokens[use])
    return {"tokens_per_s": counted / seconds, "steps": len(times[use]), "seconds": seconds, "tokens": counted,
            "bf16": result["bf16"], "gradient_checkpointing": result["gradient_checkpointing"],
            "batch": result["batch"], "peak_mb": peak}


STAGE_JOB = r"""
import json, os
from workbench.train import train
stage = os.environ["BENCH_STAGE"]
extra = {"name": "bench-" + stage, **json.loads(os.environ["BENCH_EXTRA"])}
run = train(stage, model=os.environ["BENCH_MODEL"], max_steps=int(os.environ["BENCH_STEPS"]), batch_size=4,
            max_length=256, save_steps=10**6, eval_steps=10**6, val_fraction=0.0, **extra)
print(json.dumps({"pid": run.raw_status()["pid"], "path": str(run.path)}))
"""


def stage_peak_rss(home: Path, stage: str, steps: int, extra: dict) -> dict:
    """Start a stage's job and watch its process's peak RSS until it ends."""
    env = {**os.environ, "WORKBENCH_HOME": str(home), "BENCH_STAGE": stage, "BENCH_MODEL": MODEL,
           "BENCH_STEPS": str(steps), "BENCH_EXTRA": json.dumps(extra)}
    out = subprocess.run([sys.executable, "-c", STAGE_JOB], capture_output=True, text=True, env=env, cwd=str(ROOT))
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    started = json.loads(out.stdout.strip().splitlines()[-1])
    watcher = PeakWatcher(started["pid"])
    watcher.thread.join()
    status = json.loads((Path(started["path"]) / "status.json").read_text())
    return {"stage": stage, "peak_mb": watcher.peak, "state": status["state"], "error": status.get("error")}


LOAD_DEFAULT = r"""
import json, time
start = time.perf_counter()
from workbench.models import load_causal_lm
model = load_causal_lm("smollm2-135m", for_training=False)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def wait_until_answers(url: str, process, start: float, timeout: float, accept=lambda body: True) -> float:
    """Seconds from `start` (a perf_counter time) until `url` answers 200 with a body `accept`
    takes; RuntimeError when `process` ends first or `timeout` seconds pass."""
    import urllib.request
    while time.perf_counter() - start < timeout and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and accept(response.read()):
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer")


def launch_until_ready(port: int = 7871, timeout: float = 180) -> float:
    """Seconds from `workbench launch` to the page answering with the app's HTML."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "workbench", "launch", "--port", str(port), "--no-browser"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT))
    try:
        return wait_until_answers(f"http://127.0.0.1:{port}/", process, start, timeout,
                                  accept=lambda body: b"gradio" in body.lower())
    finally:
        process.terminate()
        process.wait(timeout=30)


COMPARE_MEMORY = r"""
import json, os
from workbench.evaluate import Comparer
models = os.environ["BENCH_MODELS"].split(",")
comparer = Comparer(models)
prompt = [{"role": "user", "content": "What is the capital of France?"}]
answers = [comparer.generate(prompt, model=m, seed=0, max_new_tokens=16) for m in models]
print(json.dumps({"answers": [a.text for a in answers]}))
"""


GENERATION = r"""
import json, os, time, torch
from workbench.evaluate import Comparer
from workbench.models import load_causal_lm, load_tokenizer
from workbench.data.tokens import encode_prompt
prompt = [{"role": "user", "content": "Tell me about the sea and its tides."}]
n = int(os.environ["BENCH_TOKENS"])
tokenizer = load_tokenizer("smollm2-135m")
model = load_causal_lm("smollm2-135m", for_training=False)
ids = torch.tensor([encode_prompt(tokenizer, prompt)])
model.generate(ids, max_new_tokens=4, do_sample=False)
start = time.perf_counter()
out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
plain = (out.shape[1] - ids.shape[1]) / (time.perf_counter() - start)
del model
comparer = Comparer(["base"])
comparer.generate(prompt, model="base", temperature=0, max_new_tokens=4)
answer = comparer.generate(prompt, model="base", temperature=0, max_new_tokens=n)
print(json.dumps({"plain_tokens_per_s": plain, "compare_tokens_per_s": answer.tokens / answer.seconds,
                  "compare_tokens": answer.tokens}))
"""


def serve_speed(tokens: int, requests: int = 3, port: int = 7872, timeout: float = 300) -> dict:
    """`workbench serve --models base` asked through the openai client, as a user's program would:
    seconds until it answers /health, then per request (greedy, `tokens` at most) the latency and
    tokens/s of a whole answer, and the seconds to the first streamed token."""
    from openai import OpenAI
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--models", "base", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT))
    try:
        ready = wait_until_answers(f"http://127.0.0.1:{port}/health", process, start, timeout)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0)
        ask = dict(model="base", messages=[{"role": "user", "content": "Tell me about the sea and its tides."}],
                   temperature=0, max_tokens=tokens)
        client.chat.completions.create(**{**ask, "max_tokens": 4})  # warm-up
        latencies, rates = [], []
        for _ in range(requests):
            begin = time.perf_counter()
            reply = client.chat.completions.create(**ask)
            latencies.append(time.perf_counter() - begin)
            rates.append(reply.usage.completion_tokens / latencies[-1])
        begin = time.perf_counter()
        first = None
        for chunk in client.chat.completions.create(**ask, stream=True):
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - begin
        return {"ready_s": ready, "requests": requests, "max_tokens": tokens,
                "latency_s": sorted(latencies)[len(latencies) // 2], "tokens_per_s": sorted(rates)[len(rates) // 2],
                "first_token_s": first}
    finally:
        process.terminate()
        process.wait(timeout=30)


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a smoke run, not for quoting)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: trl,stages,compare,launch,generate,serve")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    steps = {"workbench": 4 if args.quick else 12, "trl": 1 if args.quick else 2, "stage": 2 if args.quick else 4}

    from workbench.models import prepare_default_model
    model_dir = prepare_default_model()
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                     "model": MODEL}

    import torch
    results["torch_threads"] = torch.get_num_threads()
    ceiling = matmul_ceiling()
    results["ceiling_gflops"] = ceiling / 1e9
    print(f"fp32 matmul ceiling: {ceiling / 1e9:.1f} GFLOP/s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(model_dir.parent, target_is_directory=True)

        ours = workbench_sft(home, steps["workbench"], batch=4)
        results["sft_workbench"] = ours
        print(f"workbench SFT: {ours['tokens_per_s']:.1f} tokens/s", flush=True)
        again = matmul_ceiling()
        if again > ceiling:
            ceiling = again
            results["ceiling_gflops"] = ceiling / 1e9
            print(f"fp32 matmul ceiling measured again: {ceiling / 1e9:.1f} GFLOP/s", flush=True)

        # FLOPs per token: mean packed context and the trained share, from the same rows.
        from workbench.data import load_rows
        from workbench.data.tokens import encode_row
        from workbench.models import load_tokenizer
        tokenizer = load_tokenizer(MODEL)
        encoded = [encode_row(tokenizer, r) for r in load_rows(SFT_FILE, task="sft")]
        lengths = [len(e["input_ids"]) for e in encoded]
        trained = sum(sum(e["assistant_masks"]) for e in encoded) / sum(lengths)
        context = sum(n * n for n in lengths) / sum(lengths) / 2  # mean attended positions per token
        shape = model_shape(model_dir)
        lora = 0  # counted from the trained adapter
        adapter = home / "runs" / "bench-sft" / "adapter" / "adapter_model.safetensors"
        if adapter.exists():
            from safetensors import safe_open
            with safe_open(str(adapter), "pt") as handle:
                lora = sum(handle.get_slice(k).get_shape()[0] * handle.get_slice(k).get_shape()[1] for k in handle.keys())
        per_token = flops_per_token(shape, context, trained, lora)
        ceiling_tps = ceiling / per_token
        results["flops_per_token"] = per_token
        results["ceiling_tokens_per_s"] = ceiling_tps
        results["trained_fraction"] = trained
        results["workbench_fraction_of_ceiling"] = ours["tokens_per_s"] / ceiling_tps
        print(f"ceiling for this run: {ceiling_tps:.1f} tokens/s ({per_token / 1e6:.0f} MFLOP/token); "
              f"workbench at {ours['tokens_per_s'] / ceiling_tps:.0%}", flush=True)
        # The same products at the size this run's passes have: rows per pass x mean row length.
        pass_tokens = int(ours["rows_per_pass"] * sum(lengths) / len(lengths))
        shape_rate = shape_matmul_rate(shape, pass_tokens)
        results["shape_matmul"] = {"tokens_per_pass": pass_tokens, "gflops": shape_rate / 1e9,
                                   "fraction_of_ceiling": shape_rate / ceiling}
        print(f"this model's matrix products at {pass_tokens} tokens a pass: {shape_rate / 1e9:.1f} GFLOP/s "
              f"({shape_rate / ceiling:.0%} of the ceiling)", flush=True)

        if "trl" not in skip:
            theirs = trl_defaults_sft(steps["trl"])
            results["sft_trl_defaults"] = theirs
            results["sft_speedup"] = ours["tokens_per_s"] / theirs["tokens_per_s"]
            print(f"TRL defaults SFT: {theirs['tokens_per_s']:.2f} tokens/s; workbench is "
                  f"{results['sft_speedup']:.1f}x", flush=True)

        if "stages" not in skip:
            preference = str(ROOT / "sample_data" / "preference.jsonl")
            prompts = str(ROOT / "sample_data" / "prompts.jsonl")
            memory = [stage_peak_rss(home, "sft", steps["stage"], {"data": str(SFT_FILE), "name": "mem-sft"})]
            memory.append(stage_peak_rss(home, "reward", steps["stage"], {"data": preference, "name": "mem-rm"}))
            memory.append(stage_peak_rss(home, "dpo", steps["stage"], {"data": preference, "from_run": "mem-sft",
                                                                          "name": "mem-dpo"}))
            from workbench.train.config import STAGE_CONFIGS
            if "ppo" in STAGE_CONFIGS:
                memory.append(stage_peak_rss(home, "ppo", 2, {"prompts": prompts, "from_run": "mem-sft",
                                                              "reward_model": "mem-rm", "name": "mem-ppo"}))
            results["stage_peak_rss_mb"] = memory
            for row in memory:
                print(f"peak RSS {row['stage']}: {row['peak_mb']:.0f} MB ({row['state']})", flush=True)

        if "compare" not in skip:
            env = {"WORKBENCH_HOME": str(home)}
            _, one = python(COMPARE_MEMORY, env={**env, "BENCH_MODELS": "base"})
            variants = "base,mem-sft,mem-dpo" if (home / "runs" / "mem-dpo").exists() else "base,bench-sft,bench-sft"
            _, three = python(COMPARE_MEMORY, env={**env, "BENCH_MODELS": variants})
            results["compare_peak_rss_mb"] = {"one": one, "three": three, "ratio": three / one, "variants": variants}
            print(f"compare peak RSS: one model {one:.0f} MB, three variants {three:.0f} MB ({three / one:.2f}x)",
                  flush=True)

    load, _ = python(LOAD_DEFAULT)
    results["default_model_load_s"] = load["seconds"]
    print(f"default model load from cache (with imports): {load['seconds']:.1f} s", flush=True)
    if "launch" not in skip:
        results["launch_ready_s"] = launch_until_ready()
        print(f"workbench launch until the page answers: {results['launch_ready_s']:.1f} s", flush=True)
    if "generate" not in skip:
        gen, _ = python(GENERATION, env={"BENCH_TOKENS": "48" if args.quick else "96"})
        results["generation"] = gen
        print(f"generation: compare path {gen['compare_tokens_per_s']:.1f} tokens/s, plain generate "
              f"{gen['plain_tokens_per_s']:.1f} tokens/s", flush=True)
    if "serve" not in skip:
        served = serve_speed(48 if args.quick else 96)
        results["serve"] = served
        if "generation" in results:
            served["of_compare_path"] = served["tokens_per_s"] / results["generation"]["compare_tokens_per_s"]
        print(f"workbench serve: {served['tokens_per_s']:.1f} tokens/s, latency {served['latency_s']:.2f} s for "
              f"{served['max_tokens']} tokens, first streamed token {served['first_token_s']:.2f} s", flush=True)

    print_table(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {out}")
    return 0


def print_table(r: dict) -> None:
    rows = [("machine", r["machine"], ""), ("fp32 matmul ceiling", f"{r['ceiling_gflops']:.1f} GFLOP/s", "")]
    ours = r["sft_workbench"]
    rows.append(("SFT LoRA, workbench", f"{ours['tokens_per_s']:.1f} tok/s", f"{ours['steps']} timed steps"))
    if "sft_trl_defaults" in r:
        t = r["sft_trl_defaults"]
        rows.append(("SFT LoRA, TRL defaults + use_cpu", f"{t['tokens_per_s']:.2f} tok/s",
                     f"bf16={t['bf16']}, checkpointing={t['gradient_checkpointing']}, batch {t['batch']}"))
        rows.append(("  speed-up (target >= 20x)", f"{r['sft_speedup']:.1f}x", ""))
    rows.append(("  ceiling for this run", f"{r['ceiling_tokens_per_s']:.1f} tok/s",
                 f"{r['flops_per_token'] / 1e6:.0f} MFLOP/token"))
    rows.append(("  workbench / ceiling (target >= 80%)", f"{r['workbench_fraction_of_ceiling']:.0%}", ""))
    if "shape_matmul" in r:
        m = r["shape_matmul"]
        rows.append(("  this model's matmuls alone / ceiling", f"{m['fraction_of_ceiling']:.0%}",
                     f"{m['gflops']:.1f} GFLOP/s at {m['tokens_per_pass']} tokens a pass"))
    for m in r.get("stage_peak_rss_mb", []):
        target = " (target < 2 GB)" if m["stage"] == "sft" else ""
        rows.append((f"peak RSS, {m['stage']} job{target}", f"{m['peak_mb']:.0f} MB", m["state"]))
    if "sft_trl_defaults" in r and r["sft_trl_defaults"].get("peak_mb"):
        rows.append(("peak RSS, TRL defaults SFT", f"{r['sft_trl_defaults']['peak_mb']:.0f} MB", ""))
    if "compare_peak_rss_mb" in r:
        c = r["compare_peak_rss_mb"]
        rows.append(("peak RSS, compare 1 model", f"{c['one']:.0f} MB", ""))
        rows.append(("peak RSS, compare 3 variants (target <= 1.3x)", f"{c['three']:.0f} MB", f"{c['ratio']:.2f}x"))
    rows.append(("default model load (cache, with imports)", f"{r['default_model_load_s']:.1f} s", ""))
    if "launch_ready_s" in r:
        rows.append(("workbench launch until the page answers", f"{r['launch_ready_s']:.1f} s", ""))
    if "generation" in r:
        g = r["generation"]
        rows.append(("generation, compare path", f"{g['compare_tokens_per_s']:.1f} tok/s", ""))
        rows.append(("generation, plain model.generate", f"{g['plain_tokens_per_s']:.1f} tok/s", ""))
    if "serve" in r:
        v = r["serve"]
        share = f"{v['of_compare_path']:.0%} of the compare path" if "of_compare_path" in v else ""
        rows.append(("workbench serve, openai client", f"{v['tokens_per_s']:.1f} tok/s", share))
        rows.append(("  latency, one answer", f"{v['latency_s']:.2f} s", f"{v['max_tokens']} tokens at most, median of {v['requests']}"))
        rows.append(("  first streamed token", f"{v['first_token_s']:.2f} s", ""))
        rows.append(("  start until /health answers", f"{v['ready_s']:.1f} s", ""))
    width = max(len(a) for a, _, _ in rows)
    print("\n" + "-" * (width + 40))
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")
    print("-" * (width + 40))


if __name__ == "__main__":
    raise SystemExit(main())
