-- get: KEYS[1] = record
-- Returns {} when absent, else {st, fp, fence, lease_left_ms, code, hdr, body, reason}.
local r = redis.call('HMGET', KEYS[1], 'st', 'fp', 'fence', 'lease', 'code', 'hdr', 'body', 'nr')
if not r[1] then
  return {}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local left = 0
if r[4] then
  left = tonumber(r[4]) - now
end
return {r[1], r[2] or '', r[3] or '0', left, r[5] or '0', r[6] or '', r[7] or '', r[8] or ''}
