--[[
  Lists a user's live sessions, pruning index entries whose sessions have ended.
  KEYS[1] the user's key base `sess:{u:<id>}:` (see session-create.lua): touches `idx` and reads
          `s:<hash>` under it
  Returns { { hash, userAgent, ip, data, createdAt, lastSeenAt, expiresAt, absoluteExpiresAt }, ... }
  ordered by expiry, soonest first.
]]
local base = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx = base .. 'idx'
redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)
local out = {}
for _, h in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  local v = redis.call('HMGET', base .. 's:' .. h, 'ua', 'ip', 'data', 'ca', 'ls', 'exp', 'abs')
  if v[1] and now < tonumber(v[6]) and now < tonumber(v[7]) then
    out[#out + 1] = { h, v[1], v[2], v[3], tonumber(v[4]), tonumber(v[5]), tonumber(v[6]), tonumber(v[7]) }
  elseif not v[1] then
    redis.call('ZREM', idx, h)
  end
end
return out
