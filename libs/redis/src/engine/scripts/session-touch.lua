--[[
  Reads a session and slides its idle expiry, never past its absolute deadline. A session that is
  gone (revoked, expired) is never written, so a touch racing a revoke cannot bring it back.
  KEYS[1] the user's key base `sess:{u:<id>}:` (see session-create.lua): touches `s:<hash>`, `idx`,
          and on expiry `f:<family>` and `r:<hash>`, all under the base
  ARGV[1] session id hash
  ARGV[2] '1' to slide the idle expiry, '0' to only read
  ARGV[3] throttle ms: the expiry is written only when the last write is at least this old
  Returns { 1, userId, userAgent, ip, data, createdAt, lastSeenAt, expiresAt, absoluteExpiresAt, hash }
  or { 0 } when there is no live session.
]]
local base = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx = base .. 'idx'

--- @include "session-kill"

local h = ARGV[1]
local s = base .. 's:' .. h
local v = redis.call('HMGET', s, 'uid', 'ua', 'ip', 'data', 'ca', 'ls', 'exp', 'abs', 'idle', 'sid')
if not v[1] then
  redis.call('ZREM', idx, h)
  return { 0 }
end
local ls, exp, abs, idle = tonumber(v[6]), tonumber(v[7]), tonumber(v[8]), tonumber(v[9])
if now >= exp or now >= abs then
  kill(h)
  return { 0 }
end
if ARGV[2] == '1' and now - ls >= tonumber(ARGV[3]) then
  ls = now
  exp = math.min(now + idle, abs)
  redis.call('HSET', s, 'ls', ls, 'exp', exp)
  redis.call('PEXPIRE', s, exp - now)
  redis.call('ZADD', idx, exp, h)
  local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', idx, math.max(1, tonumber(top[2]) - now))
end
return { 1, v[1], v[2], v[3], v[4], tonumber(v[5]), ls, exp, abs, v[10] }
