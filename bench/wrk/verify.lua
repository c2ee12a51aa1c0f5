-- Verifications for wrk: POSTs the phone codes of the file BENCH_CODES in turn, as {"text": "FK1:..."}.
--
-- BENCH_PATH: the endpoint (default /api/v1/verifications); BENCH_TOKEN: a partner API key, sent as Bearer (none
-- for the bare endpoint). Tallies the answers: 200 with "valid":true, 200 otherwise, 429, other 4xx, 5xx, and
-- prints one line "RESULT {json}" with the tallies and the latency percentiles (microseconds) at the end.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  codes = {}
  for line in io.lines(os.getenv("BENCH_CODES")) do
    if #line > 0 then
      codes[#codes + 1] = line
    end
  end
  path = os.getenv("BENCH_PATH") or "/api/v1/verifications"
  local token = os.getenv("BENCH_TOKEN")
  -- Each thread starts at another place in the list.
  n = (id - 1) * math.floor(#codes / 2)
  valid, invalid, s429, s4xx, s5xx, sother = 0, 0, 0, 0, 0, 0
  sample = ""
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if token and #token > 0 then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  n = n + 1
  local code = codes[(n % #codes) + 1]
  return wrk.format(nil, path, nil, '{"text":"' .. code .. '"}')
end

function response(status, headers, body)
  if status == 200 and string.find(body, '"valid":true', 1, true) then
    valid = valid + 1
    return
  end
  if status == 200 then
    invalid = invalid + 1
  elseif status == 429 then
    s429 = s429 + 1
  elseif status >= 500 then
    s5xx = s5xx + 1
  elseif status >= 400 then
    s4xx = s4xx + 1
  else
    sother = sother + 1
  end
  if sample == "" then
    sample = status .. " " .. string.sub(body, 1, 300)
  end
end

function done(summary, latency, requests)
  local t = {valid = 0, invalid = 0, s429 = 0, s4xx = 0, s5xx = 0, sother = 0}
  local samples = ""
  for _, thread in ipairs(threads) do
    for name, _ in pairs(t) do
      t[name] = t[name] + thread:get(name)
    end
    local s = thread:get("sample")
    if samples == "" and s ~= "" then
      samples = s
    end
  end
  samples = string.gsub(string.gsub(samples, "\\", "\\\\"), '"', '\\"')
  samples = string.gsub(samples, "[%c]", " ")
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,'
      .. '"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"valid":%d,"invalid":%d,"s429":%d,"s4xx":%d,'
      .. '"s5xx":%d,"sother":%d,"sample":"%s"}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    t.valid, t.invalid, t.s429, t.s4xx, t.s5xx, t.sother, samples))
end
