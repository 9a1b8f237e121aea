-- POST /v1/orders with a valid body and a new Idempotency-Key each time,
-- going round the callers of the tokens file (TOKENS names it), so that no
-- caller runs out of its budget of idempotency records.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if line ~= "" then tokens[#tokens + 1] = "Bearer " .. line end
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local prefix
local n = 0
function init(args)
  -- Unique across threads and runs: the keys of a run must all be new.
  prefix = string.format("wrk-%d-%d-%d-", os.time(), math.floor(os.clock() * 1e6), thread_id)
end

wrk.method = "POST"
wrk.body = '{"item":"widget","quantity":1}'
wrk.headers["Content-Type"] = "application/json"

function request()
  n = n + 1
  wrk.headers["Authorization"] = tokens[(n + thread_id) % #tokens + 1]
  wrk.headers["Idempotency-Key"] = prefix .. n
  return wrk.format(nil, "/v1/orders")
end
