-- Sliding-window (weighted two-window counter) admission for one subject,
-- for every policy at once, all-or-nothing. The subject's counters are one
-- string, KEYS[1], whose name carries the subject's {hash tag}: for each
-- policy in order, three little-endian doubles (window index, current
-- count, previous count), packed with the struct library, which costs
-- Redis far less than parsing text or a hash with several fields.
--
-- ARGV[1]  cost (units, >= 0; 0 only reports)
-- ARGV[2]  "0" to use the server clock (TIME), else a fixed time in µs (tests)
-- ARGV[3]  expiry in ms: two of the longest windows
-- ARGV[4]  struct format of the state, ARGV[5] of the reply (precomputed)
-- then per policy, two values: limit and window (µs).
--
-- Returns packed doubles: now (µs), admitted (1 or 0), then per policy the
-- current and previous counts before this request. The caller derives
-- remaining, reset and retry times from them with the same arithmetic as
-- ratelimit.SlidingWindow (IEEE doubles, multiply before dividing), so the
-- admission below and the caller's figures always agree.
local now
if ARGV[2] == '0' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[2])
end
local cost = tonumber(ARGV[1])
local n = (#ARGV - 5) / 2
local fmt = ARGV[4]

local s = {}
local raw = redis.call('GET', KEYS[1])
if raw and #raw == 24 * n then
  s = {struct.unpack(fmt, raw)}
end

local floor = math.floor
local ok = 1
local out = {now, 1}
local new = {}
for i = 1, n do
  local limit = tonumber(ARGV[4 + 2 * i])
  local w = tonumber(ARGV[5 + 2 * i])
  local idx = floor(now / w)
  local e = now - idx * w
  local si = s[3 * i - 2]
  local c = s[3 * i - 1] or 0
  local p = s[3 * i] or 0
  if si == idx then
    -- same window
  elseif si == idx - 1 then
    p = c
    c = 0
  else
    p = 0
    c = 0
  end
  if not (p * (w - e) / w + (c + cost) <= limit) then
    ok = 0
  end
  out[2 * i + 1] = c
  out[2 * i + 2] = p
  new[3 * i - 2] = idx
  new[3 * i - 1] = c + cost
  new[3 * i] = p
end
out[2] = ok

if ok == 1 and cost > 0 then
  -- Two of the longest windows after the last write every count is zero.
  redis.call('SET', KEYS[1], struct.pack(fmt, unpack(new)), 'PX', ARGV[3])
end
return struct.pack(ARGV[5], unpack(out))
