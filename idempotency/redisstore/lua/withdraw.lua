-- withdraw: KEYS = record, the scope's expiries, the scope's usage (see
-- claim.lua); ARGV = token, record name, lease_ms.
-- Deletes a pending record still held by token, a claim whose reply never
-- reached the caller: nobody runs its request. Returns 1, or 0 when token
-- holds no pending record: the claim never ran, was taken over, or has not
-- run yet (it may be queued behind a stall of the server, on a connection
-- the caller gave up). The record then keeps a mark, 'w:<token>', for a
-- lease, and the claim fails when it runs.
local r = redis.call('HMGET', KEYS[1], 'tok', 'st')
if r[1] ~= ARGV[1] or r[2] ~= 'p' then
  local fresh = redis.call('EXISTS', KEYS[1]) == 0
  redis.call('HSET', KEYS[1], 'w:' .. ARGV[1], '1')
  if fresh then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
  end
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3])
end
return 1
