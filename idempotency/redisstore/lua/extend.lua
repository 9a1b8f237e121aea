-- extend: KEYS = record, the scope's expiries, the scope's usage (see
-- claim.lua); ARGV = token, fence, lease_ms, record name.
-- Returns 1, or 0 when the caller does not own a pending record.
local r = redis.call('HMGET', KEYS[1], 'tok', 'fence', 'st')
if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] or r[3] ~= 'p' then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'lease', string.format('%.0f', now + lease))
if redis.call('PTTL', KEYS[1]) < lease then
  redis.call('PEXPIRE', KEYS[1], lease)
  redis.call('ZADD', KEYS[2], now + lease, ARGV[4])
  if redis.call('PTTL', KEYS[2]) < lease then -- both scope keys share an expiry
    redis.call('PEXPIRE', KEYS[2], lease)
    redis.call('PEXPIRE', KEYS[3], lease)
  end
end
return 1
