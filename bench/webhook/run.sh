#!/usr/bin/env bash
# Loopback load run of `irsa webhook serve` against the transport ceiling.
#
#   bench/webhook/run.sh   (env: N_SA=10000 CONNS=32 DURATION=20 WARMUP=2 SLICE=0.25 SKIP_BUILD=0 IRSA=)
#
# 1. the fake Kubernetes API serves N_SA ServiceAccounts (every 10th has a role);
# 2. `irsa webhook serve` (release) syncs them; RSS is read from /proc once ready;
# 3. its real response to one AdmissionReview is captured and handed to a bare rustls+hyper
#    server with the same TLS settings (the ceiling: TLS + HTTP, no admission work);
# 4. the load generator (HTTPS, keep-alive, CONNS connections to each server) measures the
#    closed-loop max throughput of both, then both in an open loop at half the webhook's max
#    for p50/p99.
# Load generator and servers share this machine's cores; run on an idle machine. The speed of
# a shared (virtual) machine drifts by a quarter within seconds, so the two servers are never
# measured one after the other: in each run the load generator alternates between them every
# SLICE seconds (`bench_loadgen --versus`), and each gets half of the run.
set -euo pipefail
cd "$(dirname "$0")/../.."

N_SA=${N_SA:-10000}
CONNS=${CONNS:-32}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-2}
SLICE=${SLICE:-0.25}
PORT=${PORT:-18443}
METRICS_PORT=${METRICS_PORT:-19999}
CANNED_PORT=${CANNED_PORT:-18444}

# SKIP_BUILD=1 reuses what is in target/release; IRSA=path picks a prebuilt irsa binary.
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --quiet -p irsa-webhook --examples
  cargo build --release --quiet -p irsa --bin irsa
fi
bin=target/release
irsa=${IRSA:-$bin/irsa}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# Certificates made with openssl: a CA and a localhost serving certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj "/CN=bench CA" -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
  -keyout "$tmp/tls.key" -out "$tmp/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$tmp/ext"
openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
  -days 1 -extfile "$tmp/ext" -out "$tmp/tls.crt" 2>/dev/null

"$bin/examples/bench_fake_api" "$N_SA" > "$tmp/api.url" & pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/api.url" ] && break; sleep 0.1; done
api=$(cat "$tmp/api.url")

"$irsa" webhook serve --in-cluster=false --port="$PORT" --metrics-port="$METRICS_PORT" \
  --tls-cert="$tmp/tls.crt" --tls-key="$tmp/tls.key" --kube-api="$api" \
  --watch-container-credentials-config="$tmp/none.json" 2> "$tmp/webhook.log" & wpid=$!; pids+=($wpid)
start=$(date +%s.%N)
until curl -sf --cacert "$tmp/ca.pem" "https://localhost:$PORT/readyz" >/dev/null; do
  kill -0 "$wpid" || { cat "$tmp/webhook.log"; exit 1; }
  sleep 0.05
done
ready=$(date +%s.%N)
sleep 1
rss_ready=$(awk '/VmRSS/ {print $2}' "/proc/$wpid/status")
cached=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^pod_identity_webhook_used/ {print $2}')

cat > "$tmp/review.json" <<JSON
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"bench","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"apps","operation":"CREATE","userInfo":{"username":"bench"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"app","namespace":"apps","labels":{"app":"bench"}},"spec":{"serviceAccountName":"sa-0","containers":[{"name":"app","image":"public.ecr.aws/docker/library/busybox:stable","command":["sleep","3600"],"resources":{"requests":{"cpu":"10m","memory":"16Mi"}}},{"name":"sidecar","image":"envoyproxy/envoy:v1.30","ports":[{"containerPort":9901}]}]}}}}
JSON
curl -sf --cacert "$tmp/ca.pem" -H 'content-type: application/json' --data-binary @"$tmp/review.json" \
  "https://localhost:$PORT/mutate" > "$tmp/response.json"
grep -q '"patch"' "$tmp/response.json" || { echo "webhook did not mutate the bench pod"; exit 1; }

"$bin/examples/bench_canned" "$tmp/tls.crt" "$tmp/tls.key" "$tmp/response.json" "$CANNED_PORT" > "$tmp/canned.addr" & cpid=$!; pids+=($cpid)
for _ in $(seq 100); do [ -s "$tmp/canned.addr" ] && break; sleep 0.1; done

load() { "$bin/examples/bench_loadgen" --ca "$tmp/ca.pem" --body "$tmp/review.json" \
  --connections "$CONNS" --duration "$DURATION" --warmup "$WARMUP" "$@"; }
field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/"; }
# CPU seconds (user + system) a process has used so far, from /proc/PID/stat.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14 + $15) / hz}' "/proc/$1/stat"; }
# Server CPU microseconds per request over a run: CPU used / requests sent (warm-up included).
per_req() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}'; }

# One interleaved run of both servers (extra load-generator flags as arguments): leaves the
# webhook's line in $tmp/webhook.run and the ceiling's in $tmp/ceiling.run, each with the
# server's CPU microseconds per request appended.
both() {
  local w0 w1 c0 c1
  w0=$(cpu "$wpid"); c0=$(cpu "$cpid")
  load --addr "127.0.0.1:$PORT" --versus "127.0.0.1:$CANNED_PORT" --slice "$SLICE" "$@" > "$tmp/both"
  w1=$(cpu "$wpid"); c1=$(cpu "$cpid")
  with_cpu() { local l; l=$(sed -n "$1p" "$tmp/both"); echo "${l%\}},\"cpu_us\":$(per_req "$2" "$3" "$(echo "$l" | field sent)")}"; }
  with_cpu 1 "$w0" "$w1" > "$tmp/webhook.run"
  with_cpu 2 "$c0" "$c1" > "$tmp/ceiling.run"
}
get() { field "$2" < "$tmp/$1.run"; }

both
w_rps=$(get webhook rps)
c_rps=$(get ceiling rps)
half=$(awk -v r="$w_rps" 'BEGIN {printf "%d", r / 2}')
echo "service accounts cached: $N_SA (pod_identity_webhook_used=$cached), ready after $(awk -v a="$start" -v b="$ready" 'BEGIN {printf "%.2f", b - a}') s"
echo "closed loop, $CONNS connections, ${DURATION}s alternating every ${SLICE}s:"
echo "  webhook: $(cat "$tmp/webhook.run")"
echo "  ceiling: $(cat "$tmp/ceiling.run")"
echo "  server CPU per request: webhook $(get webhook cpu_us) us, ceiling $(get ceiling cpu_us) us"
echo "  throughput ratio webhook/ceiling: $(awk -v a="$w_rps" -v b="$c_rps" 'BEGIN {printf "%.2f", a / b}')"
both --rate "$half"
echo "open loop at $half req/s (half of the webhook's max), alternating the same way:"
echo "  webhook: $(cat "$tmp/webhook.run")"
echo "  ceiling: $(cat "$tmp/ceiling.run")"
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$wpid/status")
echo "RSS once ready: $((rss_ready / 1024)) MiB ($rss_ready kB); after load: $((rss_after / 1024)) MiB ($rss_after kB)"
