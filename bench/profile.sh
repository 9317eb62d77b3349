#!/usr/bin/env bash
# Profiles the local egress gateway under wrk load (issue 5, item 4): the same CF apps and gateway as bench/run.sh,
# then, while wrk drives the gateway: dotnet-counters (System.Runtime: CPU, GC, allocation rate, thread pool) and
# dotnet-trace (sampled thread time: the stacks of running threads, ~100 Hz). Prints the counters and the top methods (exclusive and inclusive).
# The tools come from NuGet as dotnet tools, installed into TOOLS (default /tmp/dotnet-bench-tools) when missing.
#
# usage: bench/profile.sh    env: SECONDS_UNDER_LOAD=15  CONNECTIONS=32  THREADS=2  TOP=30  TRACE_OUT=<file.nettrace>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_UNDER_LOAD=${SECONDS_UNDER_LOAD:-15} CONNECTIONS=${CONNECTIONS:-32} THREADS=${THREADS:-2} TOP=${TOP:-30}
TOOLS=${TOOLS:-/tmp/dotnet-bench-tools}
require_commands wrk curl
for tool in dotnet-trace dotnet-counters; do
  [ -x "$TOOLS/$tool" ] || dotnet tool install --tool-path "$TOOLS" "$tool" >/dev/null
done
log "load average before: $(load_average)"
build
make_certificates
make_istio_config
start_cf_platform Warning
free_port P_MESH; free_port P_ADMIN
start_gateway "$P_MESH" "$P_ADMIN" EgressGateway__AccessLog=false
wait_cf_platform
wait_http egress "http://127.0.0.1:$P_ADMIN/health" 90

WRK=(wrk -t"$THREADS" -c"$CONNECTIONS" --latency -H "Host: $IN_MESH_HOST" "http://127.0.0.1:$P_MESH/")
log "warm-up 5s"
"${WRK[@]}" -d5s >/dev/null
TRACE=${TRACE_OUT:-$WORK/gateway.nettrace}
"$TOOLS/dotnet-counters" collect -p "$PID_egress" --counters System.Runtime --refresh-interval 1 --format csv \
  -o "$WORK/counters.csv" --duration "00:00:$(printf '%02d' "$SECONDS_UNDER_LOAD")" >"$WORK/counters.log" 2>&1 &
COUNTERS=$!
STARTED_PIDS+=("$COUNTERS")
"$TOOLS/dotnet-trace" collect -p "$PID_egress" --profile dotnet-sampled-thread-time -o "$TRACE" \
  --duration "00:00:00:$(printf '%02d' "$SECONDS_UNDER_LOAD")" >"$WORK/trace.log" 2>&1 &
TRACER=$!
STARTED_PIDS+=("$TRACER")
sleep 1
"${WRK[@]}" -d"$((SECONDS_UNDER_LOAD - 2))s" | sed -n '/Latency/,$p'
wait "$TRACER" || { cat "$WORK/trace.log" >&2; die "dotnet-trace failed"; }
wait "$COUNTERS" || true

echo "== System.Runtime counters under load (mean and max of the 1-s samples)"
awk -F, 'NR > 1 && $5 != "" { k = $3; sum[k] += $5; n[k]++; if (!(k in max) || $5 > max[k]) max[k] = $5 }
  END { for (k in sum) printf "  %-82s mean %14.3f  max %14.3f\n", k, sum[k] / n[k], max[k] }' "$WORK/counters.csv" | sort
echo "== top methods, exclusive (self) time"
"$TOOLS/dotnet-trace" report "$TRACE" topN -n "$TOP" 2>&1 | sed 's/^/  /'
echo "== top methods, inclusive time"
"$TOOLS/dotnet-trace" report "$TRACE" topN -n "$TOP" --inclusive 2>&1 | sed 's/^/  /'
log "load average after: $(load_average)"
