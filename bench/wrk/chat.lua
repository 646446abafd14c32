-- wrk script: a ~1 KB non-streaming chat completion POST.
--
-- WRK_MODELS="m-a"       every request names m-a (workloads 1 and 5);
-- WRK_MODELS="m-a,m-b"   requests alternate between the models and also carry the model in an
--                        X-Model header, for proxies that cannot read the body (workload 2).
-- done() prints one line "WRKJSON {...}" that bench/run.py parses: wrk's own summary has no
-- p99.9, and a machine-readable line spares parsing wrk's human units.

local models = {}
for m in string.gmatch(os.getenv("WRK_MODELS") or "m-a", "[^,]+") do
  models[#models + 1] = m
end

-- About 1 KB of JSON, shaped like what a chat front-end sends.
local function body_for(model)
  local system = "You are a helpful assistant. Answer briefly and precisely. " ..
                 string.rep("Keep the answer short. ", 14)
  local user = "Summarise the following text in one sentence: " ..
               string.rep("The quick brown fox jumps over the lazy dog. ", 11)
  return string.format(
    '{"model":"%s","messages":[{"role":"system","content":"%s"},{"role":"user","content":"%s"}],' ..
    '"max_tokens":16,"temperature":0.7,"stream":false}', model, system, user)
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Model"] = models[1]
wrk.body = body_for(models[1])

if #models > 1 then
  local reqs = {}
  local n = 0
  init = function(args)
    for i, m in ipairs(models) do
      reqs[i] = wrk.format("POST", nil, {["Content-Type"] = "application/json", ["X-Model"] = m}, body_for(m))
    end
  end
  request = function()
    n = n + 1
    return reqs[(n % #reqs) + 1]
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"body_bytes":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    #wrk.body))
end
