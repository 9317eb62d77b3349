#!/usr/bin/env bash
# The egress path, measured against nginx doing the same job, on 127.0.0.1 only, in one run:
#   build (Release) -> a CA and the apps domain's certificate -> the CF platform (the CF router on HTTPS, two CF apps
#   v1 and v2 behind it, request logs off) -> the local egress gateway
#   (a copy of deploy/istio with faults at 0%, weights 50/50, access log off; its sidecar and gateway proxies with the
#   mTLS hop between them) -> nginx with a generated config for the identical job in one hop (`nginx`), and two nginx
#   chained as the two proxies are (`nginx2`: a sidecar nginx, HTTP in, the 50/50 split, TLS with a mesh client
#   certificate out; a gateway nginx, TLS in requiring that certificate, TLS origination out) -> wrk against each path
#   (direct HTTPS to the CF router for cf-v1, nginx, nginx2, the gateway) in interleaved rounds, sampling CPU and RSS of each process
#   from /proc -> a table, and the same as JSON in bench/results/.
#
# usage: bench/run.sh [--smoke]
#   env: DURATION=15 (s per measured run)  CONNECTIONS=32  THREADS=2  ROUNDS=3  WARMUP=5 (s per path, once)
#        NGINX_WORKERS=2  CONFIGURATION=Release  BENCH_BUILD=1  RESULTS_DIR=bench/results  KEEP_WORK=0
#   --smoke: 1 round of ~300 requests per path at 4 connections, no warm-up (the test suite's plumbing check).
# Exit status: 0 when every path answered every request with 2xx; non-zero otherwise. Speed never fails it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SMOKE=0
case "${1:-}" in
  --smoke) SMOKE=1 ;;
  "") ;;
  -h | --help)
    sed -n '2,15p' "$0"
    exit 0
    ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac
if [ $SMOKE = 1 ]; then
  # wrk runs the whole duration even when its threads stop early; 3 s leaves a loaded machine room for 300 requests.
  DURATION=${DURATION:-3} CONNECTIONS=${CONNECTIONS:-4} THREADS=${THREADS:-1} ROUNDS=${ROUNDS:-1} WARMUP=${WARMUP:-0}
  MAX_REQUESTS_PER_THREAD=${MAX_REQUESTS_PER_THREAD:-300}
else
  DURATION=${DURATION:-15} CONNECTIONS=${CONNECTIONS:-32} THREADS=${THREADS:-2} ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-5}
  MAX_REQUESTS_PER_THREAD=${MAX_REQUESTS_PER_THREAD:-}
fi
NGINX_WORKERS=${NGINX_WORKERS:-2}
[ "$THREADS" -le "$CONNECTIONS" ] || THREADS=$CONNECTIONS

require_commands nginx wrk curl
LOAD_BEFORE=$(load_average)
log "load average before: $LOAD_BEFORE"
# GATEWAY_ENV: extra environment for the gateway only, e.g. GATEWAY_ENV="DOTNET_gcServer=0" to compare GC settings.
# shellcheck disable=SC2086
CF_LOG_LEVEL=Warning start_cf_platform_and_gateway EgressGateway__AccessLog=false ${GATEWAY_ENV:-}
free_port P_NGINX
free_port P_NGINX_SC
free_port P_NGINX_GW

# Every nginx here has its own prefix, pid, logs and temp paths, and runs as the current user.
USER_LINE=""
[ "$(id -u)" -eq 0 ] && USER_LINE="user $(id -un) $(id -gn);"
nginx_conf() { # DIR: the top of an nginx.conf, up to the inside of its http block (left open)
  mkdir -p "$1/tmp"
  cat <<TOP
$USER_LINE
worker_processes $NGINX_WORKERS;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1/tmp/body;
  proxy_temp_path $1/tmp/proxy;
  fastcgi_temp_path $1/tmp/fastcgi;
  uwsgi_temp_path $1/tmp/uwsgi;
  scgi_temp_path $1/tmp/scgi;
  keepalive_requests 1000000;
TOP
}
cf_upstreams() { # the two CF hosts as keep-alive pools (one each, as Envoy has a cluster each), both at the CF router
  cat <<UPSTREAMS
  upstream cf_v1 { server 127.0.0.1:$P_ROUTER; keepalive 64; keepalive_requests 1000000; }
  upstream cf_v2 { server 127.0.0.1:$P_ROUTER; keepalive 64; keepalive_requests 1000000; }
UPSTREAMS
}
tls_origination() { # PASS HOST: proxy_pass to PASS over TLS, SNI and Host = HOST, verified against the local CA
  cat <<LOCATION
      proxy_pass $1;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $2;
      proxy_ssl_server_name on;
      proxy_ssl_name $2;
      proxy_ssl_verify on;
      proxy_ssl_verify_depth 2;
      proxy_ssl_trusted_certificate $CA_PEM;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;
LOCATION
}
SPLIT='  split_clients "${request_id}" $cf_version { 50% v1; * v2; }'
HOSTS="  map \$cf_version \$cf_host { v1 $V1_HOST; v2 $V2_HOST; }"

SC=$WORK/nginx-sc GW=$WORK/nginx-gw
mkdir -p "$WORK/nginx" "$SC" "$GW"

# nginx: HTTP in, split_clients 50/50, Host per upstream, HTTPS out with SNI = host, verified against the CA,
# keep-alive pools to the upstreams.
{
  nginx_conf "$WORK/nginx"
  echo "$SPLIT"
  echo "$HOSTS"
  cf_upstreams
  echo "  server {"
  echo "    listen 127.0.0.1:$P_NGINX;"
  echo "    location / {"
  tls_origination 'https://cf_$cf_version' '$cf_host'
  echo "    }"
  echo "  }"
  echo "}"
} >"$WORK/nginx/nginx.conf"
start nginx "$WORK/nginx" "$(nginx_bin)" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log"

# nginx2, the two proxies as nginx. Mesh certificates from the gateway's own CA kind (URI SAN only). The sidecar nginx
# does not verify the gateway's certificate: nginx checks a peer's name against DNS names only, and a workload
# certificate carries none (Envoy checks the chain and the SPIFFE SAN); on keep-alive pools handshakes are rare.
while read -r name cert key; do
  case $name in
    ca) MESH_CA=$cert ;;
    demo/proxy) SIDECAR_CERT=$cert SIDECAR_KEY=$key ;;
    istio-system/istio-egressgateway-service-account) EGRESS_CERT=$cert EGRESS_KEY=$key ;;
  esac
done < <(bench_tool mesh-certs "$WORK/mesh-certs" demo/proxy istio-system/istio-egressgateway-service-account)
[ -n "${MESH_CA:-}" ] && [ -n "${SIDECAR_CERT:-}" ] && [ -n "${EGRESS_CERT:-}" ] || die "mesh certificate helper failed"
{
  nginx_conf "$SC"
  echo "$SPLIT"
  echo "$HOSTS"
  cat <<NGINX
  upstream egress_gateway { server 127.0.0.1:$P_NGINX_GW; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$P_NGINX_SC;
    location / {
      proxy_pass https://egress_gateway;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$cf_host;
      proxy_ssl_server_name on;
      proxy_ssl_name \$cf_host;
      proxy_ssl_certificate $SIDECAR_CERT;
      proxy_ssl_certificate_key $SIDECAR_KEY;
      proxy_ssl_protocols TLSv1.2 TLSv1.3;
      proxy_ssl_session_reuse on;
    }
  }
}
NGINX
} >"$SC/nginx.conf"
{
  nginx_conf "$GW"
  echo "  map \$host \$cf_upstream { $V1_HOST cf_v1; $V2_HOST cf_v2; }"
  cf_upstreams
  cat <<NGINX
  server {
    listen 127.0.0.1:$P_NGINX_GW ssl;
    ssl_certificate $EGRESS_CERT;
    ssl_certificate_key $EGRESS_KEY;
    ssl_client_certificate $MESH_CA;
    ssl_verify_client on;
    ssl_verify_depth 2;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
NGINX
  tls_origination 'https://$cf_upstream' '$host'
  echo "    }"
  echo "  }"
  echo "}"
} >"$GW/nginx.conf"
start nginx-gw "$GW" "$(nginx_bin)" -p "$GW" -c "$GW/nginx.conf" -e "$GW/error.log"
start nginx-sc "$SC" "$(nginx_bin)" -p "$SC" -c "$SC/nginx.conf" -e "$SC/error.log"

wait_cf_platform
wait_http egress "http://127.0.0.1:$P_ADMIN/health" 90
wait_http nginx "http://127.0.0.1:$P_NGINX/" 30 -H "Host: $IN_MESH_HOST"
wait_http nginx-gw "https://127.0.0.1:$P_NGINX_GW/" 30 -k --cert "$SIDECAR_CERT" --key "$SIDECAR_KEY" -H "Host: $V1_HOST"
wait_http nginx-sc "http://127.0.0.1:$P_NGINX_SC/" 30 -H "Host: $IN_MESH_HOST"

# Each path must answer with the CF app's greeting, and the two proxies must reach both versions.
check_path() {
  local name=$1 url=$2 host=$3 want=$4 bodies i
  bodies=$(for i in $(seq 1 40); do curl -sS --max-time 5 -k -H "Host: $host" "$url" || true; echo; done)
  for version in $want; do
    grep -q "from CF $version service" <<<"$bodies" || die "$name: no answer from CF $version in 40 requests; got: $(sort <<<"$bodies" | uniq -c | head -5)"
  done
}
check_path direct "https://127.0.0.1:$P_ROUTER/" "$V1_HOST" "v1"
check_path nginx "http://127.0.0.1:$P_NGINX/" "$IN_MESH_HOST" "v1 v2"
check_path nginx2 "http://127.0.0.1:$P_NGINX_SC/" "$IN_MESH_HOST" "v1 v2"
check_path gateway "http://127.0.0.1:$P_MESH/" "$IN_MESH_HOST" "v1 v2"
log "all paths answer (nginx pids: $PID_nginx $(children_of "$PID_nginx" | tr '\n' ' '))"

path_url() {
  case $1 in
    direct) echo "https://127.0.0.1:$P_ROUTER/" ;;
    nginx) echo "http://127.0.0.1:$P_NGINX/" ;;
    nginx2) echo "http://127.0.0.1:$P_NGINX_SC/" ;;
    gateway) echo "http://127.0.0.1:$P_MESH/" ;;
  esac
}
path_host() { if [ "$1" = direct ]; then echo "$V1_HOST"; else echo "$IN_MESH_HOST"; fi; }
path_pids() {
  case $1 in
    nginx) echo "$PID_nginx" $(children_of "$PID_nginx") ;;
    nginx2) echo "$PID_nginx_sc" $(children_of "$PID_nginx_sc") "$PID_nginx_gw" $(children_of "$PID_nginx_gw") ;;
    gateway) echo "$PID_egress" ;;
  esac
}

run_wrk() { # DURATION PATH: wrk, then the CPU time it used (the subshell's children times)
  (
    WRK_MAX_REQUESTS_PER_THREAD=$MAX_REQUESTS_PER_THREAD wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1s" --latency \
      -s "$BENCH_DIR/wrk-report.lua" -H "Host: $(path_host "$2")" "$(path_url "$2")"
    times
  )
}

RAW=$WORK/raw.tsv
: >"$RAW"
measure() { # PATH ROUND
  local path=$1 round=$2 proxy_pids upstream_pids cpu0 up0 m0 t0 wpid rss rss_max=0 cpu1 up1 m1 t1 figures wrk_cpu
  read -r -a proxy_pids <<<"$(path_pids "$path")"
  upstream_pids=("$PID_cf_router" "$PID_cf_v1" "$PID_cf_v2")
  cpu0=$(cpu_ticks "${proxy_pids[@]}")
  up0=$(cpu_ticks "${upstream_pids[@]}")
  m0=$(machine_ticks)
  t0=$(date +%s.%N)
  run_wrk "$DURATION" "$path" >"$WORK/wrk.out" 2>&1 &
  wpid=$!
  while kill -0 "$wpid" 2>/dev/null; do
    if [ ${#proxy_pids[@]} -gt 0 ]; then
      rss=$(rss_kb "${proxy_pids[@]}")
      [ "$rss" -gt "$rss_max" ] && rss_max=$rss
    fi
    sleep 0.25
  done
  wait "$wpid" || { cat "$WORK/wrk.out" >&2; die "wrk failed on $path"; }
  t1=$(date +%s.%N)
  cpu1=$(cpu_ticks "${proxy_pids[@]}")
  up1=$(cpu_ticks "${upstream_pids[@]}")
  m1=$(machine_ticks)
  figures=$(grep '^requests=' "$WORK/wrk.out") || { cat "$WORK/wrk.out" >&2; die "no figures from wrk on $path"; }
  # `times` prints the subshell's own times, then its children's (wrk): "0m1.234s 0m0.567s".
  wrk_cpu=$(tail -n 1 "$WORK/wrk.out" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.3f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
  local line="path=$path round=$round $figures wall_s=$(calc "$t1 - $t0")"
  if [ ${#proxy_pids[@]} -gt 0 ]; then
    line+=" proxy_cpu_s=$(calc "$(cpu_delta "$cpu0" "$cpu1") / $HZ") proxy_rss_kb=$rss_max proxy_processes=${#proxy_pids[@]}"
  fi
  read -r mb0 mt0 <<<"$m0"
  read -r mb1 mt1 <<<"$m1"
  line+=" upstream_cpu_s=$(calc "$(cpu_delta "$up0" "$up1") / $HZ") wrk_cpu_s=$wrk_cpu"
  line+=" machine_busy=$(calc "($mb1 - $mb0) / ($mt1 - $mt0) * $(nproc)") load1=$(cut -d' ' -f1 /proc/loadavg)"
  echo "$line" >>"$RAW"
  log "round $round $path: $(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(rps|p50_us|p99_us|errors|proxy_cpu_s|wall_s)=/) printf "%s ", $i }' <<<"$line")"
}

PATHS=(direct nginx nginx2 gateway)
if [ "$WARMUP" -gt 0 ]; then
  for path in "${PATHS[@]}"; do
    log "warm-up $path ${WARMUP}s"
    MAX_REQUESTS_PER_THREAD="" run_wrk "$WARMUP" "$path" >/dev/null 2>&1 || die "wrk warm-up failed on $path"
  done
fi
for round in $(seq 1 "$ROUNDS"); do
  # Interleaved, and the order rotates so that no path always runs first or last.
  for i in "${!PATHS[@]}"; do
    measure "${PATHS[$(((i + round - 1) % ${#PATHS[@]}))]}" "$round"
  done
done

mkdir -p "$RESULTS_DIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
MODE=full
[ $SMOKE = 1 ] && MODE=smoke
OUT=$RESULTS_DIR/$STAMP-$MODE.json
COMMIT=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$REPO_ROOT" status --porcelain --untracked-files=no -- Demo.EgressGateway Demo.CfApps 2>/dev/null | wc -l)
bench_tool report --raw "$RAW" --out "$OUT" \
  --meta "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" --meta "commit=$COMMIT" --meta "gateway_files_modified=$DIRTY" \
  --meta "mode=$MODE" --meta "configuration=$CONFIGURATION" \
  --meta "duration_s=$DURATION" --meta "warmup_s=$WARMUP" --meta "connections=$CONNECTIONS" --meta "threads=$THREADS" \
  --meta "rounds=$ROUNDS" --meta "nginx_workers=$NGINX_WORKERS" --meta "cores=$(nproc)" \
  --meta "load_before=$LOAD_BEFORE" --meta "load_after=$(load_average)" \
  --meta "nginx=$("$(nginx_bin)" -v 2>&1 | sed 's/.*: //')" --meta "dotnet=$(dotnet --version)"
log "load average after: $(load_average)"
echo "results: $OUT"
ERRORS=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^errors=/) { split($i, kv, "="); n += kv[2] } } END { print n + 0 }' "$RAW")
[ "$ERRORS" -eq 0 ] || die "$ERRORS requests failed (non-2xx or socket errors): see the JSON"
