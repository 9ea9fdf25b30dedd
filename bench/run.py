"""Speed and memory of the workbench on this machine, measured side by side in one run.

    make bench                      # or: .venv/bin/python bench/run.py [--quick] [--out FILE]

Prints a table, writes JSON (bench/results/latest.json) and ends with one line
`BENCH_SUMMARY {json}` of the headline figures. What it measures:
- the CPU kind (the flags that decide the precision) and the matrix ceiling in every precision
  the hardware offers: fp32, and bf16 where it runs in hardware;
- SFT LoRA throughput on the default model and the same rows, in each of those precisions side
  by side, each against the ceiling of the precision it trains in (from the FLOPs per token the
  run truly needs), and against TRL's SFTTrainer with its documented defaults plus only
  `use_cpu=True`;
- reward, DPO and PPO on the same settings as an SFT job: trained tokens/s (tokens of the
  rows a step reads, padding left out) and PPO's seconds a step, with each job's peak memory;
- generation: the workbench's decoding path against plain `model.generate` on the same model and
  settings, what the model's matrix products alone allow, a three-model comparison against one,
  and llama.cpp (llama-cpp-python, when installed) on a GGUF of the same weights as an anchor;
- time to ready: loading the default model from the cache, and `workbench launch` until the
  page answers;
- `workbench serve`: latency, time to the first streamed token and tokens/s of the OpenAI endpoint,
  asked through the `openai` client, beside the decoding path it serves from.
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

def matmul_ceiling(precision: str = "fp32", sizes=(1024, 2048, 3072), repeats: int = 10) -> float:
    """Best FLOP/s of a square matrix product in `precision` ("fp32" | "bf16") on all cores, over
    a few sizes.

    A shared machine's clock and neighbours move: one size measured once came out below what
    the model's own thinner products reached minutes later. So: the best of several sizes, and
    main() measures again after the SFT runs and keeps the higher figure.
    """
    import torch
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    best = 0.0
    for size in sizes:
        a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
        torch.mm(a, b)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * size ** 3 / (time.perf_counter() - start))
    return best


def shape_matmul_rate(shape: dict, tokens: int, precision: str = "fp32", repeats: int = 5) -> float:
    """Best FLOP/s in `precision` of this model's own linear layers on a pass of `tokens` tokens, forward
    ([tokens, in] @ [in, out]) and the activation gradient backward ([tokens, out] @ [out, in]).

    What the big square product reaches is not what these thin products can: this figure says
    how much of the gap to the ceiling is the model's shape rather than the training loop.
    """
    import torch
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    h, i, kv = shape["hidden"], shape["intermediate"], shape["kv_dim"]
    dims = [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]
    pairs = [(torch.randn(tokens, a, dtype=dtype), torch.randn(a, b, dtype=dtype)) for a, b in dims]
    pairs += [(torch.randn(tokens, b, dtype=dtype), torch.randn(b, a, dtype=dtype)) for a, b in dims]
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
            save_steps=10**6, name=os.environ["BENCH_NAME"], wait=True)
status = run.status()
assert status["state"] == "completed", status.get("error")
print(json.dumps({"rows": run.metrics(), "micro_batch": run.config()["micro_batch"]}))
"""


def trained_rate(rows: list[dict]) -> dict:
    """Trained tokens/s from a job's metrics rows: the tokens its steps read (TRL's cumulative
    `num_tokens`, padding left out) over the time between the first logged step and the last.
    Step 1 pays for warm-up (its row is the clock's start)."""
    logged = [r for r in rows if "num_tokens" in r]
    if len(logged) < 2:
        raise RuntimeError("too few logged steps to time: raise the steps")
    seconds = logged[-1]["time"] - logged[0]["time"]
    tokens = logged[-1]["num_tokens"] - logged[0]["num_tokens"]
    return {"tokens_per_s": tokens / seconds, "steps": logged[-1]["step"] - logged[0]["step"], "seconds": seconds,
            "tokens": tokens}


def workbench_sft(home: Path, steps: int, batch: int, precision: str) -> dict:
    """The workbench's SFT job in `precision`, set as a user sets it ($WORKBENCH_PRECISION)."""
    env = {"WORKBENCH_HOME": str(home), "BENCH_DATA": str(SFT_FILE), "BENCH_MODEL": MODEL,
           "BENCH_STEPS": str(steps), "BENCH_BATCH": str(batch), "BENCH_NAME": f"bench-sft-{precision}",
           "WORKBENCH_PRECISION": precision}
    result, _ = python(WORKBENCH_SFT, env=env)
    return {**trained_rate(result["rows"]), "rows_per_pass": result["micro_batch"], "precision": precision}


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


def stage_job(home: Path, stage: str, steps: int, extra: dict) -> dict:
    """Start a stage's job, watch its process's peak RSS until it ends, and time it from its
    metrics: trained tokens/s where the stage logs tokens, seconds a step (median) otherwise."""
    import statistics
    env = {**os.environ, "WORKBENCH_HOME": str(home), "BENCH_STAGE": stage, "BENCH_MODEL": MODEL,
           "BENCH_STEPS": str(steps), "BENCH_EXTRA": json.dumps(extra)}
    out = subprocess.run([sys.executable, "-c", STAGE_JOB], capture_output=True, text=True, env=env, cwd=str(ROOT))
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    started = json.loads(out.stdout.strip().splitlines()[-1])
    watcher = PeakWatcher(started["pid"])
    watcher.thread.join()
    folder = Path(started["path"])
    status = json.loads((folder / "status.json").read_text())
    result = {"stage": stage, "peak_mb": watcher.peak, "state": status["state"], "error": status.get("error")}
    from workbench.runs import Run
    rows = Run(folder).metrics()
    if any("num_tokens" in r for r in rows):
        result.update(trained_rate(rows))
        if "reference_logps_s" in status:
            # DPO computed its reference's log-probs before the first step: the user waits for
            # that too, so the rate a user sees spreads it over every step of the run.
            steps_run = max(r["step"] for r in rows)
            all_in = result["seconds"] / result["steps"] * steps_run + status["reference_logps_s"]
            result.update(step_tokens_per_s=result["tokens_per_s"], reference_logps_s=status["reference_logps_s"],
                          tokens_per_s=max(r["num_tokens"] for r in rows if "num_tokens" in r) / all_in)
    # PPO times each of its steps (rollout, scoring and update: "step_s"); the first pays for warm-up.
    times = [r["step_s"] for r in rows if "step_s" in r]
    if times:
        result["seconds_per_step"] = statistics.median(times[1:] or times)
    return result


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


COMPARE = r"""
import json, os, time
from workbench.evaluate import Comparer
models = os.environ["BENCH_MODELS"].split(",")
comparer = Comparer(models)
prompt = [{"role": "user", "content": "Tell me about the sea and its tides."}]
comparer.compare(prompt, seed=0, temperature=0, max_new_tokens=4)  # warm-up
start = time.perf_counter()
answers = comparer.compare(prompt, seed=0, temperature=0, max_new_tokens=int(os.environ["BENCH_TOKENS"]))
print(json.dumps({"seconds": time.perf_counter() - start, "tokens": [a.tokens for a in answers]}))
"""


def compare_run(home: Path, models: str, tokens: int) -> dict:
    """A comparison of `models` (greedy, one prompt) in its own process: wall time of the answers
    after a warm-up, their tokens, and the process's peak memory."""
    result, peak = python(COMPARE, env={"WORKBENCH_HOME": str(home), "BENCH_MODELS": models,
                                        "BENCH_TOKENS": str(tokens)})
    return {**result, "peak_mb": peak, "models": models}


GENERATION = r"""
import json, os, time, torch
from workbench.evaluate import Comparer
from workbench.models.sampling import generate, generation_config
prompt = [{"role": "user", "content": "Tell me about the sea and its tides."}]
n = int(os.environ["BENCH_TOKENS"])
comparer = Comparer(["base"])
tokenizer = comparer.tokenizer("base")
(model,) = comparer.base_models()
ids = torch.tensor([comparer.encode(prompt, model="base")])
config = generation_config(temperature=0, top_p=1.0, max_new_tokens=n, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=tokenizer.pad_token_id)
rates = {}
for _ in range(2):  # plain generate and the workbench's path, alternated; the better of two each
    with torch.no_grad():
        start = time.perf_counter()
        out = generate(model, config, input_ids=ids, attention_mask=torch.ones_like(ids))
        plain = (out.shape[1] - ids.shape[1]) / (time.perf_counter() - start)
    answer = comparer.generate(prompt, model="base", temperature=0, max_new_tokens=n)
    rates["plain"] = max(rates.get("plain", 0), plain)
    rates["workbench"] = max(rates.get("workbench", 0), answer.tokens / answer.seconds)
# What the model's matrix products alone allow at one row a pass: every linear layer (LM head
# included) once, on its own weights, as a decoding step runs them.
linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
x = {m.in_features: torch.randn(1, m.in_features, dtype=m.weight.dtype) for m in linears}
with torch.no_grad():
    for _ in range(2):
        for m in linears:
            m(x[m.in_features])
    start = time.perf_counter()
    for _ in range(5):
        for m in linears:
            m(x[m.in_features])
    floor = 5 / (time.perf_counter() - start)
weights = sum(m.weight.numel() * m.weight.element_size() for m in linears)
print(json.dumps({"plain_tokens_per_s": rates["plain"], "workbench_tokens_per_s": rates["workbench"],
                  "tokens": answer.tokens, "matmul_floor_tokens_per_s": floor, "weight_mb": weights / 1e6,
                  "dtype": str(model.dtype).replace("torch.", "")}))
"""


ANCHOR = r"""
import json, os, time
from llama_cpp import Llama
llm = Llama(model_path=os.environ["BENCH_GGUF"], n_ctx=512, n_threads=os.cpu_count(), verbose=False, seed=0)
messages = [{"role": "user", "content": "Tell me about the sea and its tides."}]
llm.create_chat_completion(messages=messages, max_tokens=4, temperature=0)
start = time.perf_counter()
reply = llm.create_chat_completion(messages=messages, max_tokens=int(os.environ["BENCH_TOKENS"]), temperature=0)
tokens = reply["usage"]["completion_tokens"]
print(json.dumps({"tokens_per_s": tokens / (time.perf_counter() - start), "tokens": tokens}))
"""


def llama_cpp_anchor(tokens: int) -> dict:
    """llama.cpp's one stream on an f16 GGUF of the default model (the workbench's own GGUF export
    of the same weights), when llama-cpp-python is installed; else why not."""
    import importlib.util
    if importlib.util.find_spec("llama_cpp") is None:
        return {"skipped": "llama-cpp-python is not installed (`.venv/bin/pip install llama-cpp-python "
                           "diskcache` builds it from source, about 6 minutes on 2 cores here)"}
    with tempfile.TemporaryDirectory() as tmp:
        gguf = Path(tmp) / "base-f16.gguf"
        python("from workbench.evaluate.gguf import write_gguf\n"
               "from workbench.models import load_causal_lm, load_tokenizer, detect_hardware\n"
               f"write_gguf(load_causal_lm({MODEL!r}, for_training=False, hardware=detect_hardware('fp32')), "
               f"load_tokenizer({MODEL!r}), {str(gguf)!r}, gguf_type='f16')\nprint('{{}}')")
        result, _ = python(ANCHOR, env={"BENCH_GGUF": str(gguf), "BENCH_TOKENS": str(tokens)})
    return {**result, "gguf": "f16"}


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
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to skip: trl,stages,compare,anchor,launch,generate,serve")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    steps = {"workbench": 4 if args.quick else 12, "trl": 1 if args.quick else 2, "stage": 3 if args.quick else 6}
    tokens = 48 if args.quick else 96
    began = time.perf_counter()

    from workbench.models import detect_hardware, prepare_default_model
    from workbench.models.hardware import cpu_kind
    model_dir = prepare_default_model()
    hardware = detect_hardware()
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                     "cpu_kind": cpu_kind(), "model": MODEL, "train_precision": hardware.precision,
                     "precision_reason": hardware.reason}
    print(f"CPU: {results['cpu_kind']}; the workbench trains in {hardware.precision} here", flush=True)

    import torch
    results["torch_threads"] = torch.get_num_threads()
    # Every precision the hardware offers; bf16 emulated in software is not a ceiling anyone trains at.
    precisions = ["fp32", "bf16"] if hardware.bf16_native else ["fp32"]
    ceilings = {p: matmul_ceiling(p) for p in precisions}
    for p, value in ceilings.items():
        print(f"{p} matmul ceiling: {value / 1e9:.1f} GFLOP/s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(model_dir.parent, target_is_directory=True)

        # SFT in each precision, the machine's choice first; both are LoRA on the same rows.
        ordered = [hardware.precision] + [p for p in precisions if p != hardware.precision]
        sft = {p: workbench_sft(home, steps["workbench"], 4, p) for p in ordered}
        for p, row in sft.items():
            print(f"workbench SFT in {p}: {row['tokens_per_s']:.1f} tokens/s", flush=True)
        for p in precisions:  # a shared machine's clock moves: keep the better of two readings
            ceilings[p] = max(ceilings[p], matmul_ceiling(p))
        results["ceiling_gflops"] = {p: v / 1e9 for p, v in ceilings.items()}

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
        adapter = home / "runs" / f"bench-sft-{hardware.precision}" / "adapter" / "adapter_model.safetensors"
        if adapter.exists():
            from safetensors import safe_open
            with safe_open(str(adapter), "pt") as handle:
                lora = sum(handle.get_slice(k).get_shape()[0] * handle.get_slice(k).get_shape()[1] for k in handle.keys())
        per_token = flops_per_token(shape, context, trained, lora)
        results["flops_per_token"] = per_token
        results["trained_fraction"] = trained
        pass_tokens = int(sft[hardware.precision]["rows_per_pass"] * sum(lengths) / len(lengths))
        for p, row in sft.items():
            row["ceiling_tokens_per_s"] = ceilings[p] / per_token
            row["fraction_of_ceiling"] = row["tokens_per_s"] / row["ceiling_tokens_per_s"]
            # The model's own products at the size this run's passes have: rows a pass x mean row length.
            rate = shape_matmul_rate(shape, pass_tokens, p)
            row["shape_matmul"] = {"tokens_per_pass": pass_tokens, "gflops": rate / 1e9,
                                   "fraction_of_ceiling": rate / ceilings[p]}
            print(f"SFT in {p}: {row['fraction_of_ceiling']:.0%} of its ceiling ({row['ceiling_tokens_per_s']:.0f} "
                  f"tokens/s at {per_token / 1e6:.0f} MFLOP/token); the model's matrix products alone reach "
                  f"{rate / ceilings[p]:.0%}", flush=True)
        results["sft_workbench"] = sft
        fastest = max(sft, key=lambda p: sft[p]["tokens_per_s"])
        results["measured_faster_precision"] = fastest
        results["precision_rule_agrees"] = fastest == hardware.precision

        if "trl" not in skip:
            theirs = trl_defaults_sft(steps["trl"])
            results["sft_trl_defaults"] = theirs
            results["sft_speedup"] = sft[hardware.precision]["tokens_per_s"] / theirs["tokens_per_s"]
            print(f"TRL defaults SFT: {theirs['tokens_per_s']:.2f} tokens/s; workbench is "
                  f"{results['sft_speedup']:.1f}x", flush=True)

        if "stages" not in skip:
            preference = str(ROOT / "sample_data" / "preference.jsonl")
            prompts = str(ROOT / "sample_data" / "prompts.jsonl")
            # One epoch over the first rows, 4 a step: a run reads each of its rows, as a user's does.
            rows = {"max_rows": 4 * steps["stage"]}
            jobs = [stage_job(home, "sft", steps["stage"], {"data": str(SFT_FILE), "name": "mem-sft", **rows})]
            jobs.append(stage_job(home, "reward", steps["stage"], {"data": preference, "name": "mem-rm", **rows}))
            jobs.append(stage_job(home, "dpo", steps["stage"], {"data": preference, "from_run": "mem-sft",
                                                                "name": "mem-dpo", **rows}))
            jobs.append(stage_job(home, "ppo", 3 if args.quick else 4,
                                  {"prompts": prompts, "from_run": "mem-sft", "reward_model": "mem-rm",
                                   "name": "mem-ppo"}))
            results["stage_jobs"] = jobs
            for row in jobs:
                rate = f"{row['tokens_per_s']:.1f} trained tokens/s" if "tokens_per_s" in row else \
                    f"{row.get('seconds_per_step', float('nan')):.1f} s a step"
                print(f"{row['stage']} job: {rate}, peak RSS {row['peak_mb']:.0f} MB ({row['state']})", flush=True)

        if "compare" not in skip:
            variants = "base,mem-sft,mem-dpo" if (home / "runs" / "mem-dpo").exists() else None
            if variants:
                one = compare_run(home, "mem-sft", tokens)
                three = compare_run(home, variants, tokens)
                results["compare"] = {"one": one, "three": three, "time_ratio": three["seconds"] / one["seconds"],
                                      "memory_ratio": three["peak_mb"] / one["peak_mb"]}
                print(f"compare: one model {one['seconds']:.1f} s, three {three['seconds']:.1f} s "
                      f"({results['compare']['time_ratio']:.2f}x); peak RSS {one['peak_mb']:.0f} MB and "
                      f"{three['peak_mb']:.0f} MB", flush=True)

    load, _ = python(LOAD_DEFAULT)
    results["default_model_load_s"] = load["seconds"]
    print(f"default model load from cache (with imports): {load['seconds']:.1f} s", flush=True)
    if "launch" not in skip:
        results["launch_ready_s"] = launch_until_ready()
        print(f"workbench launch until the page answers: {results['launch_ready_s']:.1f} s", flush=True)
    if "generate" not in skip:
        gen, _ = python(GENERATION, env={"BENCH_TOKENS": str(tokens)})
        gen["vs_plain"] = gen["workbench_tokens_per_s"] / gen["plain_tokens_per_s"]
        results["generation"] = gen
        print(f"generation: workbench {gen['workbench_tokens_per_s']:.1f} tokens/s, plain generate "
              f"{gen['plain_tokens_per_s']:.1f} ({gen['vs_plain']:.2f}x); the matrix products alone allow "
              f"{gen['matmul_floor_tokens_per_s']:.1f}", flush=True)
    if "anchor" not in skip:
        anchor = llama_cpp_anchor(tokens)
        results["llama_cpp"] = anchor
        if "tokens_per_s" in anchor and "generation" in results:
            anchor["workbench_vs_llama_cpp"] = results["generation"]["workbench_tokens_per_s"] / anchor["tokens_per_s"]
        print(f"llama.cpp anchor: {anchor.get('skipped') or str(round(anchor['tokens_per_s'], 1)) + ' tokens/s'}",
              flush=True)
    if "serve" not in skip:
        served = serve_speed(tokens)
        results["serve"] = served
        if "generation" in results:
            served["of_workbench_path"] = served["tokens_per_s"] / results["generation"]["workbench_tokens_per_s"]
        print(f"workbench serve: {served['tokens_per_s']:.1f} tokens/s, latency {served['latency_s']:.2f} s for "
              f"{served['max_tokens']} tokens, first streamed token {served['first_token_s']:.2f} s", flush=True)

    results["bench_minutes"] = (time.perf_counter() - began) / 60
    print_table(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten: {out}")
    print("BENCH_SUMMARY " + json.dumps(summary(results)))
    return 0


def summary(r: dict) -> dict:
    """The headline figures, one flat dict (None where a part was skipped)."""
    own = r["sft_workbench"][r["train_precision"]]
    jobs = {row["stage"]: row for row in r.get("stage_jobs", [])}
    gen = r.get("generation", {})
    pick = lambda value, digits=3: None if value is None else round(value, digits)
    return {
        "cpu_kind": r["cpu_kind"],
        "train_precision": r["train_precision"],
        "ceiling_gflops": pick(r["ceiling_gflops"][r["train_precision"]], 1),
        "sft_tokens_per_s": pick(own["tokens_per_s"], 1),
        "sft_vs_trl_defaults": pick(r.get("sft_speedup"), 2),
        "sft_fraction_of_ceiling": pick(own["fraction_of_ceiling"]),
        "dpo_tokens_per_s": pick(jobs.get("dpo", {}).get("tokens_per_s"), 1),
        "reward_tokens_per_s": pick(jobs.get("reward", {}).get("tokens_per_s"), 1),
        "generation_tokens_per_s": pick(gen.get("workbench_tokens_per_s"), 1),
        "generation_vs_plain_generate": pick(gen.get("vs_plain"), 2),
        "compare3_vs_compare1_time": pick(r.get("compare", {}).get("time_ratio"), 2),
        "ppo_seconds_per_step": pick(jobs.get("ppo", {}).get("seconds_per_step"), 2),
    }


def print_table(r: dict) -> None:
    rows = [("machine", r["machine"], ""), ("CPU kind", "", r["cpu_kind"]),
            ("precision the workbench trains in", r["train_precision"], "chosen from the CPU flags")]
    for p, value in r["ceiling_gflops"].items():
        rows.append((f"{p} matmul ceiling", f"{value:.1f} GFLOP/s", ""))
    for p, ours in r["sft_workbench"].items():
        rows.append((f"SFT LoRA, workbench, {p}", f"{ours['tokens_per_s']:.1f} tok/s",
                     f"{ours['steps']} timed steps"))
        rows.append(("  of its precision's ceiling (target >= 60%)", f"{ours['fraction_of_ceiling']:.0%}",
                     f"ceiling {ours['ceiling_tokens_per_s']:.0f} tok/s at {r['flops_per_token'] / 1e6:.0f} MFLOP/token"))
        m = ours["shape_matmul"]
        rows.append(("  this model's matmuls alone / ceiling", f"{m['fraction_of_ceiling']:.0%}",
                     f"{m['gflops']:.1f} GFLOP/s at {m['tokens_per_pass']} tokens a pass"))
    if len(r["sft_workbench"]) > 1:
        rows.append(("  faster precision, measured", r["measured_faster_precision"],
                     "agrees with the flag rule" if r["precision_rule_agrees"] else "DISAGREES with the flag rule"))
    if "sft_trl_defaults" in r:
        t = r["sft_trl_defaults"]
        rows.append(("SFT LoRA, TRL defaults + use_cpu", f"{t['tokens_per_s']:.2f} tok/s",
                     f"bf16={t['bf16']}, checkpointing={t['gradient_checkpointing']}, batch {t['batch']}"))
        rows.append(("  workbench speed-up (target >= 3x)", f"{r['sft_speedup']:.1f}x", ""))
    jobs = {row["stage"]: row for row in r.get("stage_jobs", [])}
    sft_rate = jobs.get("sft", {}).get("tokens_per_s")
    for stage in ("sft", "reward", "dpo"):
        if stage in jobs and "tokens_per_s" in jobs[stage]:
            job = jobs[stage]
            share = f"{job['tokens_per_s'] / sft_rate:.0%} of SFT's" if sft_rate and stage != "sft" else \
                "batch 4, max_length 256"
            target = " (target >= 50% of SFT)" if stage != "sft" else ""
            rows.append((f"{stage} job, trained tokens/s{target}", f"{job['tokens_per_s']:.1f} tok/s", share))
            if "reference_logps_s" in job:
                rows.append(("  of which: the reference's log-probs, once", f"{job['reference_logps_s']:.1f} s",
                             f"then {job['step_tokens_per_s']:.1f} tok/s a step"))
    if "ppo" in jobs:
        rows.append(("ppo job, seconds a step", f"{jobs['ppo'].get('seconds_per_step', float('nan')):.1f} s",
                     "median; rollouts, scoring and the update"))
    for stage, job in jobs.items():
        target = " (target < 2 GB)" if stage == "sft" else ""
        rows.append((f"peak RSS, {stage} job{target}", f"{job['peak_mb']:.0f} MB", job["state"]))
    if "sft_trl_defaults" in r and r["sft_trl_defaults"].get("peak_mb"):
        rows.append(("peak RSS, TRL defaults SFT", f"{r['sft_trl_defaults']['peak_mb']:.0f} MB", ""))
    if "generation" in r:
        g = r["generation"]
        rows.append((f"generation, workbench, one stream ({g['dtype']})", f"{g['workbench_tokens_per_s']:.1f} tok/s",
                     f"{g['tokens']} tokens, greedy"))
        rows.append(("generation, plain model.generate", f"{g['plain_tokens_per_s']:.1f} tok/s", ""))
        rows.append(("  workbench / plain (target >= 3x)", f"{g['vs_plain']:.2f}x", ""))
        rows.append(("  the matrix products alone allow", f"{g['matmul_floor_tokens_per_s']:.1f} tok/s",
                     f"every linear layer once at one row: {g['weight_mb']:.0f} MB of weights"))
    if "llama_cpp" in r:
        a = r["llama_cpp"]
        if "tokens_per_s" in a:
            rows.append(("llama.cpp, one stream, f16 GGUF", f"{a['tokens_per_s']:.1f} tok/s",
                         f"workbench at {a['workbench_vs_llama_cpp']:.2f}x of it" if "workbench_vs_llama_cpp" in a else ""))
        else:
            rows.append(("llama.cpp anchor", "skipped", a["skipped"]))
    if "compare" in r:
        c = r["compare"]
        rows.append(("compare, one model", f"{c['one']['seconds']:.2f} s", f"tokens {c['one']['tokens']}"))
        rows.append(("compare, three models (target <= 1.5x)", f"{c['three']['seconds']:.2f} s",
                     f"{c['time_ratio']:.2f}x; tokens {c['three']['tokens']}"))
        rows.append(("peak RSS, compare 1 model", f"{c['one']['peak_mb']:.0f} MB", ""))
        rows.append(("peak RSS, compare 3 variants (target <= 1.3x)", f"{c['three']['peak_mb']:.0f} MB",
                     f"{c['memory_ratio']:.2f}x"))
    rows.append(("default model load (cache, with imports)", f"{r['default_model_load_s']:.1f} s", ""))
    if "launch_ready_s" in r:
        rows.append(("workbench launch until the page answers", f"{r['launch_ready_s']:.1f} s", ""))
    if "serve" in r:
        v = r["serve"]
        share = f"{v['of_workbench_path']:.0%} of the workbench path" if "of_workbench_path" in v else ""
        rows.append(("workbench serve, openai client", f"{v['tokens_per_s']:.1f} tok/s", share))
        rows.append(("  latency, one answer", f"{v['latency_s']:.2f} s", f"{v['max_tokens']} tokens at most, median of {v['requests']}"))
        rows.append(("  first streamed token", f"{v['first_token_s']:.2f} s", ""))
        rows.append(("  start until /health answers", f"{v['ready_s']:.1f} s", ""))
    rows.append(("this benchmark's run", f"{r['bench_minutes']:.1f} min", "target < 20 min"))
    width = max(len(a) for a, _, _ in rows)
    print("\n" + "-" * (width + 40))
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")
    print("-" * (width + 40))


if __name__ == "__main__":
    raise SystemExit(main())
