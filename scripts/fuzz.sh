#!/usr/bin/env bash
# Builds every cargo-fuzz target under crates/*/fuzz and runs each for SECONDS (default 60).
# Not part of scripts/test.sh or CI's default run. See docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS] [CRATE...]     e.g. scripts/fuzz.sh 300 sts jose
#   scripts/fuzz.sh 0                        build every target, run nothing
#
# Exits non-zero if a target does not build or a run finds a crash (its input is kept in
# crates/CRATE/fuzz/artifacts/TARGET/); the corpus grows in crates/CRATE/fuzz/corpus/TARGET/.
set -euo pipefail

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [SECONDS] [CRATE...]   (SECONDS must be a whole number; 0 = build only)" >&2
  exit 2
fi

root="$(cd "$(dirname "$0")/.." && pwd)"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
  exit 1
fi

# cargo-fuzz passes unstable flags (-Zsanitizer=address, -Cpasses=sancov-module, ...) to rustc.
# On a stable toolchain RUSTC_BOOTSTRAP=1 lets it do so; a nightly toolchain needs nothing.
if ! rustc -V | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi

if [ "$#" -gt 0 ]; then
  dirs=()
  for crate in "$@"; do
    dir="$root/crates/$crate/fuzz"
    if [ ! -f "$dir/Cargo.toml" ]; then
      echo "no fuzz crate at crates/$crate/fuzz" >&2
      exit 2
    fi
    dirs+=("$dir")
  done
else
  dirs=("$root"/crates/*/fuzz)
fi

failed=()
for dir in "${dirs[@]}"; do
  crate="$(basename "$(dirname "$dir")")"
  echo "==> $crate: cargo fuzz build"
  if ! (cd "$dir" && cargo fuzz build); then
    failed+=("$crate (build)")
    continue
  fi
  [ "$seconds" -eq 0 ] && continue
  for target in $(cd "$dir" && cargo fuzz list); do
    echo "==> $crate/$target: ${seconds}s"
    mkdir -p "$dir/corpus/$target"
    if ! (cd "$dir" && cargo fuzz run "$target" -- -max_total_time="$seconds" -print_final_stats=1); then
      failed+=("$crate/$target")
    fi
  done
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
if [ "$seconds" -eq 0 ]; then
  echo "fuzz: every target built"
else
  echo "fuzz: every target built and ran ${seconds}s without a crash"
fi
