#!/usr/bin/env bash
# The dev loop of issues 5 and 11, measured as a developer lives it:
#  1. warm `dotnet run --project Demo.AppHost` side by side with the minimal Aspire app of the same shape
#     (../shared/anchors/minimal-aspire, copied to a temp folder): after an untimed `dotnet build` of both AppHosts,
#     interleaved rounds (project, anchor, project, anchor, …; RUNS of each) measure the seconds from launching
#     `dotnet run` (which still checks the build) until the first line of the last resource in the chain exists:
#     the project's caller, the anchor's `tick`. Both print `<ISO-8601 timestamp with offset><TAB><body>` (no other
#     resource does); DCP keeps each resource's stdout in a `<id>_out` file (each line prefixed with a line number and
#     a timestamp) in its session folder under TMPDIR, so each run gets a private TMPDIR and the script polls those
#     files. Also reported: whether that first line is an answer (project: a CF answer or the configured fault
#     `fault filter abort`; anchor: `hello`) or an error, the first CF answer, and when the AppHost logged
#     "Distributed application started". Medians per side and the ratio project / anchor go to the JSON and a table.
#  2. `dotnet test Demo.sln` wall time (SKIP_TEST=1 skips it).
# Both AppHosts run with --no-launch-profile and the launch profile's settings on random free ports, and the anchor
# copy's fixed service ports (launchSettings applicationUrl) are replaced by free ones, so that neither can clash
# with another AppHost on this machine. Nothing is installed from here.
#
# usage: bench/devloop.sh
# env: RUNS=3 (starts of each)  TIMEOUT=180 (s per start)  SKIP_TEST=0  ANCHOR=1 (0: the project alone)
#      ANCHOR_DIR=<repo>/../shared/anchors/minimal-aspire  KEEP_WORK=0  RESULTS_DIR
#      COMPARE_ARGS="--StartOrder parallel": also measure the project started with these AppHost arguments, as a third
#      side in the same interleaved rounds (project, compare, anchor), to measure a change against its alternative
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${RUNS:-3} TIMEOUT=${TIMEOUT:-180} SKIP_TEST=${SKIP_TEST:-0} ANCHOR=${ANCHOR:-1} COMPARE_ARGS=${COMPARE_ARGS:-}
ANCHOR_DIR=${ANCHOR_DIR:-$REPO_ROOT/../shared/anchors/minimal-aspire}
TICK_LINE='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]+)?([+-][0-9]{2}:[0-9]{2}|Z)'$'\t'
PROJECT_ANSWER=$'\t''(Hello K8s, from CF v[0-9]+ service!|fault filter abort)$'
ANCHOR_ANSWER=$'\t''hello$'
CF_ANSWER=$'\t''Hello K8s, from CF v[0-9]+ service!$'
LOAD_BEFORE=$(load_average)
log "load average before: $LOAD_BEFORE"
require_commands dotnet setsid awk

# build_warm LABEL PROJECT_DIR: an untimed build, retried when another build holds a file.
build_warm() {
  local attempt
  for attempt in 1 2 3 4; do
    log "warm-up build: dotnet build $2 (attempt $attempt)"
    if dotnet build "$2" -nologo -v q -clp:ErrorsOnly >"$WORK/build-$1.log" 2>&1; then return 0; fi
    [ $attempt -lt 4 ] && grep -qiE 'being used by another process|lock|MSB3021|MSB3026|MSB3027' "$WORK/build-$1.log" && { sleep 15; continue; }
    cat "$WORK/build-$1.log" >&2
    die "build of $2 failed"
  done
}

build_warm project "$REPO_ROOT/Demo.AppHost"
ANCHOR_COPY=""
if [ "$ANCHOR" = 1 ]; then
  [ -f "$ANCHOR_DIR/AppHost/AppHost.csproj" ] || die "no anchor at $ANCHOR_DIR (set ANCHOR_DIR, or ANCHOR=0 to measure the project alone)"
  ANCHOR_COPY=$WORK/minimal-aspire
  cp -R "$ANCHOR_DIR" "$ANCHOR_COPY"
  rm -rf "$ANCHOR_COPY"/*/bin "$ANCHOR_COPY"/*/obj
  for settings in "$ANCHOR_COPY"/Svc*/Properties/launchSettings.json; do
    free_port P_SVC
    sed -i -E "s#(\"applicationUrl\" *: *\"http://localhost:)[0-9]+#\1$P_SVC#" "$settings"
  done
  build_warm anchor "$ANCHOR_COPY/AppHost"
fi

APPHOST_PGID=""
stop_apphost() {
  [ -n "$APPHOST_PGID" ] || return 0
  # SIGTERM, not SIGINT: a background job of a script starts with SIGINT ignored, and the AppHost inherits that.
  kill -TERM -- "-$APPHOST_PGID" 2>/dev/null || true
  local deadline=$((SECONDS + 40))
  while kill -0 -- "-$APPHOST_PGID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
  kill -KILL -- "-$APPHOST_PGID" 2>/dev/null || true
  # DCP watches the AppHost and stops the resources it started; give it a moment.
  sleep 3
  APPHOST_PGID=""
}
trap 'stop_apphost; cleanup' EXIT

# measure_start SIDE RUN DIR PROJECT ANSWER_REGEX [APPHOST ARGS...]: one warm start; appends a JSON object to
# FIGURES_<SIDE> and the first-line seconds to SECONDS_<SIDE>.
FIGURES_project=() FIGURES_anchor=() FIGURES_compare=() SECONDS_project=() SECONDS_anchor=() SECONDS_compare=()
CF_SECONDS_project=() CF_SECONDS_compare=() CF_SECONDS_anchor=()
measure_start() {
  local side=$1 run=$2 dir=$3 project=$4 answer=$5
  shift 5
  local run_tmp=$WORK/$side-run$run
  free_port P_DASHBOARD; free_port P_OTLP; free_port P_RESOURCES
  mkdir -p "$run_tmp/tmp"
  local t0 now elapsed first_line="" first_s="" answer_line="" answer_s="" started_s="" first_is_answer=false cf_line="" cf_s=""
  # The anchor has no CF apps: its first answer is all there is to wait for.
  [ "$side" = anchor ] && cf_line=n/a
  t0=$(date +%s.%N)
  # setsid: the AppHost and `dotnet run` get their own process group, stopped together (Ctrl+C's SIGTERM path).
  (cd "$dir" && exec setsid env TMPDIR="$run_tmp/tmp" ASPNETCORE_ENVIRONMENT=Development DOTNET_ENVIRONMENT=Development \
    ASPIRE_ALLOW_UNSECURED_TRANSPORT=true ASPNETCORE_URLS="http://localhost:$P_DASHBOARD" \
    ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL="http://localhost:$P_OTLP" ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL="http://localhost:$P_RESOURCES" \
    dotnet run --project "$project" --no-launch-profile -- "$@") >"$run_tmp/apphost.log" 2>&1 &
  APPHOST_PGID=$!
  while :; do
    now=$(date +%s.%N)
    elapsed=$(calc "$now - $t0")
    if [ -z "$started_s" ] && grep -q 'Distributed application started' "$run_tmp/apphost.log" 2>/dev/null; then started_s=$elapsed; fi
    if [ -z "$first_line" ]; then
      first_line=$(cat "$run_tmp"/tmp/aspire-dcp*/*_out 2>/dev/null | grep -m1 -E "$TICK_LINE" || true)
      [ -n "$first_line" ] && first_s=$elapsed
    fi
    if [ -n "$first_line" ] && [ -z "$answer_line" ]; then
      answer_line=$(cat "$run_tmp"/tmp/aspire-dcp*/*_out 2>/dev/null | grep -E "$TICK_LINE" | grep -m1 -E "$answer" || true)
      [ -n "$answer_line" ] && answer_s=$elapsed
    fi
    if [ -n "$first_line" ] && [ -z "$cf_line" ]; then
      cf_line=$(cat "$run_tmp"/tmp/aspire-dcp*/*_out 2>/dev/null | grep -E "$TICK_LINE" | grep -m1 -E "$CF_ANSWER" || true)
      [ -n "$cf_line" ] && cf_s=$elapsed
    fi
    [ -n "$answer_line" ] && [ -n "$cf_line" ] && break
    kill -0 "$APPHOST_PGID" 2>/dev/null || { tail -n 30 "$run_tmp/apphost.log" >&2; die "the $side AppHost exited"; }
    if awk "BEGIN { exit !($elapsed > $TIMEOUT) }"; then
      log "timeout after ${TIMEOUT}s"
      break
    fi
    sleep 0.1
  done
  grep -qE "$answer" <<<"$first_line" && first_is_answer=true
  # The line's body as JSON text: drop DCP's prefix up to the timestamp, escape quotes and backslashes.
  local body
  body=$(sed -E "s/^.*$TICK_LINE//" <<<"$first_line" | tr -d '\r\t' | sed 's/[\\"]/\\&/g')
  log "$side run $run: AppHost started ${started_s:-n/a}s, first line ${first_s:-n/a}s ($body, answer: $first_is_answer), first answer ${answer_s:-n/a}s, first CF answer (s) ${cf_s:-n/a}"
  local -n figures=FIGURES_$side seconds=SECONDS_$side cf_seconds=CF_SECONDS_$side
  if [ -n "$cf_s" ]; then cf_seconds+=("$cf_s"); fi
  figures+=("{\"run\": $run, \"apphost_started_s\": ${started_s:-null}, \"first_line_s\": ${first_s:-null}, \"first_line\": \"$body\", \"first_line_is_answer\": $first_is_answer, \"first_answer_s\": ${answer_s:-null}, \"first_cf_answer_s\": ${cf_s:-null}, \"load1\": $(cut -d' ' -f1 /proc/loadavg)}")
  if [ -n "$first_s" ]; then seconds+=("$first_s"); fi
  # DCP removes its session folder on shutdown: keep the resources' stdout/stderr for a look afterwards (KEEP_WORK=1).
  cp -R "$run_tmp"/tmp/aspire-dcp* "$run_tmp/dcp" 2>/dev/null || true
  stop_apphost
}

median() {
  [ $# -gt 0 ] || { echo null; return; }
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for run in $(seq 1 "$RUNS"); do
  measure_start project "$run" "$REPO_ROOT" Demo.AppHost "$PROJECT_ANSWER"
  # shellcheck disable=SC2086 # COMPARE_ARGS is a list of words
  if [ -n "$COMPARE_ARGS" ]; then measure_start compare "$run" "$REPO_ROOT" Demo.AppHost "$PROJECT_ANSWER" $COMPARE_ARGS; fi
  if [ "$ANCHOR" = 1 ]; then measure_start anchor "$run" "$ANCHOR_COPY" AppHost "$ANCHOR_ANSWER"; fi
done

PROJECT_MEDIAN=$(median "${SECONDS_project[@]}")
ANCHOR_MEDIAN=$(median "${SECONDS_anchor[@]}")
COMPARE_MEDIAN=$(median "${SECONDS_compare[@]}")
PROJECT_CF_MEDIAN=$(median "${CF_SECONDS_project[@]}")
COMPARE_CF_MEDIAN=$(median "${CF_SECONDS_compare[@]}")
RATIO=null
if [ "$PROJECT_MEDIAN" != null ] && [ "$ANCHOR_MEDIAN" != null ]; then RATIO=$(awk -v p="$PROJECT_MEDIAN" -v a="$ANCHOR_MEDIAN" 'BEGIN { printf "%.2f", p / a }'); fi

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
  "runs": $RUNS,
  "first_line_median_s": {"project": $PROJECT_MEDIAN, "anchor": $ANCHOR_MEDIAN, "ratio_project_to_anchor": $RATIO, "compare": $COMPARE_MEDIAN},
  "first_cf_answer_median_s": {"project": $PROJECT_CF_MEDIAN, "compare": $COMPARE_CF_MEDIAN},
  "compare_args": "$COMPARE_ARGS",
  "apphost_runs": [$(IFS=,; echo "${FIGURES_project[*]}")],
  "anchor_runs": [$(IFS=,; echo "${FIGURES_anchor[*]}")],
  "compare_runs": [$(IFS=,; echo "${FIGURES_compare[*]}")],
  "dotnet_test_s": $TEST_S,
  "dotnet_test_exit": $TEST_EXIT,
  "dotnet_test_summary": "$TEST_SUMMARY"
}
JSON
cat "$OUT"
{
  printf '\n%-10s %s\n' "side" "first line, s (per run; median)"
  printf '%-10s %s; %s   (first CF answer: %s; %s)\n' project "${SECONDS_project[*]:-n/a}" "$PROJECT_MEDIAN" "${CF_SECONDS_project[*]:-n/a}" "$PROJECT_CF_MEDIAN"
  if [ -n "$COMPARE_ARGS" ]; then printf '%-10s %s; %s   (first CF answer: %s; %s)   (project %s)\n' compare "${SECONDS_compare[*]:-n/a}" "$COMPARE_MEDIAN" "${CF_SECONDS_compare[*]:-n/a}" "$COMPARE_CF_MEDIAN" "$COMPARE_ARGS"; fi
  if [ "$ANCHOR" = 1 ]; then printf '%-10s %s; %s\n' anchor "${SECONDS_anchor[*]:-n/a}" "$ANCHOR_MEDIAN"; fi
  printf 'project / anchor: %s   (load before %s, after %s)\n' "$RATIO" "$LOAD_BEFORE" "$(load_average)"
} >&2
echo "results: $OUT"
