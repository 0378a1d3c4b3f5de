#!/usr/bin/env bash
# The one Python environment of both throughput benchmarks (finetune_throughput.sh,
# txl_throughput.sh): bench/.venv-ref with transformers 4.35.2, which has both
# BertForSequenceClassification and TransfoXLLMHeadModel (Transformer-XL is gone from
# transformers 5), its pinned dependencies, and torch 2.11.0 (the libtorch harness links; the
# PyPI wheel with its CUDA wheels, ~3 GB). Idempotent; prints the environment's python on stdout.
#
# TORCH_SITE may name a site-packages folder with an importable torch to use instead of
# installing one. It is appended *after* the environment's own packages (a .pth file), so a
# newer transformers in that folder (e.g. bench/.venv's 5.x) cannot shadow 4.35.2.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/bench/.venv-ref"
PYTHON="${PYTHON:-python3}"
TORCH_SITE="${TORCH_SITE:-}"
say() { printf '[reference-env] %s\n' "$*" >&2; }
die() { printf '[reference-env] error: %s\n' "$*" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON (install python3-venv)"
fi
py="$VENV/bin/python"
if ! "$py" -c "import transformers, sys; sys.exit(transformers.__version__ != '4.35.2')" 2>/dev/null; then
  say "installing transformers==4.35.2 and its dependencies"
  "$py" -m pip install -q "transformers==4.35.2" "tokenizers>=0.14,<0.15" \
    "huggingface-hub>=0.16.4,<1.0" "safetensors>=0.3.1" "numpy<2" \
    || die "pip could not install transformers==4.35.2 (is PyPI reachable?)"
fi
site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [ -n "$TORCH_SITE" ]; then
  [ -d "$TORCH_SITE" ] || die "TORCH_SITE=$TORCH_SITE is not a folder"
  printf '%s\n' "$TORCH_SITE" > "$site/zz_torch_site.pth"
else
  rm -f "$site/zz_torch_site.pth"
fi
if ! "$py" -c "import torch" 2>/dev/null; then
  [ -z "$TORCH_SITE" ] || die "TORCH_SITE=$TORCH_SITE holds no importable torch"
  say "installing torch==2.11.0 (~3 GB with its CUDA wheels)"
  "$py" -m pip install -q "torch==2.11.0" || die "pip could not install torch==2.11.0"
fi
"$py" -c "
import transformers, torch
from transformers import BertForSequenceClassification, TransfoXLConfig, TransfoXLLMHeadModel
assert transformers.__version__ == '4.35.2', transformers.__version__
" 2>/dev/null || die "$VENV does not import transformers 4.35.2 with BERT and Transformer-XL and torch; delete it and rerun"
echo "$py"
