-- Loaded by the benchmark harness (wrk -s): sends the scenario's method and body, which wrk takes
-- from a script only (its headers come as -H flags), and prints wrk's summary as one JSON line.
wrk.method = os.getenv("BENCH_METHOD") or wrk.method
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then wrk.body = body end

done = function(summary, latency, requests)
  local e = summary.errors
  local mean = 0
  if summary.requests > 0 then mean = latency.mean end
  io.write(string.format(
    'BENCH-RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
