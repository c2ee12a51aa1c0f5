-- Redemptions for wrk: POST /api/v1/redemptions with the phone codes of the file BENCH_CODES in turn, each with a
-- nonce of its own: BENCH_RUN "-" thread "-" counter.
--
-- BENCH_TOKEN: the partner API key; BENCH_BENEFIT: the benefit's id. Every nonce answered 201 is written to the
-- file BENCH_OUT "." thread (one per line), so that the benchmark can match them with the rows afterwards.
-- Prints one line "RESULT {json}" with the tallies and the latency percentiles (microseconds) at the end.

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
  run = os.getenv("BENCH_RUN")
  benefit = os.getenv("BENCH_BENEFIT")
  out = io.open(os.getenv("BENCH_OUT") .. "." .. id, "w")
  out:setvbuf("line")
  n = (id - 1) * math.floor(#codes / 2)
  count = 0
  created, replayed, s409, s429, s4xx, s5xx, sother = 0, 0, 0, 0, 0, 0, 0
  sample = ""
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
end

function request()
  n = n + 1
  count = count + 1
  local code = codes[(n % #codes) + 1]
  local body = '{"text":"' .. code .. '","benefit_id":"' .. benefit .. '","client_nonce":"'
    .. run .. "-" .. id .. "-" .. count .. '"}'
  return wrk.format(nil, "/api/v1/redemptions", nil, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    local nonce = string.match(body, '"client_nonce":"([^"]+)"')
    out:write((nonce or "?"), "\n")
    return
  end
  if status == 200 then
    replayed = replayed + 1
  elseif status == 409 then
    s409 = s409 + 1
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
  local t = {created = 0, replayed = 0, s409 = 0, s429 = 0, s4xx = 0, s5xx = 0, sother = 0}
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
      .. '"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"created":%d,"replayed":%d,"s409":%d,"s429":%d,'
      .. '"s4xx":%d,"s5xx":%d,"sother":%d,"sample":"%s"}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    t.created, t.replayed, t.s409, t.s429, t.s4xx, t.s5xx, t.sother, samples))
end
