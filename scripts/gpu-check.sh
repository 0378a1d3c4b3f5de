#!/usr/bin/env bash
# A short check on a GPU host: the release binary built by scripts/setup.sh, pointed at a CUDA
# build of torch 2.11.0, fine-tunes on the GPU and prints the device and throughput.
#
#   scripts/gpu-check.sh [TORCH_DIR]
#
# TORCH_DIR is the `torch` package directory of a CUDA install (the one holding lib/libtorch_cuda.so);
# by default it is found through `python3 -c 'import torch'`. Needs data/models/all-MiniLM-L6-v2 and
# data/standin/ (scripts/setup.sh), copied along if this host cannot run setup.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/harness"
[ -x "$BIN" ] || { echo "gpu-check: $BIN not found; build it with scripts/setup.sh" >&2; exit 1; }
TORCH_DIR="${1:-${TORCH_DIR:-}}"
if [ -z "$TORCH_DIR" ]; then
  TORCH_DIR="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null || true)"
fi
[ -f "$TORCH_DIR/lib/libtorch_cuda.so" ] || {
  echo "gpu-check: no CUDA libtorch found (looked at '${TORCH_DIR:-<python3 torch>}/lib/libtorch_cuda.so'); pass the torch directory of a CUDA install" >&2
  exit 1
}
export LD_LIBRARY_PATH="$TORCH_DIR/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "== fine-tuning throughput on cuda (MiniLM-L6, batch 32, length 128)"
"$BIN" bench finetune --device cuda --batch-size 32 --max-len 128 --warmup 5 --steps 50
echo "== the same on cpu, for scale"
"$BIN" bench finetune --device cpu --batch-size 32 --max-len 128 --warmup 1 --steps 3 --threads "$(nproc)"
echo "== a short grid on cuda: spam, baseline and cross_head, 1 seed"
db="$(mktemp -d)/gpu-check.db"
"$BIN" run "$ROOT/experiments/variance_quickstart.yaml" --device cuda --db "$db" --quiet \
  --set seeds.count=1 --set 'tasks=[spam]' --set threads=null
"$BIN" status variance_quickstart --db "$db"
