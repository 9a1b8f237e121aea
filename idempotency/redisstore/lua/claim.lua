-- claim: KEYS[1] = record; ARGV = token, fingerprint, lease_ms, retention_ms
-- Returns {'claimed', fence} | {'takeover', fence} | {'mismatch'}
--       | {'inflight', lease_left_ms} | {'completed', code, hdr, body, reason}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
local ttl = lease + tonumber(ARGV[4])
local r = redis.call('HMGET', KEYS[1], 'fp', 'st', 'lease', 'tok', 'fence')
if not r[1] then
  redis.call('HSET', KEYS[1], 'v', '1', 'st', 'p', 'tok', ARGV[1], 'fp', ARGV[2],
    'fence', '1', 'lease', string.format('%.0f', now + lease))
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {'claimed', 1}
end
if r[1] ~= ARGV[2] then
  return {'mismatch'}
end
if r[2] == 'p' and r[4] == ARGV[1] then
  -- This very claim, sent again (go-redis resends a command whose reply was
  -- lost, e.g. after a read timeout): the caller owns the record.
  local fence = tonumber(r[5])
  if fence > 1 then
    return {'takeover', fence}
  end
  return {'claimed', fence}
end
if r[2] == 'd' then
  local d = redis.call('HMGET', KEYS[1], 'code', 'hdr', 'body', 'nr')
  return {'completed', d[1] or '0', d[2] or '', d[3] or '', d[4] or ''}
end
local left = tonumber(r[3]) - now
if left > 0 then
  return {'inflight', left}
end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[1], 'tok', ARGV[1], 'lease', string.format('%.0f', now + lease))
redis.call('PEXPIRE', KEYS[1], ttl)
return {'takeover', fence}
