-- complete: KEYS = record, the scope's expiries, the scope's usage (see
-- claim.lua); ARGV = token, fence, code, hdr, body, reason, retention_ms,
-- record name.
-- Returns 1; 2 when this owner completed the record already (a resent
-- completion); 0 when the caller does not own a pending record.
local r = redis.call('HMGET', KEYS[1], 'tok', 'fence', 'st')
if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] then
  return 0
end
if r[3] == 'd' then
  return 2
end
if r[3] ~= 'p' then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local retention = tonumber(ARGV[7])
redis.call('HSET', KEYS[1], 'st', 'd', 'code', ARGV[3], 'hdr', ARGV[4], 'body', ARGV[5], 'nr', ARGV[6])
redis.call('PEXPIRE', KEYS[1], retention)
local size = #ARGV[4] + #ARGV[5]
redis.call('ZADD', KEYS[2], now + retention, ARGV[8])
redis.call('HSET', KEYS[3], ARGV[8], size)
redis.call('HINCRBY', KEYS[3], '#b', size)
if redis.call('PTTL', KEYS[2]) < retention then -- both scope keys share an expiry
  redis.call('PEXPIRE', KEYS[2], retention)
  redis.call('PEXPIRE', KEYS[3], retention)
end
return 1
