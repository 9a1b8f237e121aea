-- claim: KEYS[1] = record, KEYS[2] = the scope's expiries (zset of record
-- names by expiry, ms), KEYS[3] = the scope's usage (hash: '#b' bytes held,
-- '#hw' last fence issued, and each completed record's name -> its size).
-- ARGV = token, fingerprint, lease_ms, retention_ms, max_records, max_bytes,
-- record name (the member in KEYS[2] and KEYS[3]).
-- Returns {'claimed', fence} | {'takeover', fence} | {'mismatch'}
--       | {'inflight', lease_left_ms} | {'completed', code, hdr, body, reason}
--       | {'overbudget', ms_until_the_scope's_first_record_expires}
--       | {'withdrawn'} (see withdraw.lua: the caller gave up on this claim)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowus = tonumber(t[1]) * 1000000 + tonumber(t[2])
local lease = tonumber(ARGV[3])
local ttl = lease + tonumber(ARGV[4])

local r = redis.call('HMGET', KEYS[1], 'fp', 'st', 'lease', 'tok', 'fence', 'to', 'w:' .. ARGV[1])
if r[7] then
  -- Withdrawn before it ran: nobody knows its token, so it takes nothing.
  return {'withdrawn'}
end
if not r[1] then
  -- Forget the scope's expired records (a bounded batch per claim: at
  -- most one record is added per claim, so the backlog shrinks).
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now, 'LIMIT', 0, 64)
  for _, m in ipairs(gone) do
    local size = redis.call('HGET', KEYS[3], m)
    if size then
      redis.call('HINCRBY', KEYS[3], '#b', -tonumber(size))
      redis.call('HDEL', KEYS[3], m)
    end
    redis.call('ZREM', KEYS[2], m)
  end
  if #gone == 64 then
    -- A backlog: a record of this name may have expired unswept; its size
    -- must not stay counted.
    local stale = redis.call('HGET', KEYS[3], ARGV[7])
    if stale then
      redis.call('HINCRBY', KEYS[3], '#b', -tonumber(stale))
      redis.call('HDEL', KEYS[3], ARGV[7])
    end
  end
  local usage = redis.call('HMGET', KEYS[3], '#b', '#hw')
  local maxRecords, maxBytes = tonumber(ARGV[5]), tonumber(ARGV[6])
  if (maxRecords > 0 and redis.call('ZCOUNT', KEYS[2], now, '+inf') >= maxRecords)
      or (maxBytes > 0 and tonumber(usage[1] or '0') >= maxBytes) then
    local first = redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    local wait = 0
    if first[2] then
      wait = tonumber(first[2]) - now
    end
    return {'overbudget', wait}
  end
  -- A fence above the clock (µs) and the scope's last fence.
  local fence = string.format('%.0f', math.max(nowus, tonumber(usage[2] or '0') + 1))
  redis.call('HSET', KEYS[3], '#hw', fence)
  redis.call('HSET', KEYS[1], 'v', '2', 'st', 'p', 'tok', ARGV[1], 'fp', ARGV[2],
    'fence', fence, 'lease', string.format('%.0f', now + lease))
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[7])
  -- The scope's keys live as long as its longest-lived record; both
  -- always get the same expiry.
  if redis.call('PTTL', KEYS[2]) < ttl then
    redis.call('PEXPIRE', KEYS[2], ttl)
    redis.call('PEXPIRE', KEYS[3], ttl)
  end
  return {'claimed', tonumber(fence)}
end
if r[1] ~= ARGV[2] then
  return {'mismatch'}
end
if r[2] == 'p' and r[4] == ARGV[1] then
  -- This very claim, sent again (the store resends a command whose
  -- connection was lost before the reply): the caller owns the record.
  if r[6] then
    return {'takeover', tonumber(r[5])}
  end
  return {'claimed', tonumber(r[5])}
end
if r[2] == 'd' then
  local d = redis.call('HMGET', KEYS[1], 'code', 'hdr', 'body', 'nr')
  return {'completed', d[1] or '0', d[2] or '', d[3] or '', d[4] or ''}
end
local left = tonumber(r[3]) - now
if left > 0 then
  return {'inflight', left}
end
-- Take over, with a fence above the clock, the scope's last fence and the
-- previous owner's.
local last = tonumber(redis.call('HGET', KEYS[3], '#hw') or '0')
local fence = string.format('%.0f', math.max(nowus, last + 1, tonumber(r[5]) + 1))
redis.call('HSET', KEYS[3], '#hw', fence)
redis.call('HSET', KEYS[1], 'tok', ARGV[1], 'fence', fence,
  'lease', string.format('%.0f', now + lease), 'to', '1')
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[7])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return {'takeover', tonumber(fence)}
