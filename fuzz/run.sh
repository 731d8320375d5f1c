#!/usr/bin/env bash
# Coverage-guided fuzzing on the stable toolchain: libFuzzer (libfuzzer-sys) with
# SanitizerCoverage instrumentation, as cargo fuzz does it, but without nightly's
# sanitizers. Each target runs for SECONDS from its seeds (fuzz/seeds/TARGET) into a
# corpus under CORPUS_DIR (default: a fresh temporary folder, removed after); prints, per
# target, executions, coverage (edges `cov`, features `ft`), corpus size and crashes.
#
#   bash fuzz/run.sh [SECONDS] [TARGET ...]      (default: 10 seconds, every target)
#   bash fuzz/run.sh build                       (only build the instrumented targets)
#
# Exit status: non-zero if any target crashed (the crashing input is kept under
# fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-10}
shift || true
host=$(rustc -vV | sed -n 's/^host: //p')
# The instrumentation applies to the fuzzed code only (--target keeps build scripts and
# proc macros plain).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo build --release --target "$host" --target-dir target/coverage --bins
[ "$seconds" = build ] && exit 0
bin=target/coverage/$host/release
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^vkm-fuzz$')
fi
corpora=${CORPUS_DIR:-$(mktemp -d)}
failed=0
printf '%-28s %12s %8s %8s %8s %8s\n' target executions cov ft corpus crashes
for target in "${targets[@]}"; do
  corpus="$corpora/$target"
  mkdir -p "$corpus" "artifacts/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  log=$(mktemp)
  status=0
  "$bin/$target" -max_total_time="$seconds" -seed=1 -max_len=65536 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$target/" "$corpus" ${seeds[@]+"${seeds[@]}"} >"$log" 2>&1 || status=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  size=$(find "$corpus" -type f | wc -l)
  crashes=$(find "artifacts/$target" -type f | wc -l)
  printf '%-28s %12s %8s %8s %8s %8s\n' "$target" "${runs:-0}" "${cov:-?}" "${ft:-?}" "$size" "$crashes"
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    tail -n 30 "$log"
  fi
  rm -f "$log"
done
[ -z "${CORPUS_DIR:-}" ] && rm -rf "$corpora"
exit "$failed"
