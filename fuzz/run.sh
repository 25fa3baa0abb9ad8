#!/usr/bin/env bash
# Fuzz the HTTP framer, form decoding, RPC arguments, config, snapshot, journal and
# luigid pickle readers for a bounded time.
# Usage: fuzz/run.sh [SECONDS per target, default 60]
# Uses cargo-fuzz (libFuzzer) on the stable toolchain through RUSTC_BOOTSTRAP=1; when
# cargo-fuzz cannot be installed or run, falls back to a randomized driver that feeds
# the same targets with generated inputs (no coverage guidance) for the same time.
set -euo pipefail
SECONDS_PER_TARGET="${1:-60}"
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"
TARGETS=(framer forms rpc_args config snapshot journal pickle)

fallback() {
  echo "fuzz/run.sh: cargo-fuzz unavailable ($1); running the randomized fallback driver" >&2
  # Called where `set -e` is off (after ||), so pass its status on explicitly.
  cargo run --quiet --release --manifest-path "$HERE/fallback/Cargo.toml" -- "$SECONDS_PER_TARGET" "$HERE/corpus"
  exit $?
}

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  # Idempotent: does nothing when an up-to-date cargo-fuzz is already installed.
  cargo install --locked cargo-fuzz >/dev/null 2>&1 || fallback "cargo install failed"
fi

export RUSTC_BOOTSTRAP=1
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  echo "== fuzzing $t for ${SECONDS_PER_TARGET}s"
  if ! cargo fuzz build --release "$t" 2>"/tmp/fuzz-build-$t.log"; then
    tail -20 "/tmp/fuzz-build-$t.log" >&2
    fallback "cargo fuzz build failed"
  fi
  # A crash makes libFuzzer exit non-zero and leaves the input under artifacts/$t/.
  cargo fuzz run --release "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1
done
echo "fuzz/run.sh: all targets ran ${SECONDS_PER_TARGET}s without a failure"
