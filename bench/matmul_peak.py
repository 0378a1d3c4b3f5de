"""The machine's matmul peak on the benchmark's threads: the best FLOP rate of float32 square
matmuls (n × n by n × n, 2n³ FLOPs each) over several timed repeats, after a warm-up, with
torch on the given device. Prints one JSON line: {"device", "threads", "n", "flops_per_s"}."""
import argparse, json, time

import torch

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--device", default="cpu")
p.add_argument("--n", type=int, default=1024)
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--seconds", type=float, default=0.3, help="minimum time of one repeat")
a = p.parse_args()
torch.set_num_threads(a.threads)
device = torch.device("cuda" if a.device.startswith("cuda") else "cpu")
x = torch.randn(a.n, a.n, device=device)
y = torch.randn(a.n, a.n, device=device)
sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
for _ in range(3):
    x @ y
sync()
best = 0.0
for _ in range(a.repeats):
    count, t0 = 0, time.perf_counter()
    while True:
        x @ y
        count += 1
        sync()
        s = time.perf_counter() - t0
        if s >= a.seconds:
            break
    best = max(best, 2 * a.n**3 * count / s)
print(json.dumps({"device": str(device), "threads": torch.get_num_threads(), "n": a.n,
                  "flops_per_s": best}))
