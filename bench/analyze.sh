#!/usr/bin/env bash
# `analyze` of N generated external services (issue 17, item 4; bench/Demo.Bench `scale-config`, deploy/istio's
# pattern, one file per resource), as two builds of the same gateway run it, in turns, RUNS times each:
#   build       `dotnet Demo.EgressGateway.dll analyze <folder>` from `dotnet build -c Release` (JIT-compiled);
#   published   `<dir>/Demo.EgressGateway analyze <folder>` from `dotnet publish -c Release -r linux-x64
#               -p:PublishReadyToRun=true` (precompiled: how docs/analyzer.md runs it in CI).
# For each: median, lowest and highest wall time, median CPU time (user + system), the findings' summary line.
# On a shared machine the wall times carry everyone's load; the CPU times are the process's own.
#
# usage: bench/analyze.sh [N...]   (default: 10 1000)
#   env: RUNS=5  CONFIGURATION=Release  BENCH_BUILD=1  RESULTS_DIR=bench/results
# Exit status: 0 when every run reported no error; speed never fails it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
  -h | --help)
    sed -n '2,12p' "$0"
    exit 0
    ;;
esac
COUNTS=("$@")
[ ${#COUNTS[@]} -gt 0 ] || COUNTS=(10 1000)
RUNS=${RUNS:-5}
STATUS=0

log "load average before: $(load_average)"
build
PUBLISHED="$WORK/published"
log "dotnet publish Demo.EgressGateway -c $CONFIGURATION -r linux-x64 -p:PublishReadyToRun=true"
dotnet publish "$REPO_ROOT/Demo.EgressGateway" -c "$CONFIGURATION" -r linux-x64 --self-contained false \
  -p:PublishReadyToRun=true -o "$PUBLISHED" -nologo -v q -clp:ErrorsOnly >"$WORK/publish.log" 2>&1 \
  || die "publish failed: $(tail -n 20 "$WORK/publish.log")"
declare -A COMMANDS=([build]="dotnet $(app_dll Demo.EgressGateway)" [published]="$PUBLISHED/Demo.EgressGateway")

stats() { sort -n | awk '{ v[NR] = $1 } END { printf "%.0f\t%.0f\t%.0f\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }'; }

mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/analyze-$(date +%Y%m%d-%H%M%S).tsv"
printf 'services\tresources\tbuild\twall_median_ms\twall_min_ms\twall_max_ms\tcpu_median_ms\tsummary\n' >"$OUT"
for n in "${COUNTS[@]}"; do
  dir="$WORK/s$n"
  bench_tool scale-config "$dir" "$n" --fault-status 418 --fault-percent 100 --max-list-items 0 >/dev/null
  resources=$(find "$dir" -name '*.yaml' | wc -l)
  declare -A WALLS=() CPUS=() SUMMARIES=()
  for _ in $(seq 1 "$RUNS"); do
    for kind in build published; do
      # bash's time keyword: wall, user and system seconds of the command and its children.
      { TIMEFORMAT='%R %U %S' && time ${COMMANDS[$kind]} analyze "$dir" >"$WORK/analyze.txt" 2>&1 || true; } 2>"$WORK/time.txt"
      read -r wall user sys < <(tail -n 1 "$WORK/time.txt")
      WALLS[$kind]+="$(calc "$wall * 1000") " CPUS[$kind]+="$(calc "($user + $sys) * 1000") "
      SUMMARIES[$kind]=$(tail -n 1 "$WORK/analyze.txt")
      grep -qE ': 0 error\(s\)' <<<"${SUMMARIES[$kind]}" || { log "N=$n ($kind): ${SUMMARIES[$kind]}"; STATUS=1; }
    done
  done
  for kind in build published; do
    read -r median low high < <(tr ' ' '\n' <<<"${WALLS[$kind]}" | grep . | stats)
    cpu=$(tr ' ' '\n' <<<"${CPUS[$kind]}" | grep . | stats | cut -f1)
    log "N=$n ($resources resources), $kind: wall ${median} ms (${low}-${high}), CPU ${cpu} ms: ${SUMMARIES[$kind]}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$resources" "$kind" "$median" "$low" "$high" "$cpu" "${SUMMARIES[$kind]}" >>"$OUT"
  done
done
log "load average after: $(load_average)"
column -t -s $'\t' "$OUT"
log "results: $OUT"
exit $STATUS
