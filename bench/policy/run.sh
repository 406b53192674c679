#!/usr/bin/env bash
# Batch benchmark: decisions per second of `irsa policy simulate --cases` and of
# @cloud-copilot/iam-simulate on the same generated cases, their ratio, and where the
# two engines disagree.
#
# usage: bench/policy/run.sh [CASES] [REPEAT]
#   CASES   distinct generated cases (default 5000), all evaluated by both engines
#   REPEAT  irsa evaluates the case file REPEAT times in one run for a stable timing (default 20)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cases="${1:-5000}"
repeat="${2:-20}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$here"
if [ ! -d node_modules/@cloud-copilot/iam-simulate ]; then
  npm ci --no-audit --no-fund >/dev/null
fi
(cd "$root" && cargo build --release -p irsa --bin irsa >/dev/null)
irsa="$root/target/release/irsa"

node gen.mjs "$cases" 42 >"$work/cases.jsonl"
for _ in $(seq "$repeat"); do cat "$work/cases.jsonl"; done >"$work/many.jsonl"
total=$((cases * repeat))

"$irsa" policy simulate --cases "$work/cases.jsonl" >"$work/irsa.jsonl"
start=$(date +%s%N)
"$irsa" policy simulate --cases "$work/many.jsonl" >"$work/many-out.jsonl"
end=$(date +%s%N)
lines=$(wc -l <"$work/many-out.jsonl")
[ "$lines" -eq "$total" ] || { echo "irsa wrote $lines lines for $total cases" >&2; exit 1; }
irsa_rate=$(awk -v n="$total" -v ns="$((end - start))" 'BEGIN { printf "%d", n / (ns / 1e9) }')

node compare.mjs "$work/cases.jsonl" "$work/irsa.jsonl" >"$work/compare.json"
node_rate=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).decisionsPerSecond)' "$work/compare.json")

cat "$work/compare.json"
echo
echo "irsa policy simulate --cases: $total decisions, $irsa_rate decisions/s (release, 1 process, 1 thread)"
echo "iam-simulate runSimulation:   $cases decisions, $node_rate decisions/s (node $(node --version))"
awk -v a="$irsa_rate" -v b="$node_rate" 'BEGIN { printf "ratio: %.0fx\n", a / b }'
