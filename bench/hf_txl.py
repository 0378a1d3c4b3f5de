"""Transformer-XL training throughput of PyTorch (Hugging Face transformers' TransfoXLLMHeadModel,
which exists only in transformers < 5) on random tokens, the shapes examples/txl_throughput.rs
is given: Adam, gradient clipping at 0.25, memory carried across segments, one JSON line out.

Matched to harness: post-LayerNorm, u and v shared by all layers (untie_r=False), a plain softmax
(no cutoffs, div_val 1) tied to the input embedding, no clamp_len, dropatt 0.
"""
import argparse, json, time

import torch
import transformers
from transformers import TransfoXLConfig, TransfoXLLMHeadModel

p = argparse.ArgumentParser()
for name, default in [("n-layer", 12), ("d-model", 512), ("n-head", 8), ("d-head", 64),
                      ("d-inner", 2048), ("n-token", 204), ("tgt-len", 512), ("mem-len", 512),
                      ("batch-size", 22), ("steps", 10), ("warmup", 2), ("threads", 2)]:
    p.add_argument("--" + name, type=int, default=default)
p.add_argument("--dropout", type=float, default=0.1)
p.add_argument("--device", default="cpu")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)
device = torch.device("cuda" if a.device.startswith("cuda") else "cpu")
cfg = TransfoXLConfig(
    vocab_size=a.n_token, cutoffs=[], div_val=1, tie_projs=[False], d_model=a.d_model,
    d_embed=a.d_model, n_head=a.n_head, d_head=a.d_head, d_inner=a.d_inner, n_layer=a.n_layer,
    mem_len=a.mem_len, clamp_len=-1, same_length=False, pre_lnorm=False, untie_r=False,
    dropout=a.dropout, dropatt=0.0, adaptive=False, tie_word_embeddings=True,
)
model = TransfoXLLMHeadModel(cfg).to(device).train()
opt = torch.optim.Adam(model.parameters(), lr=2.5e-4)
# Segments of tgt_len tokens, as harness runs: the model shifts the labels itself, so it predicts
# tgt_len - 1 of them, but every layer computes the same tgt_len positions (and memory) as harness.
data = torch.randint(a.n_token, (a.batch_size, a.tgt_len), device=device)
mems = None
seconds = 0.0
for i in range(a.warmup + a.steps):
    t0 = time.perf_counter()
    opt.zero_grad()
    out = model(input_ids=data, labels=data, mems=mems)
    mems = out.mems
    loss = out.losses.mean() if out.loss is None else out.loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
    opt.step()
    loss.item()
    if device.type == "cuda":
        torch.cuda.synchronize()
    if i >= a.warmup:
        seconds += time.perf_counter() - t0
n_params = sum(t.numel() for t in model.parameters())
print(json.dumps({
    "implementation": f"transformers {transformers.__version__} TransfoXLLMHeadModel (torch {torch.__version__})",
    "device": str(device), "threads": torch.get_num_threads(), "n_layer": a.n_layer,
    "d_model": a.d_model, "tgt_len": a.tgt_len, "mem_len": a.mem_len, "batch_size": a.batch_size,
    "warmup_steps": a.warmup, "steps": a.steps, "params_total": n_params, "seconds": seconds,
    "tokens_per_s": a.steps * a.batch_size * a.tgt_len / seconds,
    "ms_per_step": 1000 * seconds / a.steps,
    "peak_device_bytes": torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
}))
