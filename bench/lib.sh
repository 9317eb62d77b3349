#!/usr/bin/env bash
# Shared by bench/run.sh and bench/soak.sh (sourced, not run): build, certificates, free ports, starting and
# stopping the processes under test, and reading CPU/RSS from /proc. Everything listens on 127.0.0.1 only.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
CONFIGURATION=${CONFIGURATION:-Release}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
V1_HOST=hello-istio-v1.apps.example.com
V2_HOST=hello-istio-v2.apps.example.com
APPS_DOMAIN_WILDCARD='*.apps.example.com'
IN_MESH_HOST=hello.external
HZ=$(getconf CLK_TCK)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/demo-bench.XXXXXX")
STARTED_PIDS=()
USED_PORTS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# Stops exactly the processes this script started (nginx's master takes its workers along), then removes the temp dir.
cleanup() {
  local pid deadline
  for pid in "${STARTED_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + 15))
  for pid in "${STARTED_PIDS[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_WORK:-0}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Fails, naming each missing command and how to install it. Nothing is installed from here (so never from inside
# `dotnet test`): .ci/run installs nginx and wrk on a fresh machine; by hand: sudo apt-get install nginx wrk.
require_commands() {
  local missing=() cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "bench: missing ${missing[*]}: install with: sudo apt-get update && sudo apt-get install -y ${missing[*]} (.ci/run does this)" >&2
  exit 3
}

nginx_bin() { command -v nginx 2>/dev/null || echo /usr/sbin/nginx; }

# Builds what the benchmark runs. BENCH_BUILD=0 skips it (the test suite uses the Debug outputs it just built).
build() {
  if [ "${BENCH_BUILD:-1}" = 0 ]; then
    log "build skipped (BENCH_BUILD=0), using the $CONFIGURATION outputs"
  else
    local attempt
    for attempt in 1 2 3 4; do
      log "dotnet build bench/bench.slnx -c $CONFIGURATION (attempt $attempt)"
      if dotnet build "$BENCH_DIR/bench.slnx" -c "$CONFIGURATION" -nologo -v q -clp:ErrorsOnly >"$WORK/build.log" 2>&1; then
        break
      fi
      # Others build in this tree at the same time: a locked file is worth a retry, anything else is not.
      if [ $attempt -lt 4 ] && grep -qiE 'being used by another process|lock|MSB3021|MSB3026|MSB3027' "$WORK/build.log"; then
        sleep 15
        continue
      fi
      cat "$WORK/build.log" >&2
      die "build failed"
    done
  fi
  local dll
  for dll in "$(app_dll Demo.CfApps)" "$(app_dll Demo.CfRouter)" "$(app_dll Demo.EgressGateway)" "$(app_dll Demo.Proxy)" "$(bench_dll)"; do
    [ -f "$dll" ] || die "$dll is missing: build first (or unset BENCH_BUILD)"
  done
}

app_dll() { echo "$REPO_ROOT/$1/bin/$CONFIGURATION/net10.0/$1.dll"; }
bench_dll() { echo "$BENCH_DIR/Demo.Bench/bin/$CONFIGURATION/net10.0/Demo.Bench.dll"; }
bench_tool() { dotnet "$(bench_dll)" "$@"; }

# A CA and the apps domain's wildcard certificate (the CF router's), in the temp dir: sets CA_PEM, ROUTER_CERT/ROUTER_KEY.
make_certificates() {
  local host cert key
  while read -r host cert key; do
    case $host in
      ca) CA_PEM=$cert ;;
      "$APPS_DOMAIN_WILDCARD") ROUTER_CERT=$cert ROUTER_KEY=$key ;;
    esac
  done < <(bench_tool certs "$WORK/certs" "$APPS_DOMAIN_WILDCARD")
  [ -n "${CA_PEM:-}" ] && [ -n "${ROUTER_CERT:-}" ] || die "certificate helper failed"
}

# free_port VAR: a random port on 127.0.0.1 (and ::1) that nothing listens on, below the ephemeral range.
free_port() {
  local port _
  for _ in $(seq 1 500); do
    port=$((20000 + RANDOM % 12000))
    [[ " ${USED_PORTS[*]} " == *" $port "* ]] && continue
    if command -v ss >/dev/null 2>&1; then
      [ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ] && continue
    elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      continue
    fi
    USED_PORTS+=("$port")
    printf -v "$1" '%s' "$port"
    return 0
  done
  die "no free port found"
}

# start NAME DIR COMMAND...: runs COMMAND in DIR in the background, output to $WORK/NAME.log; sets PID_<NAME>.
start() {
  local name=$1 dir=$2
  shift 2
  (cd "$dir" && exec "$@") >"$WORK/$name.log" 2>&1 &
  local pid=$!
  STARTED_PIDS+=("$pid")
  printf -v "PID_${name//-/_}" '%s' "$pid"
}

# wait_http NAME URL [SECONDS] [curl args...]: until URL answers 2xx; fails early when NAME's process died.
wait_http() {
  local name=$1 url=$2 timeout=${3:-60}
  shift 3 || shift $#
  local pidvar="PID_${name//-/_}" deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt $deadline ]; do
    if curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null; then
      return 0
    fi
    kill -0 "${!pidvar}" 2>/dev/null || { tail -n 40 "$WORK/$name.log" >&2; die "$name exited during start"; }
    sleep 0.2
  done
  tail -n 40 "$WORK/$name.log" >&2
  die "$name did not answer $url within ${timeout}s"
}

# A clean environment for the .NET processes: no OTLP export, no inherited URLs, Production settings.
DOTNET_ENV=(env -u OTEL_EXPORTER_OTLP_ENDPOINT -u ASPNETCORE_URLS -u ASPNETCORE_HTTP_PORTS -u ASPNETCORE_HTTPS_PORTS
  ASPNETCORE_ENVIRONMENT=Production DOTNET_ENVIRONMENT=Production)

# start_cf_platform [LOG_LEVEL]: the local Cloud Foundry platform as the AppHost runs it — the CF router (HTTPS for
# the apps domain with one wildcard certificate, gorouter's job) and one instance of each app on plain HTTP ($PORT)
# that registers its route with the router. Sets P_ROUTER (HTTPS: what DNS gives for every CF host),
# P_ROUTER_STATUS, P_V1 and P_V2 (the apps' $PORT). LOG_LEVEL (default Information) is the router's and the apps'
# default log level: Warning turns their per-request lines off. Wait with wait_cf_platform.
start_cf_platform() {
  local level=${1:-Information} dll
  free_port P_ROUTER; free_port P_ROUTER_STATUS; free_port P_V1; free_port P_V2
  dll=$(app_dll Demo.CfRouter)
  start cf-router "$(dirname "$dll")" "${DOTNET_ENV[@]}" \
    CfRouter__HttpsPort="$P_ROUTER" CfRouter__StatusPort="$P_ROUTER_STATUS" \
    CfRouter__CertificatePath="$ROUTER_CERT" CfRouter__CertificateKeyPath="$ROUTER_KEY" \
    Logging__LogLevel__Default="$level" dotnet "$dll"
  start_cf_app cf-v1 v1 "$V1_HOST" "$P_V1" "$level"
  start_cf_app cf-v2 v2 "$V2_HOST" "$P_V2" "$level"
}

# start_cf_app NAME VERSION ROUTE PORT LOG_LEVEL
start_cf_app() {
  local dll
  dll=$(app_dll Demo.CfApps)
  start "$1" "$(dirname "$dll")" "${DOTNET_ENV[@]}" \
    PORT="$4" CfApp__Version="$2" CfApp__Routes__0="$3" \
    CfApp__RouteRegistrar__RouterUrl="http://127.0.0.1:$P_ROUTER_STATUS" CfApp__RouteRegistrar__App="hello-istio-$2" \
    Logging__LogLevel__Default="$5" dotnet "$dll"
}

# Until the router, both apps and both routes are up (the apps register within a second of their start).
wait_cf_platform() {
  local deadline=$((SECONDS + 90)) routes
  wait_http cf-router "http://127.0.0.1:$P_ROUTER_STATUS/health" 90
  wait_http cf-v1 "http://127.0.0.1:$P_V1/health" 90
  wait_http cf-v2 "http://127.0.0.1:$P_V2/health" 90
  while [ $SECONDS -lt $deadline ]; do
    routes=$(curl -fsS --max-time 2 "http://127.0.0.1:$P_ROUTER_STATUS/routes" 2>/dev/null || true)
    if [[ $routes == *":$P_V1"* && $routes == *":$P_V2"* ]]; then
      return 0
    fi
    sleep 0.2
  done
  die "the CF router did not route both apps within 90 s: $routes"
}

# A copy of deploy/istio with every fault percentage at 0 and the weights of hello.external at 50/50.
make_istio_config() {
  local target=$WORK/istio
  mkdir -p "$target"
  cp -R "$REPO_ROOT/deploy/istio/." "$target/"
  local file
  for file in "$target"/*.yaml; do
    awk '
      { if (pct && $0 ~ /^[[:space:]]*value:/) sub(/value:.*/, "value: 0")
        pct = ($0 ~ /percentage:[[:space:]]*$/)
        sub(/weight:[[:space:]]*[0-9]+/, "weight: 50")
        print }
    ' "$file" >"$file.tmp" && mv "$file.tmp" "$file"
  done
  if [ "${CONNECTION_PER_REQUEST:-0}" = 1 ]; then
    # Every DestinationRule's port-level policy gets maxRequestsPerConnection: 1 (Envoy's max_requests_per_connection),
    # so each request opens its own TLS connections (the hop and the one to the CF app): what a retry storm costs.
    for file in "$target"/destination-rule-*.yaml; do
      awk '/^[[:space:]]*tls:[[:space:]]*$/ { ind = substr($0, 1, match($0, /[^ ]/) - 1)
             print ind "connectionPool:"; print ind "  http:"; print ind "    maxRequestsPerConnection: 1" }
           { print }' "$file" >"$file.tmp" && mv "$file.tmp" "$file"
    done
  fi
  if grep -A1 -h 'percentage:' "$target"/*.yaml | grep -E 'value:' | grep -vqE 'value: 0$'; then
    die "could not set the fault percentages to 0 in $target"
  fi
  ISTIO_DIR=$target
}

# start_gateway MESH_PORT ADMIN_PORT [extra env...]: both CF hosts resolve to the CF router's HTTPS port.
start_gateway() {
  local dll mesh=$1 admin=$2
  shift 2
  dll=$(app_dll Demo.EgressGateway)
  start egress "$(dirname "$dll")" "${DOTNET_ENV[@]}" \
    EgressGateway__ConfigDirectory="$ISTIO_DIR" EgressGateway__WatchConfiguration=false \
    EgressGateway__TrustedCaPath="$CA_PEM" \
    "EgressGateway__Upstreams__$V1_HOST=127.0.0.1:$P_ROUTER" "EgressGateway__Upstreams__$V2_HOST=127.0.0.1:$P_ROUTER" \
    EgressGateway__MeshPort="$mesh" EgressGateway__AdminPort="$admin" \
    "$@" dotnet "$dll"
}

# CPU time of the given processes in clock ticks (USER_HZ), as "SCHED STAT": SCHED with nanosecond precision, the sum
# of every live thread's /proc/<pid>/task/<tid>/schedstat run time (utime+stime counts whole 10 ms ticks, and a short
# smoke run of nginx can stay under one), which loses the time of threads that exit; STAT, utime+stime of
# /proc/<pid>/stat, which keeps exited threads' time. Take differences with cpu_delta.
cpu_ticks() {
  local pid line fields total_ns=0 stat_ticks=0 f ns rest
  for pid in "$@"; do
    if read -r line <"/proc/$pid/stat" 2>/dev/null; then
      read -r -a fields <<<"${line##*) }"
      stat_ticks=$((stat_ticks + fields[11] + fields[12]))
    fi
    for f in /proc/"$pid"/task/*/schedstat; do
      read -r ns rest <"$f" 2>/dev/null || continue
      total_ns=$((total_ns + ns))
    done
  done
  awk -v ns="$total_ns" -v hz="$HZ" -v st="$stat_ticks" 'BEGIN { printf "%.4f %d\n", ns * hz / 1e9, st }'
}

# cpu_delta "SCHED0 STAT0" "SCHED1 STAT1": clock ticks used between two cpu_ticks readings — the larger of the two
# differences: the schedstat one unless threads exited in between (it then drops, even below zero, seen with .NET's
# thread pool retiring threads), the stat one is never negative and short by under a tick per thread.
cpu_delta() {
  awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " "); d1 = y[1] - x[1]; d2 = y[2] - x[2]; printf "%.4f\n", (d1 > d2 ? d1 : d2) }'
}

# Sum of VmRSS (kB) of the given processes.
rss_kb() {
  local total=0 pid kb
  for pid in "$@"; do
    kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

# Busy and total clock ticks of the whole machine (all cores), from /proc/stat.
machine_ticks() {
  local _ user nice system idle iowait irq softirq steal
  read -r _ user nice system idle iowait irq softirq steal _ </proc/stat
  echo "$((user + nice + system + irq + softirq + steal)) $((user + nice + system + irq + softirq + steal + idle + iowait))"
}

children_of() {
  awk -v parent="$1" '{ line = $0; sub(/.*\) /, "", line); split(line, f, " "); if (f[2] == parent) { split(FILENAME, p, "/"); print p[3] } }' \
    /proc/[0-9]*/stat 2>/dev/null || true
}

load_average() { cut -d' ' -f1-3 /proc/loadavg; }

calc() { awk "BEGIN { printf \"%.4f\", $* }"; }

# The common start of every bench script: build, certificates, the generated Istio config, the CF platform and the
# gateway on free ports (P_ROUTER, P_MESH, P_ADMIN, ...). CF_LOG_LEVEL is the platform's log level (see
# start_cf_platform); extra arguments are settings for the gateway.
start_cf_platform_and_gateway() {
  build
  make_certificates
  make_istio_config
  start_cf_platform "${CF_LOG_LEVEL:-Information}"
  free_port P_MESH; free_port P_ADMIN
  start_gateway "$P_MESH" "$P_ADMIN" "$@"
}
