#!/usr/bin/env bash
# Scale (issue 17, item 4): N external services in deploy/istio's pattern (bench/Demo.Bench `scale-config`: per service
# two ServiceEntries, two TLS-origination DestinationRules, a sidecar and a gateway VirtualService, one file each; the
# shared subset DestinationRule and the Gateway server listing every host), then for each N:
#   analyze   `Demo.EgressGateway analyze <folder>` (a process each, median of ANALYZE_RUNS): wall time, CPU time
#             (user + system), its findings;
#   start     the gateway's process start -> its first answer through sidecar and gateway (service 0's gateway route
#             aborts every request with 418: no upstream is involved, the answer is the configuration's): wall time and
#             the gateway's CPU time;
#   reload    RELOADS times: service 0's gateway VirtualService rewritten (418 <-> 419, staged and renamed over the file)
#             -> the gateway's "Applied Istio configuration revision" line (written once the revision serves; the log
#             is read from its file, so waiting costs the gateway nothing; the watcher's 150 ms debounce included),
#             then a request must answer the new status: median and max wall time, median CPU time of the gateway;
#   RSS       the gateway's VmRSS after its start and after the reloads;
#   phases    one revision built in a process of its own (`Demo.Bench scale-phases`, the fastest of 3 rounds): the
#             milliseconds of load (YAML -> resources), analyze, translate, check and snapshot, and the managed heap
#             one revision keeps alive.
# On a shared machine the wall times carry everyone's load; the CPU times are the process's own.
# Then the slope per service of each (least squares over every N) and the per-service cost between consecutive N.
# Everything listens on 127.0.0.1; nothing else runs (no CF platform).
#
# usage: bench/scale.sh [N...]   (default: 10 100 1000 3000)
#   env: RELOADS=5  ANALYZE_RUNS=3  MAX_LIST_ITEMS=0 (subsets / Gateway hosts per list; 0: one list each)
#        CONFIGURATION=Release  BENCH_BUILD=1  RESULTS_DIR=bench/results  KEEP_WORK=0
# Exit status: 0 when every N analyzed without an error and every reload was served; speed never fails it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  -h | --help)
    sed -n '2,17p' "$0"
    exit 0
    ;;
esac
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(10 100 1000 3000)
RELOADS=${RELOADS:-5} ANALYZE_RUNS=${ANALYZE_RUNS:-3} MAX_LIST_ITEMS=${MAX_LIST_ITEMS:-0}
GATEWAY_VS=virtual-service-hello-egress.yaml

require_commands curl
LOAD_BEFORE=$(load_average)
log "load average before: $LOAD_BEFORE"
build

now_ms() { date +%s%3N; }
# CPU milliseconds of a process so far (see cpu_ticks/cpu_delta in lib.sh).
cpu_ms() { cpu_ticks "$1"; }
cpu_ms_since() { calc "$(cpu_delta "$2" "$(cpu_ticks "$1")") * 1000 / $HZ"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# The status of one request through the sidecar (Host hello.external) on MESH_PORT; 000 when nothing answers.
mesh_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Host: $IN_MESH_HOST" "http://127.0.0.1:$1/" || true; }

# wait_status PORT STATUS TIMEOUT_S: until a request answers STATUS; prints the time it first did (ms since the epoch).
wait_status() {
  local deadline=$(($(now_ms) + $3 * 1000)) got
  while [ "$(now_ms)" -lt $deadline ]; do
    got=$(mesh_status "$1")
    if [ "$got" = "$2" ]; then
      now_ms
      return 0
    fi
    kill -0 "$PID_egress" 2>/dev/null || { tail -n 40 "$WORK/egress.log" >&2; die "the gateway exited"; }
    sleep 0.02
  done
  tail -n 20 "$WORK/egress.log" >&2
  die "no $2 from the gateway within $3 s (last: $got)"
}

# wait_revision REVISION TIMEOUT_S: until the gateway logs that it applied REVISION; prints when (ms since the epoch).
wait_revision() {
  local deadline=$(($(now_ms) + $2 * 1000))
  while [ "$(now_ms)" -lt $deadline ]; do
    if grep -q "Applied Istio configuration revision $1 " "$WORK/egress.log"; then
      now_ms
      return 0
    fi
    if grep -q "Rejected an Istio configuration change" "$WORK/egress.log"; then
      tail -n 20 "$WORK/egress.log" >&2
      die "the gateway rejected the change"
    fi
    sleep 0.01
  done
  tail -n 20 "$WORK/egress.log" >&2
  die "the gateway did not apply revision $1 within $2 s"
}

mkdir -p "$RESULTS_DIR"
OUT=$RESULTS_DIR/$(date -u +%Y%m%dT%H%M%SZ)-scale.tsv
printf 'services\tresources\tanalyze_ms\tanalyze_cpu_ms\terrors\twarnings\tstart_ms\tstart_cpu_ms\treload_median_ms\treload_max_ms\treload_cpu_ms\trss_start_mb\trss_after_mb\tload1\tload_ms\tanalyze_phase_ms\ttranslate_ms\tcheck_ms\tsnapshot_ms\tretained_mb\n' >"$OUT"
GATEWAY_DLL=$(app_dll Demo.EgressGateway)
STATUS=0
for n in "${COUNTS[@]}"; do
  dir=$WORK/scale-$n
  bench_tool scale-config "$dir" "$n" --fault-status 418 --fault-percent 100 --max-list-items "$MAX_LIST_ITEMS" >/dev/null
  resources=$(find "$dir" -name '*.yaml' | wc -l)

  times=() cpus=()
  for _ in $(seq 1 "$ANALYZE_RUNS"); do
    # bash's time keyword: wall, user and system seconds of the command and its children.
    { TIMEFORMAT='%R %U %S' && time dotnet "$GATEWAY_DLL" analyze "$dir" >"$WORK/analyze-$n.txt" 2>&1 || true; } 2>"$WORK/time.txt"
    read -r wall user sys < <(tail -n 1 "$WORK/time.txt")
    times+=("$(calc "$wall * 1000")") cpus+=("$(calc "($user + $sys) * 1000")")
  done
  analyze_ms=$(printf '%s\n' "${times[@]}" | median)
  analyze_cpu=$(printf '%s\n' "${cpus[@]}" | median)
  summary=$(tail -n 1 "$WORK/analyze-$n.txt")
  errors=$(sed -nE 's/.*: ([0-9]+) error\(s\), ([0-9]+) warning\(s\)$/\1/p' <<<"$summary")
  warnings=$(sed -nE 's/.*: ([0-9]+) error\(s\), ([0-9]+) warning\(s\)$/\2/p' <<<"$summary")
  [ "${errors:-1}" = 0 ] || { log "N=$n: analyze: $summary"; STATUS=1; }
  log "N=$n ($resources resources): analyze ${analyze_ms} ms (${times[*]}), CPU ${analyze_cpu} ms: $summary"

  phases=$(bench_tool scale-phases "$dir" | awk '{ printf "%s\t", $2 }')
  log "N=$n: phases (load analyze translate check snapshot ms, retained MB): $phases"

  free_port P_MESH; free_port P_ADMIN
  t0=$(now_ms)
  start egress "$(dirname "$GATEWAY_DLL")" "${DOTNET_ENV[@]}" \
    EgressGateway__ConfigDirectory="$dir" EgressGateway__AccessLog=false \
    EgressGateway__MeshPort="$P_MESH" EgressGateway__AdminPort="$P_ADMIN" dotnet "$GATEWAY_DLL"
  start_ms=$(($(wait_status "$P_MESH" 418 300) - t0))
  start_cpu=$(cpu_ms_since "$PID_egress" "0 0")
  rss_start=$(rss_kb "$PID_egress")
  log "N=$n: gateway serving after ${start_ms} ms (CPU ${start_cpu} ms), RSS $((rss_start / 1024)) MB"

  reloads=() reload_cpus=()
  status=418
  for i in $(seq 1 "$RELOADS"); do
    sleep 1
    next=$((status == 418 ? 419 : 418))
    sed "s/httpStatus: $status/httpStatus: $next/" "$dir/$GATEWAY_VS" >"$WORK/staged.yaml"
    cpu0=$(cpu_ticks "$PID_egress")
    t0=$(now_ms)
    mv "$WORK/staged.yaml" "$dir/$GATEWAY_VS"
    reloads+=($(($(wait_revision $((i + 1)) 120) - t0)))
    reload_cpus+=("$(cpu_ms_since "$PID_egress" "$cpu0")")
    got=$(mesh_status "$P_MESH")
    [ "$got" = "$next" ] || die "revision $((i + 1)) applied, but the gateway answers $got, not $next"
    status=$next
  done
  revision=$(curl -fsS --max-time 5 "http://127.0.0.1:$P_ADMIN/status" | sed -nE 's/.*"revision":([0-9]+).*/\1/p')
  [ "$revision" = $((RELOADS + 1)) ] || { log "N=$n: revision $revision after $RELOADS reloads"; STATUS=1; }
  reload_median=$(printf '%s\n' "${reloads[@]}" | median)
  reload_max=$(printf '%s\n' "${reloads[@]}" | sort -n | tail -n 1)
  reload_cpu=$(printf '%s\n' "${reload_cpus[@]}" | median)
  rss_after=$(rss_kb "$PID_egress")
  log "N=$n: reloads ${reloads[*]} ms, CPU ${reload_cpus[*]} ms (revision $revision), RSS after $((rss_after / 1024)) MB"
  kill -TERM "$PID_egress"
  wait "$PID_egress" 2>/dev/null || true
  [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$dir"

  printf '%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%.0f\t%s\t%s\t%.0f\t%.1f\t%.1f\t%s\n' "$n" "$resources" "$analyze_ms" "$analyze_cpu" \
    "${errors:-?}" "${warnings:-?}" "$start_ms" "$start_cpu" "$reload_median" "$reload_max" "$reload_cpu" \
    "$(calc "$rss_start / 1024")" "$(calc "$rss_after / 1024")" "$(cut -d' ' -f1 /proc/loadavg)" >"$WORK/row.tsv"
  printf '%s\t%s\n' "$(cat "$WORK/row.tsv")" "${phases%$'\t'}" >>"$OUT"
done

# The table, then per metric: the least-squares slope per service over every N, and the per-service cost of each
# step between consecutive N (equal steps: linear).
awk -F'\t' '
  NR == 1 { next }
  { n[++k] = $1; for (c = 3; c <= 20; c++) v[k, c] = $c; row[k] = $0 }
  END {
    printf "| services | resources | analyze ms (CPU) | errors / warnings | start ms (CPU) | reload ms median / max (CPU) | RSS MB start / after reloads | load1 |\n"
    printf "|---|---|---|---|---|---|---|---|\n"
    for (i = 1; i <= k; i++) { split(row[i], f, "\t")
      printf "| %s | %s | %s (%s) | %s / %s | %s (%s) | %s / %s (%s) | %s / %s | %s |\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13], f[14] }
    printf "\n| services | load ms | analyze ms | translate ms | check ms | snapshot ms | retained MB |\n|---|---|---|---|---|---|---|\n"
    for (i = 1; i <= k; i++) { split(row[i], f, "\t")
      printf "| %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[15], f[16], f[17], f[18], f[19], f[20] }
    printf "\n"
    split("3 4 7 8 9 11 12 13 15 16 17 19 20", cols, " ")
    split("analyze_ms analyze_cpu_ms start_ms start_cpu_ms reload_median_ms reload_cpu_ms rss_start_mb rss_after_mb load_ms analyze_phase_ms translate_ms snapshot_ms retained_mb", names, " ")
    for (m = 1; m <= 13; m++) { c = cols[m]; sx = sy = sxx = sxy = 0
      for (i = 1; i <= k; i++) { sx += n[i]; sy += v[i, c]; sxx += n[i] * n[i]; sxy += n[i] * v[i, c] }
      slope = k > 1 ? (k * sxy - sx * sy) / (k * sxx - sx * sx) : 0
      steps = ""
      for (i = 2; i <= k; i++) steps = steps sprintf(" %s->%s: %.4f", n[i - 1], n[i], (v[i, c] - v[i - 1, c]) / (n[i] - n[i - 1]))
      printf "%-17s slope %.4f per service (intercept %.1f); per step:%s\n", names[m], slope, (sy - slope * sx) / k, steps }
  }' "$OUT"
log "load average before: $LOAD_BEFORE, after: $(load_average)"
echo "results: $OUT"
exit $STATUS
