#!/usr/bin/env bash
# The dev loop of issue 5, measured as a developer lives it:
#  1. warm `dotnet run --project Demo.AppHost`: after an untimed `dotnet build` of the AppHost, the seconds from
#     launching `dotnet run` (which still checks the build) until the caller's first output line exists — the line
#     the README says to look for. The caller's stdout goes to DCP, which keeps each resource's stdout in a
#     `<id>_out` file (each line prefixed with a line number and a timestamp) in its session folder under TMPDIR;
#     the script gives the run a private TMPDIR and polls those
#     files for the caller's line format (`<ISO-8601 timestamp with offset><TAB><body>`; no other resource prints
#     it). Also reported: the first line that is a CF answer ("Hello K8s, from CF vN service!"), and when the AppHost
#     logged "Distributed application started".
#  2. `dotnet test Demo.sln` wall time (SKIP_TEST=1 skips it).
# The AppHost runs with --no-launch-profile and the launch profile's settings on random free ports, so that it
# cannot clash with another AppHost on this machine.
#
# usage: bench/devloop.sh    env: RUNS=2 (AppHost starts measured)  TIMEOUT=180 (s)  SKIP_TEST=0  RESULTS_DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-2} TIMEOUT=${TIMEOUT:-180} SKIP_TEST=${SKIP_TEST:-0}
CALLER_LINE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?([+-][0-9]{2}:[0-9]{2}|Z)'$'\t'
LOAD_BEFORE=$(load_average)
log "load average before: $LOAD_BEFORE"

for attempt in 1 2 3 4; do
  log "warm-up build: dotnet build Demo.AppHost (attempt $attempt)"
  if dotnet build "$REPO_ROOT/Demo.AppHost" -nologo -v q -clp:ErrorsOnly >"$WORK/build.log" 2>&1; then break; fi
  [ $attempt -lt 4 ] && grep -qiE 'being used by another process|lock|MSB3021|MSB3026|MSB3027' "$WORK/build.log" && { sleep 15; continue; }
  cat "$WORK/build.log" >&2
  die "build failed"
done

APPHOST_PGID=""
stop_apphost() {
  [ -n "$APPHOST_PGID" ] || return 0
  kill -INT -- "-$APPHOST_PGID" 2>/dev/null || true
  local deadline=$((SECONDS + 40))
  while kill -0 -- "-$APPHOST_PGID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
  kill -KILL -- "-$APPHOST_PGID" 2>/dev/null || true
  # DCP watches the AppHost and stops the resources it started; give it a moment.
  sleep 3
  APPHOST_PGID=""
}
trap 'stop_apphost; cleanup' EXIT

RUN_FIGURES=()
for run in $(seq 1 "$RUNS"); do
  free_port P_DASHBOARD; free_port P_OTLP; free_port P_RESOURCES
  RUN_TMP=$WORK/run$run
  mkdir -p "$RUN_TMP/tmp"
  t0=$(date +%s.%N)
  # setsid: the AppHost and `dotnet run` get their own process group, stopped together with SIGINT.
  (cd "$REPO_ROOT" && exec setsid env TMPDIR="$RUN_TMP/tmp" ASPNETCORE_ENVIRONMENT=Development DOTNET_ENVIRONMENT=Development \
    ASPIRE_ALLOW_UNSECURED_TRANSPORT=true ASPNETCORE_URLS="http://localhost:$P_DASHBOARD" \
    ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL="http://localhost:$P_OTLP" ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL="http://localhost:$P_RESOURCES" \
    dotnet run --project Demo.AppHost --no-launch-profile) >"$RUN_TMP/apphost.log" 2>&1 &
  APPHOST_PGID=$!
  first_line="" first_s="" hello_line="" hello_s="" started_s=""
  while :; do
    now=$(date +%s.%N)
    elapsed=$(calc "$now - $t0")
    if [ -z "$started_s" ] && grep -q 'Distributed application started' "$RUN_TMP/apphost.log"; then started_s=$elapsed; fi
    if [ -z "$first_line" ]; then
      first_line=$(cat "$RUN_TMP"/tmp/aspire-dcp*/*_out 2>/dev/null | grep -m1 -E "$CALLER_LINE" || true)
      [ -n "$first_line" ] && first_s=$elapsed
    fi
    if [ -n "$first_line" ] && [ -z "$hello_line" ]; then
      hello_line=$(cat "$RUN_TMP"/tmp/aspire-dcp*/*_out 2>/dev/null | grep -E "$CALLER_LINE" | grep -m1 'Hello K8s, from CF' || true)
      [ -n "$hello_line" ] && hello_s=$elapsed
    fi
    [ -n "$hello_line" ] && break
    kill -0 "$APPHOST_PGID" 2>/dev/null || { tail -n 30 "$RUN_TMP/apphost.log" >&2; die "the AppHost exited"; }
    if awk "BEGIN { exit !($elapsed > $TIMEOUT) }"; then
      log "timeout after ${TIMEOUT}s"
      break
    fi
    sleep 0.1
  done
  log "run $run: AppHost started ${started_s:-n/a}s, first caller line ${first_s:-n/a}s ($(tr '\t' ' ' <<<"$first_line")), first CF answer ${hello_s:-n/a}s"
  RUN_FIGURES+=("{\"run\": $run, \"apphost_started_s\": ${started_s:-null}, \"first_caller_line_s\": ${first_s:-null}, \"first_cf_answer_s\": ${hello_s:-null}, \"load1\": $(cut -d' ' -f1 /proc/loadavg)}")
  stop_apphost
done

TEST_S=null TEST_EXIT=null TEST_SUMMARY=""
if [ "$SKIP_TEST" != 1 ]; then
  log "dotnet test Demo.sln"
  t0=$(date +%s.%N)
  TEST_EXIT=0
  (cd "$REPO_ROOT" && dotnet test Demo.sln) >"$WORK/test.log" 2>&1 || TEST_EXIT=$?
  TEST_S=$(calc "$(date +%s.%N) - $t0")
  TEST_SUMMARY=$(grep -E '^(Passed|Failed)!|error' "$WORK/test.log" | head -10 | tr '"\t' "' " | paste -sd'|' -)
  log "dotnet test Demo.sln: ${TEST_S}s, exit $TEST_EXIT"
  grep -E '^(Passed|Failed)!' "$WORK/test.log" >&2 || tail -n 20 "$WORK/test.log" >&2
fi

mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/$(date -u +%Y%m%dT%H%M%SZ)-devloop.json
cat >"$OUT" <<JSON
{
  "kind": "devloop",
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)",
  "cores": $(nproc),
  "load_before": "$LOAD_BEFORE",
  "load_after": "$(load_average)",
  "apphost_runs": [$(IFS=,; echo "${RUN_FIGURES[*]}")],
  "dotnet_test_s": $TEST_S,
  "dotnet_test_exit": $TEST_EXIT,
  "dotnet_test_summary": "$TEST_SUMMARY"
}
JSON
cat "$OUT"
echo "results: $OUT"
