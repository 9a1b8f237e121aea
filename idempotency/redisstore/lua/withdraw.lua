-- withdraw: KEYS = record, the scope's expiries, the scope's usage (see
-- claim.lua); ARGV = token, record name.
-- Deletes a pending record still held by token, a claim whose reply never
-- reached the caller: nobody runs its request. Returns 1, or 0 when token
-- holds no pending record (the claim never ran, or was taken over).
local r = redis.call('HMGET', KEYS[1], 'tok', 'st')
if r[1] ~= ARGV[1] or r[2] ~= 'p' then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3])
end
return 1
