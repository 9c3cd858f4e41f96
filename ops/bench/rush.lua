-- The rush: each wrk thread sends its share of prepared requests once, then stops.
-- Arguments: the requests file (lines "token<TAB>idempotency key<TAB>json body"), the number of threads,
-- and the path to POST to (default /queue/requests; the plan variant: /student/plan/submit).
-- A thread that has sent all its requests stops; the benchmark ends wrk once the server has them all.

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

local lines = {}
local path = "/queue/requests"
local sent = 0
local answered = 0
statuses = {}

function init(args)
  local total = tonumber(args[2])
  path = args[3] or path
  local i = 0
  for line in io.lines(args[1]) do
    if i % total == id then
      table.insert(lines, line)
    end
    i = i + 1
  end
end

local function format(line)
  local token, key, body = line:match("([^\t]+)\t([^\t]+)\t(.*)")
  local headers = {}
  headers["Authorization"] = "Bearer " .. token
  headers["Idempotency-Key"] = key
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", path, headers, body)
end

-- wrk 4.1 calls request() once on thread 0 before the run to check the request (and never
-- sends what it got): that call must not use up a line.
local checked = false

function request()
  if id == 0 and not checked then
    checked = true
    return lines[1] and format(lines[1]) or wrk.format("GET", "/health")
  end
  sent = sent + 1
  local line = lines[sent]
  if line == nil then
    wrk.thread:stop()
    return wrk.format("GET", "/health")
  end
  return format(line)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  answered = answered + 1
  if answered >= #lines then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  for status, count in pairs(merged) do
    io.write(string.format("status %s %d\n", status, count))
  end
end
