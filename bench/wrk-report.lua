-- wrk script for bench/run.sh: prints one line of key=value figures when the run is done, so the script does not
-- parse wrk's human output. With WRK_MAX_REQUESTS_PER_THREAD set (smoke runs), each thread stops after that many
-- responses.
local limit = tonumber(os.getenv("WRK_MAX_REQUESTS_PER_THREAD") or "")
if limit then
  local count = 0
  function response(status, headers, body)
    count = count + 1
    if count >= limit then
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "requests=%d duration_us=%d rps=%.1f p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f "
      .. "errors=%d errors_connect=%d errors_read=%d errors_write=%d errors_status=%d errors_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout, e.connect, e.read, e.write, e.status, e.timeout))
end
