-- complete: KEYS[1] = record; ARGV = token, fence, code, hdr, body, reason, retention_ms
-- Returns 1, or 0 when the caller does not own a pending record.
local r = redis.call('HMGET', KEYS[1], 'tok', 'fence', 'st')
if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] or r[3] ~= 'p' then
  return 0
end
redis.call('HSET', KEYS[1], 'st', 'd', 'code', ARGV[3], 'hdr', ARGV[4], 'body', ARGV[5], 'nr', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return 1
