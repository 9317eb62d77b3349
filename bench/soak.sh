#!/usr/bin/env bash
# The soak of issue 6 (item 1): the whole chain proxy -> egress gateway -> CF router (HTTPS) -> CF apps (v1, v2) on 127.0.0.1,
# with faults at 0%, driven at a fixed rate by an open-loop load generator (bench/Demo.Bench `soak`).
# Passes when: zero errors (every answer 200 with a CF greeting), the rate was held, every process is alive at the
# end, and every process's RSS at the end is within RSS_TOLERANCE of its RSS right after the warm-up (both ways;
# RSS_CHECK=growth fails only growth). The warm-up is 30 s because the gateway's Server GC (DATAS) keeps adjusting
# its heaps for ~20-25 s at 1000 rps; proxy, caller and CF apps use workstation GC and stay flat.
#
# usage: bench/soak.sh
#   env: RATE=1000 (requests/s)  DURATION=60 (s, measured)  WARMUP=30 (s, not measured: the rate ramps from 0 to RATE)
#        RSS_TOLERANCE=0.20  RSS_CHECK=both|growth  MIN_RATE=0.95 (share of RATE that must complete)  ACCESS_LOG=true (the gateway's, router's and apps' request logs)
#        CONFIGURATION=Release  BENCH_BUILD=1  RESULTS_DIR=bench/results  KEEP_WORK=0
#        CONNECTION_PER_REQUEST=1: every DestinationRule sets maxRequestsPerConnection: 1 (the cost of TLS connections)
# Exit status: 0 when every criterion holds, 1 otherwise (the JSON in RESULTS_DIR says which).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  "") ;;
  -h | --help)
    sed -n '2,16p' "$0"
    exit 0
    ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac
RATE=${RATE:-1000} DURATION=${DURATION:-60} WARMUP=${WARMUP:-30} RSS_CHECK=${RSS_CHECK:-both}
RSS_TOLERANCE=${RSS_TOLERANCE:-0.20} MIN_RATE=${MIN_RATE:-0.95} ACCESS_LOG=${ACCESS_LOG:-true}

require_commands curl
LOAD_BEFORE=$(load_average)
log "load average before: $LOAD_BEFORE"
[ "$ACCESS_LOG" = true ] && CF_LOG_LEVEL=Information || CF_LOG_LEVEL=Warning
start_cf_platform_and_gateway EgressGateway__AccessLog="$ACCESS_LOG"
free_port P_PROXY
PROXY_DLL=$(app_dll Demo.Proxy)
# The proxy as the AppHost runs it locally: its HttpClient uses the gateway as HTTP proxy for http://hello.external/.
start proxy "$(dirname "$PROXY_DLL")" "${DOTNET_ENV[@]}" \
  ASPNETCORE_URLS="http://127.0.0.1:$P_PROXY" Upstream__BaseAddress="http://$IN_MESH_HOST/" \
  Upstream__HttpProxy="http://127.0.0.1:$P_MESH/" dotnet "$PROXY_DLL"

wait_cf_platform
wait_http egress "http://127.0.0.1:$P_ADMIN/health" 90
wait_http proxy "http://127.0.0.1:$P_PROXY/health" 90
BODY=$(curl -sS --max-time 10 "http://127.0.0.1:$P_PROXY/") || die "the chain does not answer"
grep -q 'from CF v[12] service' <<<"$BODY" || die "the chain answered '$BODY'"
log "chain answers: $BODY"

mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/$(date -u +%Y%m%dT%H%M%SZ)-soak.json
STATUS=0
bench_tool soak --url "http://127.0.0.1:$P_PROXY/" --rate "$RATE" --warmup "$WARMUP" --duration "$DURATION" \
  --rss-tolerance "$RSS_TOLERANCE" --rss-check "$RSS_CHECK" --min-rate "$MIN_RATE" --out "$OUT" \
  --watch "proxy=$PID_proxy" --watch "egress=$PID_egress" --watch "cf-router=$PID_cf_router" --watch "cf-v1=$PID_cf_v1" --watch "cf-v2=$PID_cf_v2" || STATUS=$?
log "load average before: $LOAD_BEFORE, after: $(load_average)"
echo "results: $OUT"
exit $STATUS
