--[[
  Rotates a refresh token (RFC 9700 4.14.2): the presented token is retired, the session gets a new
  id and refresh token, its absolute deadline stays. Presenting a retired token again revokes the
  family's current session: whoever holds the newer token, attacker or user, must log in again.
  KEYS[1] the user's key base `sess:{u:<id>}:` (see session-create.lua): touches `r:<hash>` (old and
          new), `f:<family>`, `s:<hash>` (old and new) and `idx` under it
  ARGV[1] presented refresh token hash    ARGV[2] new session id hash    ARGV[3] new refresh token hash
  Returns { 1, createdAt, expiresAt, absoluteExpiresAt } after a rotation;
  { 0 } when the token is unknown or its session has ended;
  { -1, revoked } when a retired token was presented (revoked = live sessions removed);
  { -2 } when a new hash is taken already (the caller draws new ones).
]]
local base = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx = base .. 'idx'

--- @include "session-kill"

local r = base .. 'r:' .. ARGV[1]
local record = redis.call('GET', r)
if not record then return { 0 } end
local state, fam = string.sub(record, 1, 1), string.sub(record, 3)
local f = base .. 'f:' .. fam
local current = redis.call('GET', f)
if state == 'x' then
  local revoked = 0
  if current then
    revoked = kill(current)
    redis.call('DEL', f)
  end
  return { -1, revoked }
end
if not current then
  redis.call('DEL', r)
  return { 0 }
end
local s = base .. 's:' .. current
local v = redis.call('HMGET', s, 'uid', 'ua', 'ip', 'data', 'ca', 'exp', 'abs', 'idle', 'rh')
if not v[1] or v[9] ~= ARGV[1] or now >= tonumber(v[6]) or now >= tonumber(v[7]) then
  kill(current)
  redis.call('DEL', f, r)
  return { 0 }
end
local ns, nr = base .. 's:' .. ARGV[2], base .. 'r:' .. ARGV[3]
if redis.call('EXISTS', ns) == 1 or redis.call('EXISTS', nr) == 1 then return { -2 } end

local abs, idle = tonumber(v[7]), tonumber(v[8])
local exp = math.min(now + idle, abs)
redis.call('HSET', ns, 'uid', v[1], 'ua', v[2], 'ip', v[3], 'data', v[4], 'ca', v[5], 'ls', now,
  'exp', exp, 'abs', abs, 'idle', idle, 'fam', fam, 'rh', ARGV[3], 'sid', ARGV[2])
redis.call('PEXPIRE', ns, exp - now)
redis.call('DEL', s)
redis.call('ZREM', idx, current)
redis.call('ZADD', idx, exp, ARGV[2])
local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', idx, math.max(1, tonumber(top[2]) - now))
redis.call('SET', f, ARGV[2], 'PX', abs - now)
-- Kept until the family's absolute deadline, so a replay is recognised for as long as it matters.
redis.call('SET', r, 'x:' .. fam, 'PX', abs - now)
redis.call('SET', nr, 'c:' .. fam, 'PX', abs - now)
return { 1, tonumber(v[5]), exp, abs }
