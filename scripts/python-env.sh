#!/usr/bin/env bash
# Creates bench/.venv (git-ignored) with the pinned Python stack used by scripts/bert_reference.py:
# torch 2.11.0 (the libtorch tch 0.24 links against; full install with its CUDA wheels),
# transformers and safetensors. Idempotent: a second run only checks the pins. (The throughput
# benchmarks use bench/.venv-ref instead, see bench/reference-env.sh.)
#
#   scripts/python-env.sh          create or check bench/.venv
#   PYTHON=python3.12 scripts/python-env.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/bench/.venv"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION=2.11.0
TRANSFORMERS_VERSION=5.24.0
SAFETENSORS_VERSION=0.8.0

say() { printf '\033[1m[python-env]\033[0m %s\n' "$*"; }
die() { printf '[python-env] error: %s\n' "$*" >&2; exit 1; }

pins_ok() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - "$TORCH_VERSION" "$TRANSFORMERS_VERSION" "$SAFETENSORS_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
want = dict(zip(["torch", "transformers", "safetensors"], sys.argv[1:]))
bad = {k: version(k) for k, v in want.items() if not version(k).startswith(v)}
sys.exit(1 if bad else 0)
PY
}

if pins_ok; then
  say "bench/.venv already has torch $TORCH_VERSION, transformers $TRANSFORMERS_VERSION, safetensors $SAFETENSORS_VERSION"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON (install python3-venv)"
fi
say "installing torch==$TORCH_VERSION transformers==$TRANSFORMERS_VERSION safetensors==$SAFETENSORS_VERSION (~3 GB with the CUDA wheels)"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q \
  "torch==$TORCH_VERSION" "transformers==$TRANSFORMERS_VERSION" "safetensors==$SAFETENSORS_VERSION" \
  || die "pip could not install the pinned packages (is PyPI reachable?)"
pins_ok || die "bench/.venv does not hold the pinned versions after installing; delete bench/.venv and rerun"
say "done: $VENV"
