-- release: KEYS = record, the scope's expiries, the scope's usage (see
-- claim.lua); ARGV = token, fence, record name.
-- Returns 1, or 0 when the caller does not own a pending record.
local r = redis.call('HMGET', KEYS[1], 'tok', 'fence', 'st')
if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] or r[3] ~= 'p' then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
if redis.call('ZCARD', KEYS[2]) == 0 then
  -- Nothing left of the scope (a made-up caller whose 401 was released
  -- leaves nothing behind); its next fence follows the clock.
  redis.call('DEL', KEYS[2], KEYS[3])
end
return 1
