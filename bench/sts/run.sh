#!/usr/bin/env bash
# AssumeRoleWithWebIdentity calls/s over loopback: `irsa sts serve` (release) against
# the token-verification ceiling measured on the same machine in the same run, and
# against moto's server (moto[server] from PyPI) under the same load.
#
#   bench/sts/run.sh   (env: SLICE=0.25 CONNS=32 DURATION=20 WARMUP=2 MOTO=1 ES256=1 SKIP_BUILD=0 LOADGEN= PERF= CALLGRIND=)
#
# PERF=FILE records a `perf record -g` profile of the server during the load into FILE
# (PERF_FREQ=999, PERF_CG=-g); CALLGRIND=FILE runs the server under callgrind and collects
# only during the load (instructions per call = Ir / calls; repeatable on a busy machine).
#
# 1. a loopback OIDC issuer (RSA-2048 and P-256 keys) and 24 h service-account tokens;
# 2. `irsa sts serve --state :memory: --allow-http-issuers`; provider and role created
#    with the AWS CLI of the test venv (scripts/test.sh makes target/test-venv);
# 3. one run of `irsa-sts-loadgen versus` (see bench/sts/loadgen/src/versus.rs) that cuts
#    time into SLICE-second slices cycling through every measurement, so that every figure
#    sees the same machine (a shared VM's speed drifts by a quarter within minutes: the RS256
#    ceiling alone was measured at 53,000 and 77,000/s a minute apart):
#    - the verification ceiling: RS256 and ES256 JWT verifications/s with irsa-jose on all
#      cores (and the bare aws-lc signature check), no HTTP, no STS logic;
#    - irsa: closed-loop load, CONNS keep-alive HTTP/1.1 connections, every call a full
#      AssumeRoleWithWebIdentity (parse, provider and role from the server's in-memory view
#      of its SQLite state, signature, trust policy, credentials sealed with AES-256-GCM);
#      the server's CPU time per call is read from /proc/PID/stat at every slice boundary;
#    - the same load with an ES256 token (ES256=0 skips it);
#    - the transport ceiling: the same load against a bare hyper server that answers with
#      irsa's own reply (loopback TCP + HTTP only). Transport and the signature check share
#      the cores, so 1 / (1/transport + 1/verification) is the most any server can do here;
# 4. moto_server (which accepts any token) under the same load for DURATION s, between two
#    irsa runs of the same length (MOTO=0 skips it).
# Every call carries the same token and the server verifies its signature on every call
# (irsa keeps no verified-token cache).
# Load generator and servers share this machine's cores; run on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

SLICE=${SLICE:-0.25}
ES256=${ES256:-1}
CONNS=${CONNS:-32}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-2}
MOTO=${MOTO:-1}
STS_PORT=${STS_PORT:-18190}
ISSUER_PORT=${ISSUER_PORT:-18191}
MOTO_PORT=${MOTO_PORT:-18192}
CANNED_PORT=${CANNED_PORT:-18193}
ADMIN_ID=AKIABENCHADMIN000001
ADMIN_SECRET=bench-admin-secret-0123456789abcdefghijk

# SKIP_BUILD=1 reuses target/release/irsa; IRSA=path and LOADGEN=path pick prebuilt binaries.
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --quiet -p irsa --bin irsa
  CARGO_TARGET_DIR="$PWD/target" cargo build --release --quiet --manifest-path bench/sts/loadgen/Cargo.toml
fi
bin=target/release
irsa_bin=${IRSA:-$bin/irsa}
loadgen=${LOADGEN:-$bin/irsa-sts-loadgen}
venv=target/test-venv
[ -x "$venv/bin/aws" ] || { echo "run scripts/test.sh once to create $venv (AWS CLI)"; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

"$loadgen" issuer --listen "127.0.0.1:$ISSUER_PORT" --out "$tmp" & pids+=($!)
wrap=()
# CALLGRIND=FILE runs the server under callgrind (instruction counts of the measured calls only).
[ -n "${CALLGRIND:-}" ] && wrap=(valgrind --tool=callgrind "--callgrind-out-file=$CALLGRIND")
"${wrap[@]}" "$irsa_bin" sts serve --listen "127.0.0.1:$STS_PORT" --state :memory: --allow-http-issuers \
  --admin-access-key-id "$ADMIN_ID" --admin-secret-access-key "$ADMIN_SECRET" \
  > "$tmp/sts.out" 2> "$tmp/sts.log" & spid=$!; pids+=($spid)
until curl -sf "http://127.0.0.1:$STS_PORT/readyz" >/dev/null && [ -s "$tmp/token" ]; do
  kill -0 "$spid" || { cat "$tmp/sts.log"; exit 1; }
  sleep 0.05
done

export AWS_ACCESS_KEY_ID=$ADMIN_ID AWS_SECRET_ACCESS_KEY=$ADMIN_SECRET AWS_DEFAULT_REGION=us-east-1 \
  AWS_ENDPOINT_URL_IAM="http://127.0.0.1:$STS_PORT" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
provider=$("$venv/bin/aws" iam create-open-id-connect-provider --url "http://127.0.0.1:$ISSUER_PORT" \
  --client-id-list sts.amazonaws.com --query OpenIDConnectProviderArn --output text)
cat > "$tmp/trust.json" <<JSON
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"$provider"},
 "Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{
 "127.0.0.1:$ISSUER_PORT:sub":"system:serviceaccount:default:aws-cli","127.0.0.1:$ISSUER_PORT:aud":"sts.amazonaws.com"}}}]}
JSON
role=$("$venv/bin/aws" iam create-role --role-name k8s_default_aws-cli \
  --assume-role-policy-document "file://$tmp/trust.json" --query Role.Arn --output text)

# Calls the server has answered so far.
served() { curl -s "http://127.0.0.1:$STS_PORT/metrics" | awk '/^irsa_sts_request_duration_seconds_count\{service="sts"\}/ {print $2}'; }

# One call first: it fetches the issuer's keys, which the measured calls then share.
curl -sf -o "$tmp/response.xml" "http://127.0.0.1:$STS_PORT/" --data-urlencode Action=AssumeRoleWithWebIdentity \
  --data-urlencode Version=2011-06-15 --data-urlencode "RoleArn=$role" \
  --data-urlencode RoleSessionName=warm --data-urlencode "WebIdentityToken@$tmp/token"

"$loadgen" canned --listen "127.0.0.1:$CANNED_PORT" --response "$tmp/response.xml" & cpid=$!; pids+=($cpid)
until curl -s -o /dev/null "http://127.0.0.1:$CANNED_PORT/"; do kill -0 "$cpid"; sleep 0.05; done

load() { "$loadgen" load --url "$1" --role-arn "$role" --token-file "$2" --conns "$CONNS" --seconds "$3" --warmup "$4"; }

echo "== irsa sts serve (RS256 and ES256 tokens), the verification ceiling (all $(nproc) cores, no HTTP) and the transport ceiling in alternating ${SLICE}s slices, ${DURATION}s of measurement, $CONNS connections"
[ -n "${CALLGRIND:-}" ] && callgrind_control -z "$spid" >/dev/null
if [ -n "${PERF:-}" ]; then
  perf record -F ${PERF_FREQ:-999} ${PERF_CG:--g} -p "$spid" -o "$PERF" -- sleep "$((WARMUP + DURATION))" 2>/dev/null & perfpid=$!
fi
es=()
# Under callgrind only RS256 calls, so that instructions per call are those of one kind.
[ "$ES256" = 1 ] && [ -z "${CALLGRIND:-}" ] && es=(--es256-token-file "$tmp/token-es256")
calls0=$(served)
"$loadgen" versus --url "http://127.0.0.1:$STS_PORT" --transport-url "http://127.0.0.1:$CANNED_PORT" \
  --role-arn "$role" --token-file "$tmp/token" "${es[@]}" --conns "$CONNS" --seconds "$DURATION" \
  --warmup "$WARMUP" --slice "$SLICE" --server-pid "$spid" --transport-pid "$cpid" > "$tmp/versus.json"
cat "$tmp/versus.json"
[ -n "${PERF:-}" ] && wait "$perfpid"
if [ -n "${CALLGRIND:-}" ]; then
  callgrind_control -d "$spid" >/dev/null
  calls=$(($(served) - calls0))
  ir=$(awk '/^summary:/ {print $2}' "$(ls -t "$CALLGRIND".* | head -1)")
  echo "irsa sts serve instructions per RS256 call (callgrind, user space, warm-up included): $((ir / calls))"
  exit 0
fi
rss=$(awk '/VmRSS/ {print $2}' "/proc/$spid/status")
echo "irsa sts serve RSS after the run: ${rss} KiB"

moto=null
if [ "$MOTO" = 1 ]; then
  mvenv=target/bench-moto-venv
  if [ ! -x "$mvenv/bin/moto_server" ]; then
    python3 -m venv "$mvenv"
    "$mvenv/bin/pip" install --quiet 'moto[server]'
  fi
  "$mvenv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" > "$tmp/moto.log" 2>&1 & mpid=$!; pids+=($mpid)
  until curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/"; do
    kill -0 "$mpid" || { cat "$tmp/moto.log"; exit 1; }
    sleep 0.2
  done
  # moto answers ~100-300 calls/s: one run, between two irsa runs of the same length.
  echo "== moto_server $("$mvenv/bin/pip" show moto | awk '/^Version/ {print $2}'), between two irsa runs, ${DURATION}s each"
  before=$(load "http://127.0.0.1:$STS_PORT" "$tmp/token" "$DURATION" "$WARMUP")
  moto=$(load "http://127.0.0.1:$MOTO_PORT" "$tmp/token" "$DURATION" "$WARMUP")
  after=$(load "http://127.0.0.1:$STS_PORT" "$tmp/token" "$DURATION" "$WARMUP")
  printf 'irsa %s\nmoto %s\nirsa %s\n' "$before" "$moto" "$after" | tee "$tmp/moto.runs"
fi

python3 - "$tmp/versus.json" "$tmp/moto.runs" <<'PY'
import json, os, sys
v = json.load(open(sys.argv[1]))
irsa, t = v["irsa"], v["transport"]
c, sig = v["rs256_jwt_verify_per_s"], v["rs256_signature_verify_per_s"]
r = irsa["calls_per_s"]
print(f"== summary ({v['cycles']} cycles of {v['slice_s']}s slices): irsa {r:.0f} calls/s (p50 {irsa['p50_us']} us, p99 {irsa['p99_us']} us, errors {irsa['errors']}), every call verifies its RS256 signature")
print(f"   RS256 JWT verification ceiling (irsa-jose: decode, signature, claims) {c:.0f}/s -> ratio {r / c:.3f} (goal >= 0.5)")
print(f"   bare RS256 signature check (aws-lc, no JWT decoding) {sig:.0f}/s -> ratio {r / sig:.2f}")
print(f"   server CPU per call {irsa.get('server_cpu_us_per_call')} us, load generator {irsa['loadgen_cpu_us_per_call']} us (user+system; one RS256 JWT check at the ceiling rate: {v['threads'] * 1e6 / c:.0f} us)")
# Transport and verification share the same cores, so their costs per call add up.
tr = t["calls_per_s"]
bound = 1 / (1 / tr + 1 / c)
print(f"   transport ceiling {tr:.0f} calls/s (loopback HTTP, no STS work; its server's CPU per call {t.get('server_cpu_us_per_call')} us); with one RS256 check per call the same cores can do at most {bound:.0f}/s = {bound / c:.2f} of the verification ceiling; irsa reaches {r / bound:.2f} of that bound")
if "es256" in v:
    es, e = v["es256"], v["es256_jwt_verify_per_s"]
    ebound = 1 / (1 / tr + 1 / e)
    print(f"   ES256: irsa {es['calls_per_s']:.0f} calls/s (errors {es['errors']}), ceiling {e:.0f}/s -> ratio {es['calls_per_s'] / e:.2f} (bound with transport {ebound:.0f}/s, irsa at {es['calls_per_s'] / ebound:.2f} of it)")
if os.path.exists(sys.argv[2]):
    runs = [(line.split(" ", 1)[0], json.loads(line.split(" ", 1)[1])) for line in open(sys.argv[2])]
    moto = [x for k, x in runs if k == "moto"][0]
    around = [x["calls_per_s"] for k, x in runs if k == "irsa"]
    mean = sum(around) / len(around)
    print(f"   moto {moto['calls_per_s']:.0f} calls/s (errors {moto['errors']}); irsa {mean:.0f} calls/s in the runs before and after it -> irsa/moto {mean / max(moto['calls_per_s'], 1):.0f}x (goal >= 100x)")
PY
