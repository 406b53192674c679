#!/usr/bin/env bash
# AssumeRoleWithWebIdentity calls/s over loopback: `irsa sts serve` (release) against
# the token-verification ceiling measured on the same machine in the same run, and
# against moto's server (moto[server] from PyPI) under the same load.
#
#   bench/sts/run.sh            (env: CONNS=32 DURATION=10 WARMUP=2 MOTO=1 ES256=1 SKIP_BUILD=0 LOADGEN= PERF= CALLGRIND=)
#
# PERF=FILE records a `perf record -g` profile of the server during the load into FILE
# (PERF_FREQ=999, PERF_CG=-g); CALLGRIND=FILE runs the server under callgrind and collects
# only during the load (instructions per call = Ir / calls; repeatable on a busy machine).
#
# 1. a loopback OIDC issuer (RSA-2048 and P-256 keys) and 24 h service-account tokens;
# 2. `irsa sts serve --state :memory: --allow-http-issuers`; provider and role created
#    with the AWS CLI of the test venv (scripts/test.sh makes target/test-venv);
# 3. ceiling: RS256 JWT verifications/s with irsa-jose on all cores (and the bare
#    aws-lc signature check), no HTTP, no STS logic;
# 4. closed-loop load, CONNS keep-alive HTTP/1.1 connections, every call a full
#    AssumeRoleWithWebIdentity (parse, provider and role from the server's in-memory view
#    of its SQLite state, signature, trust policy, credentials sealed with AES-256-GCM);
#    the server's CPU time per call is read from /proc/PID/stat;
# 5. the same load with an ES256 token (ES256=0 skips it);
# 6. the same load against `moto_server` (which accepts any token);
# 7. the transport ceiling: the same load against a bare hyper server that answers with
#    irsa's own reply (loopback TCP + HTTP only). Transport and the signature check share the
#    cores, so 1 / (1/transport + 1/verification) is the most any server can do here.
# Every call carries the same token and the server verifies its signature on every call
# (irsa keeps no verified-token cache).
# Load generator and servers share this machine's cores; run on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

CONNS=${CONNS:-32}
DURATION=${DURATION:-10}
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

echo "== ceiling: token verification without HTTP (all $(nproc) cores)"
ceiling=$("$loadgen" verify --seconds 5)
echo "$ceiling"

# CPU time (user + system) the server process has used so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One call first: it fetches the issuer's keys, which the measured calls then share.
curl -sf -o "$tmp/response.xml" "http://127.0.0.1:$STS_PORT/" --data-urlencode Action=AssumeRoleWithWebIdentity \
  --data-urlencode Version=2011-06-15 --data-urlencode "RoleArn=$role" \
  --data-urlencode RoleSessionName=warm --data-urlencode "WebIdentityToken@$tmp/token"

echo "== irsa sts serve: AssumeRoleWithWebIdentity, $CONNS connections, ${DURATION}s"
calls0=$(curl -s "http://127.0.0.1:$STS_PORT/metrics" | awk '/^irsa_sts_request_duration_seconds_count\{service="sts"\}/ {print $2}')
cpu0=$(cpu_ticks "$spid")
[ -n "${CALLGRIND:-}" ] && callgrind_control -z "$spid" >/dev/null
if [ -n "${PERF:-}" ]; then
  perf record -F ${PERF_FREQ:-999} ${PERF_CG:--g} -p "$spid" -o "$PERF" -- sleep "$((WARMUP + DURATION))" 2>/dev/null & perfpid=$!
fi
irsa=$("$loadgen" load --url "http://127.0.0.1:$STS_PORT" --role-arn "$role" \
  --token-file "$tmp/token" --conns "$CONNS" --seconds "$DURATION" --warmup "$WARMUP")
[ -n "${PERF:-}" ] && wait "$perfpid"
[ -n "${CALLGRIND:-}" ] && callgrind_control -d "$spid" >/dev/null
cpu1=$(cpu_ticks "$spid")
echo "$irsa"
# Server CPU per call over warm-up + measurement + drain (all calls the server answered).
calls=$(curl -s "http://127.0.0.1:$STS_PORT/metrics" | awk '/^irsa_sts_request_duration_seconds_count\{service="sts"\}/ {print $2}')
calls=$((calls - calls0))
tck=$(getconf CLK_TCK)
cpu_us=$(python3 -c "print(round(($cpu1 - $cpu0) * 1e6 / $tck / max($calls, 1), 1))")
echo "irsa sts serve CPU per call: ${cpu_us} us (user+system, $calls calls)"
if [ -n "${CALLGRIND:-}" ]; then
  ir=$(awk '/^summary:/ {print $2}' "$(ls -t "$CALLGRIND".* | head -1)")
  echo "irsa sts serve instructions per call (callgrind, user space): $((ir / calls))"
fi

es256=null
if [ "${ES256:-1}" = 1 ] && [ -z "${CALLGRIND:-}" ]; then
  echo "== irsa sts serve: the same load with ES256 (P-256) tokens"
  es256=$("$loadgen" load --url "http://127.0.0.1:$STS_PORT" --role-arn "$role" \
    --token-file "$tmp/token-es256" --conns "$CONNS" --seconds "$DURATION" --warmup "$WARMUP")
  echo "$es256"
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
  echo "== moto_server $("$mvenv/bin/pip" show moto | awk '/^Version/ {print $2}'): same load"
  moto=$("$loadgen" load --url "http://127.0.0.1:$MOTO_PORT" --role-arn "$role" \
    --token-file "$tmp/token" --conns "$CONNS" --seconds "$DURATION" --warmup "$WARMUP")
  echo "$moto"
fi

echo "== transport ceiling: a hyper server answering every call with irsa's own reply (no STS work)"
"$loadgen" canned --listen "127.0.0.1:$CANNED_PORT" --response "$tmp/response.xml" & cpid=$!; pids+=($cpid)
until curl -s -o /dev/null "http://127.0.0.1:$CANNED_PORT/"; do kill -0 "$cpid"; sleep 0.05; done
transport=$("$loadgen" load --url "http://127.0.0.1:$CANNED_PORT" --role-arn "$role" \
  --token-file "$tmp/token" --conns "$CONNS" --seconds "$DURATION" --warmup "$WARMUP")
echo "$transport"

python3 - "$ceiling" "$irsa" "$moto" "$es256" "$cpu_us" "$transport" <<'PY'
import json, sys
ceiling, irsa, moto, es256 = (json.loads(a) for a in sys.argv[1:5])
cpu_us = sys.argv[5]
transport = json.loads(sys.argv[6])
c = ceiling["rs256_jwt_verify_per_s"]
print(f"== summary: irsa {irsa['calls_per_s']:.0f} calls/s (p50 {irsa['p50_us']} us, p99 {irsa['p99_us']} us, errors {irsa['errors']}), every call verifies its RS256 signature")
print(f"   RS256 verification ceiling {c:.0f}/s -> ratio {irsa['calls_per_s'] / c:.2f} (goal >= 0.5)")
print(f"   server CPU per call {cpu_us} us, load generator {irsa.get('loadgen_cpu_us_per_call')} us (user+system; one RS256 check at the ceiling rate: {ceiling['threads'] * 1e6 / c:.0f} us)")
t = transport["calls_per_s"]
# Transport and verification share the same cores, so their costs per call add up.
bound = 1 / (1 / t + 1 / c)
print(f"   transport ceiling {t:.0f} calls/s (loopback HTTP, no STS work); with one RS256 check per call the same cores can do at most {bound:.0f}/s = {bound / c:.2f} of the verification ceiling; irsa reaches {irsa['calls_per_s'] / bound:.2f} of that bound")
if es256:
    e = ceiling["es256_jwt_verify_per_s"]
    ebound = 1 / (1 / t + 1 / e)
    print(f"   ES256: irsa {es256['calls_per_s']:.0f} calls/s (errors {es256['errors']}), ceiling {e:.0f}/s -> ratio {es256['calls_per_s'] / e:.2f} (bound with transport {ebound:.0f}/s, irsa at {es256['calls_per_s'] / ebound:.2f} of it)")
if moto:
    print(f"   moto {moto['calls_per_s']:.0f} calls/s (errors {moto['errors']}) -> irsa/moto {irsa['calls_per_s'] / max(moto['calls_per_s'], 1):.0f}x (goal >= 100x)")
PY
