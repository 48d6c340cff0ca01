-- wrk: each request a one-click unsubscribe POST, exactly as Gmail sends it,
-- with the next unused token (threads take disjoint slices of TOKENS).
local threads = {}
local count = tonumber(os.getenv("THREADS") or "2")

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

function init(args)
    tokens = {}
    for line in io.lines(os.getenv("TOKENS")) do
        tokens[#tokens + 1] = line
    end
    next_index = id + 1
    ok = 0
    other = 0
    wrk.method = "POST"
    wrk.body = "List-Unsubscribe=One-Click"
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    wrk.headers["Host"] = os.getenv("HOST_HEADER")
end

function request()
    local path = tokens[next_index]
    if path == nil then
        path = tokens[1]
    end
    next_index = next_index + count
    return wrk.format(nil, path)
end

function response(status, headers, body)
    if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
    local total_ok, total_other = 0, 0
    for _, thread in ipairs(threads) do
        total_ok = total_ok + thread:get("ok")
        total_other = total_other + thread:get("other")
    end
    io.write(string.format("RESULT requests=%d ok=%d other=%d errors=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f\n",
        summary.requests, total_ok, total_other, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
        summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
