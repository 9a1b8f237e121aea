-- release: KEYS[1] = record; ARGV = token, fence
-- Returns 1, or 0 when the caller does not own a pending record.
local r = redis.call('HMGET', KEYS[1], 'tok', 'fence', 'st')
if r[1] ~= ARGV[1] or r[2] ~= ARGV[2] or r[3] ~= 'p' then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
