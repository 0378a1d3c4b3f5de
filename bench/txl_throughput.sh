#!/usr/bin/env bash
# Transformer-XL training throughput, side by side: `harness` (examples/txl_throughput.rs) vs a
# PyTorch Transformer-XL of the same configuration (Hugging Face transformers 4.35.2
# TransfoXLLMHeadModel; the model is gone from transformers 5), same shapes, thread count and
# machine, random tokens.
#   bench/txl_throughput.sh [--n-layer 6] [--d-model 64] [--n-head 4] [--d-head 16] [--d-inner 128]
#       [--n-token 204] [--tgt-len 32] [--mem-len 32] [--batch-size 16] [--steps 20] [--warmup 3]
#       [--threads 2] [--device cpu] [--rounds 2]
# Defaults: the lm_quickstart model at byte level. The paper's enwik8 model on a GPU:
#   bench/txl_throughput.sh --n-layer 12 --d-model 512 --n-head 8 --d-head 64 --d-inner 2048 \
#       --tgt-len 512 --mem-len 512 --batch-size 22 --device cuda
# Creates bench/.venv-txl: torch 2.11.0 (the libtorch harness links; the PyPI wheel with its CUDA
# wheels, ~3 GB), transformers 4.35.2 and their dependencies. TORCH_SITE may name a site-packages
# folder with an importable torch to use instead (the minimal libtorch install in .deps/py is
# not importable: it lacks the CUDA wheels). libtorch for the harness side: LIBTORCH, default
# .deps/py/torch.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/bench/.venv-txl"
TORCH_SITE="${TORCH_SITE:-}"
ROUNDS=2
args=(--n-layer 6 --d-model 64 --n-head 4 --d-head 16 --d-inner 128 --n-token 204 --tgt-len 32
      --mem-len 32 --batch-size 16 --steps 20 --warmup 3 --threads 2 --device cpu)
set_arg() { for i in "${!args[@]}"; do [ "${args[$i]}" = "$1" ] && args[$((i + 1))]="$2" && return; done; args+=("$1" "$2"); }
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --n-layer|--d-model|--n-head|--d-head|--d-inner|--n-token|--tgt-len|--mem-len|--batch-size|--steps|--warmup|--threads|--device|--dropout)
      set_arg "$1" "$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
threads=2; for i in "${!args[@]}"; do [ "${args[$i]}" = "--threads" ] && threads="${args[$((i + 1))]}"; done

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "transformers==4.35.2" --no-deps
  "$VENV/bin/pip" install -q "tokenizers>=0.14,<0.15" "huggingface-hub>=0.16.4,<1.0" "safetensors>=0.3.1" \
    "numpy<2" regex pyyaml requests tqdm packaging filelock
fi
if [ -n "$TORCH_SITE" ] && PYTHONPATH="$TORCH_SITE" "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  export PYTHONPATH="$TORCH_SITE${PYTHONPATH:+:$PYTHONPATH}"
elif ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$VENV/bin/pip" install -q "torch==2.11.0"
fi
LIBTORCH="${LIBTORCH:-$ROOT/.deps/py/torch}"
export LIBTORCH LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BIN="$ROOT/target/release/examples/txl_throughput"
[ -x "$BIN" ] || (cd "$ROOT" && cargo build --release --example txl_throughput)
export OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"

h=(); p=()
for r in $(seq "$ROUNDS"); do   # alternate, so that both see the same machine load
  h+=("$("$BIN" "${args[@]}")")
  p+=("$("$VENV/bin/python" "$ROOT/bench/hf_txl.py" "${args[@]}")")
done
printf '%s\n' "${h[@]}" "${p[@]}"
"$VENV/bin/python" - "${h[@]}" "${p[@]}" <<'PY'
import json, sys, statistics
rows = [json.loads(a) for a in sys.argv[1:]]
n = len(rows) // 2
h, p = rows[:n], rows[n:]
med = lambda rs: statistics.median(r["tokens_per_s"] for r in rs)
print(f"\n{'implementation':<70} {'tokens/s':>10} {'ms/step':>9}")
for rs in (h, p):
    t = med(rs)
    print(f"{rs[0]['implementation']:<70} {t:>10.1f} {1000 * rs[0]['batch_size'] * rs[0]['tgt_len'] / t:>9.1f}")
r = h[0]
print(f"\nharness / PyTorch = {med(h) / med(p):.3f}x (median of {n} rounds; {r['n_layer']} layers, d_model "
      f"{r['d_model']}, tgt_len {r['tgt_len']}, mem_len {r['mem_len']}, batch {r['batch_size']}, "
      f"{r['threads']} threads, {r['device']})")
PY
