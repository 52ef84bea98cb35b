#!/usr/bin/env python3
"""Writes validation/trtllm-perf-overview.toml: TensorRT-LLM's published max-throughput table
(docs/source/performance/perf-overview.md @ 00f37686) as bwsim serving points.

Each row ran `trtllm-bench throughput` without --max_batch_size / --max_num_tokens, so
trtllm-bench chose them (tensorrt_llm/bench/build/tuning.py, calc_engine_setting and
finetune_setting; tensorrt_llm/bench/benchmark/utils/general.py). This script re-derives them
the same way, described here in our words:

  weights_gib  = stored checkpoint elements x bytes per element (NVFP4 0.5, FP8 1) / 2^30
                 (the element count of the safetensors headers: NVFP4 weights are stored two to
                 a byte, so they count half, plus one FP8 scale per 16 and the BF16 embedding
                 and lm_head)
  free_gib     = device GiB x GPUs - weights_gib    (device GiB: the configured HBM capacity)
  requests     = free_gib x 0.95 / (KV bytes per token, all GPUs / 2^30 x (ISL + OSL))
  max_batch    = requests (at most 4096) rounded up: below 256 to 32s (at least 64), below 1024
                 to 128s, else to 256s
  max_tokens   = max_batch x (1 + ISL / OSL) (at most 32768) rounded up: below 4096 to 256s (at
                 least 2048), below 8192 to 512s, else to 1024s; then at least ISL + max_batch
                 (chunked prefill off, PR #5625)
  graph sizes  = the llm_options.yml list up to min(max_batch, max_tokens), the first size
                 beyond it replaced by that limit (model_engine._filter_cuda_graph_batch_sizes)

Run from the repository root: python3 validation/tools/trtllm_perf_overview.py
"""
import math
import os

URL = ("https://github.com/NVIDIA/TensorRT-LLM/blob/main/docs/source/performance/perf-overview.md "
       "(stored commit 00f37686aa854010d68bcbd0f4ab000221541ca6)")
GRAPHS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096, 8192]
# Requests per ISL/OSL pair ($num_requests table of the same page).
REQUESTS = {(128, 128): 30000, (128, 2048): 3000, (128, 4096): 1500, (1000, 2000): 1500,
            (2048, 128): 3000, (2048, 2048): 1500, (5000, 500): 1500, (1000, 1000): 3000,
            (500, 2000): 3000, (20000, 2000): 1000}
HBM_BYTES = {"b200": 180e9, "gb200": 186e9, "h200": 141e9, "h100": 80e9, "rtx-pro-6000": 96e9}
GPU_NAME = {"b200": "B200", "gb200": "GB200 (NVL72)", "h200": "H200 SXM", "h100": "H100 SXM",
            "rtx-pro-6000": "RTX PRO 6000 Blackwell Server Edition"}

# name: (bwsim model, layers, kv heads, head dim, linear params, BF16 embedding + lm_head params)
MODELS = {
    "llama-3.3-70b": ("llama-3.1-70b", 80, 8, 128, 80 * 855_638_016, 2 * 128256 * 8192),
    "llama-3.1-8b": ("llama-3.1-8b", 32, 8, 128, 32 * 218_103_808, 2 * 128256 * 4096),
}


def stored_elements(model, fmt):
    _, _, _, _, linear, bf16 = MODELS[model]
    if fmt == "nvfp4":
        return linear / 2 + linear / 16 + bf16
    return linear + bf16


def round_up(x, rungs, least):
    """x rounded up to the step of the first (below, step) rung it lies below, and at least `least`."""
    step = next(step for below, step in rungs if x < below)
    return max(least, step * math.ceil(x / step))


def limits(model, fmt, hw, tp, isl, osl):
    _, layers, kv_heads, head_dim, _, _ = MODELS[model]
    per_elem = 0.5 if fmt == "nvfp4" else 1.0
    weights_gib = stored_elements(model, fmt) * per_elem / 2**30
    free_gib = HBM_BYTES[hw] / 2**30 * tp - weights_gib
    kv_gib_per_token = 2 * layers * max(tp, kv_heads) * head_dim * 1.0 / 2**30  # FP8 KV
    requests = free_gib * 0.95 / (kv_gib_per_token * (isl + osl))
    bs = min(requests, 4096)
    tokens = min(bs * (1 + isl / osl), 32768)
    max_bs = round_up(bs, [(256, 32), (1024, 128), (math.inf, 256)], 64)
    max_tokens = max(round_up(tokens, [(4096, 256), (8192, 512), (math.inf, 1024)], 2048), isl + max_bs)
    cap = min(max_bs, max_tokens)
    graphs = [g for g in GRAPHS if g <= cap]
    if graphs[-1] < cap and any(g > cap for g in GRAPHS):
        graphs.append(cap)
    return max_bs, max_tokens, graphs


# (table, model, format, checkpoint, [(hw, tp, column)], {(isl, osl): [values by column]})
TABLES = [
    ("Llama 3.3 70B", "llama-3.3-70b", {"b200": "nvfp4", "gb200": "nvfp4", "h200": "fp8", "h100": "fp8"},
     [("b200", 1, "B200 TP1 FP4"), ("gb200", 1, "GB200 TP1 FP4"), ("h200", 1, "H200 TP1 FP8"),
      ("h100", 2, "H100 TP2 FP8")],
     "| Sequence Length (ISL/OSL) | B200<br/>TP1 (FP4) | GB200<br/>TP1 (FP4) | H200<br/>TP1 (FP8) | H100<br/>TP2 (FP8) |",
     {(128, 128): "| 128/128 | 11,147 | 12,189 | 3,803 | 6,378 |",
      (1000, 1000): "| 1000/1000 | 7,007 | 7,326 | 2,909 | 4,205 |",
      (2048, 128): "| 2048/128 | 1,339 | 1,450 | 442 | 762 |",
      (5000, 500): "| 5000/500 | 1,459 | 1,602 | 566 | 898 |",
      (20000, 2000): "| 20000/2000 | 665 | 755 | 283 | 437 |"}),
    ("Llama 3.1 8B", "llama-3.1-8b", {"h200": "fp8", "h100": "fp8"},
     [("h200", 1, "H200 TP1 FP8"), ("h100", 1, "H100 TP1 FP8")],
     "| Sequence Length (ISL/OSL) | H200<br/>TP1 (FP8) | H100<br/>TP1 (FP8) |",
     {(128, 128): "| 128/128 | 27,911 | 28,312 |",
      (1000, 1000): "| 1000/1000 | 17,744 | 15,220 |",
      (2048, 2048): "| 2048/2048 | 12,194 | 9,305 |",
      (20000, 2000): "| 20000/2000 | 1,804 | 1,351 |"}),
    ("Llama 3.3 70B, RTX 6000 Pro Blackwell Server Edition", "llama-3.3-70b", {"rtx-pro-6000": "nvfp4"},
     [("rtx-pro-6000", 1, "1 GPUs TP1,PP1 FP4")],
     "| Sequence Length (ISL/OSL) | **1 GPUs**<br/>TP1,PP1 (FP4) | **2 GPUs**<br/>TP1,PP2 (FP4) | ... |",
     {(128, 128): "| 128/128 | 3,264 | 6,172 | 9,641 | 11,881 |",
      (1000, 1000): "| 1000/1000 | 1,787 | 3,707 | 5,961 | 8,166 |",
      (2048, 128): "| 2048/128 | 393 | 813 | 1,511 | 2,495 |"}),
]


def main():
    out = []
    out.append("# Generated by validation/tools/trtllm_perf_overview.py: edit that, not this.\n")
    out.append("[source]")
    out.append('title = "TensorRT-LLM performance overview: trtllm-bench maximum output throughput '
               '(PyTorch backend, v1.0 era)"')
    out.append(f'url = "{URL}"')
    out.append('library = "TensorRT-LLM v1.0-era, PyTorch backend, trtllm-bench throughput"')
    out.append('conditions = "offline max load: every request queued at once; synthetic uniform ISL/OSL '
               '(token-norm-dist, stdev 0); --kv_cache_free_gpu_mem_fraction 0.95 in many cases; '
               'CUDA graphs with padding at 1..8192"')
    out.append('notes = "Total Output Throughput (tokens/sec): output tokens over the time from the first '
               'request start to the last request end (tensorrt_llm/bench/dataclasses/reporting.py). '
               'Llama 3.3 70B runs as bwsim\'s llama-3.1-70b (the same architecture). max_num_seqs and '
               'max_num_batched_tokens are what trtllm-bench derived for each row (see the tool). '
               'The scenario is validation/scenarios/trtllm-bench.toml."')
    for table, model, fmts, cols, header, rows in TABLES:
        bw_model = MODELS[model][0]
        for (isl, osl), quote in rows.items():
            values = [v.strip() for v in quote.strip("|").split("|")[1:]]
            for ci, (hw, tp, col) in enumerate(cols):
                fmt = fmts[hw]
                n = REQUESTS[(isl, osl)]
                max_bs, max_tokens, graphs = limits(model, fmt, hw, tp, isl, osl)
                value = values[ci].replace(",", "")
                sets = [f"tp={tp}", f'quantization.weights="{"nvfp4" if fmt == "nvfp4" else "fp8_e4m3"}"',
                        f"traffic.prompt={isl}", f"traffic.output={osl}", f"traffic.users={n}",
                        f"traffic.requests={n}", f"scheduler.max_num_seqs={max_bs}",
                        f"scheduler.max_num_batched_tokens={max_tokens}",
                        "scheduler.cuda_graph_sizes=[" + ", ".join(str(g) for g in graphs) + "]"]
                out.append("")
                out.append("[[point]]")
                out.append(f'id = "trtllm-{hw}-{model}-{fmt}-tp{tp}-{isl}-{osl}"')
                out.append('kind = "serving"')
                out.append(f'hw = "{hw}"')
                out.append(f'gpu = "{GPU_NAME[hw]}"')
                out.append('scenario = "scenarios/trtllm-bench.toml"')
                out.append(f'model = "{bw_model}"')
                out.append("set = [" + ", ".join('"' + s.replace('"', '\\"') + '"' for s in sets) + "]")
                out.append(f'measured = "{value} tokens/s"')
                out.append(f'conditions = "{n} requests of {isl} in / {osl} out; trtllm-bench limits '
                           f'(derived): max_batch_size {max_bs}, max_num_tokens {max_tokens}"')
                out.append(f'locator = "\'{table}\' table, ISL/OSL {isl}/{osl}, column {col}"')
                out.append(f'quote = "{quote}"')
    path = os.path.join(os.path.dirname(__file__), "..", "trtllm-perf-overview.toml")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
