"""Fine-tuning throughput of Hugging Face transformers' BertForSequenceClassification on the same
fixed-shape synthetic batches as `harness bench finetune` (same checkpoint, batch, length,
threads, AdamW + grad clipping, dropout on). Prints one JSON line."""
import argparse, json, os, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"],
                    help="as harness' train.precision; default fp32 on the CPU, tf32 on CUDA")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from transformers import BertForSequenceClassification
    torch.set_num_threads(a.threads)
    cuda = a.device.startswith("cuda")
    precision = a.precision or ("tf32" if cuda else "fp32")
    if precision == "tf32" and not cuda:
        precision = "fp32"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
    autocast_device = "cuda" if cuda else "cpu"
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(a.model, num_labels=2).to(a.device)
    model.train()
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=2e-5, eps=1e-8)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 30000, (a.batch_size, a.max_len), generator=g).to(a.device)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    labels = (torch.arange(a.batch_size) % 2).to(a.device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    phases = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}

    def step():
        t0 = time.perf_counter()
        opt.zero_grad()
        with torch.autocast(autocast_device, dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync()
        t3 = time.perf_counter()
        phases["forward"] += t1 - t0
        phases["backward"] += t2 - t1
        phases["optimizer"] += t3 - t2

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for _ in range(a.warmup):
        step()
    for k in phases:
        phases[k] = 0.0
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    s = time.perf_counter() - t0
    print(json.dumps({
        "implementation": f"transformers {transformers.__version__} (torch {torch.__version__})",
        "device": a.device, "precision": precision, "threads": torch.get_num_threads(), "batch_size": a.batch_size,
        "seq_len": a.max_len, "warmup_steps": a.warmup, "steps": a.steps, "seconds": s,
        "examples_per_s": a.batch_size * a.steps / s, "ms_per_step": s * 1000 / a.steps,
        "phases_ms": {k: v * 1000 / a.steps for k, v in phases.items()},
        "peak_memory_bytes": torch.cuda.max_memory_allocated() if cuda else None,
    }))

if __name__ == "__main__":
    main()
