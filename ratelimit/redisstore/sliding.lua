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
-- ARGV[4]  struct format of ARGV[5]
-- ARGV[5]  per policy, limit and window (µs), packed doubles
-- ARGV[6]  struct format of the state, ARGV[7] of the reply
--
-- Returns packed doubles: per policy the state after this request (window
-- index, current and previous count; the current count includes the cost
-- when admitted), then now (µs) and admitted (1 or 0). The caller derives
-- remaining, reset and retry times from them with the same arithmetic as
-- ratelimit.SlidingWindow (IEEE doubles, multiply before dividing), so the
-- admission below and the caller's figures always agree.
--
-- Every operation here costs Redis time on every decision, so the script
-- keeps to one table per input (parameters, state) and two packs.
local now
if ARGV[2] == '0' then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
else
  now = tonumber(ARGV[2])
end
local cost = tonumber(ARGV[1])
local P = {struct.unpack(ARGV[4], ARGV[5])}
local n = (#P - 1) / 2 -- struct.unpack also returns the next position
local fmt = ARGV[6]

local s
local raw = redis.call('GET', KEYS[1])
if raw and #raw == 24 * n then
  s = {struct.unpack(fmt, raw)}
else
  s = {}
end

local floor = math.floor
local ok = 1
for i = 1, n do
  local limit, w = P[2 * i - 1], P[2 * i]
  local idx = floor(now / w)
  local j = 3 * i
  local si, c, p = s[j - 2], s[j - 1], s[j]
  if si == idx then
    -- same window
  elseif si == idx - 1 then
    p = c
    c = 0
  else
    p = 0
    c = 0
  end
  s[j - 2], s[j - 1], s[j] = idx, c, p
  if not (p * (w - (now - idx * w)) / w + (c + cost) <= limit) then
    ok = 0
  end
end

if ok == 1 and cost > 0 then
  for j = 2, 3 * n, 3 do
    s[j] = s[j] + cost
  end
  -- Two of the longest windows after the last write every count is zero.
  redis.call('SET', KEYS[1], struct.pack(fmt, unpack(s, 1, 3 * n)), 'PX', ARGV[3])
end
s[3 * n + 1] = now
s[3 * n + 2] = ok
return struct.pack(ARGV[7], unpack(s, 1, 3 * n + 2))
