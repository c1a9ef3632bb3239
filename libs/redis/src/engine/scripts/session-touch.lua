--[[
  Reads a session and slides its idle expiry, never past its absolute deadline. A session is live
  only while its record exists, it is in the user's index (eviction and revokeAll remove it from
  there) and neither deadline has passed. A session that is gone is never written, so a touch
  racing a revoke cannot bring it back.
  KEYS[1] the session `…s:<hash>`    KEYS[2] the user's index `…idx`    KEYS[3] the group's live set
  (all under the user's hash tag, see session-create.lua)
  ARGV[1] session id hash
  ARGV[2] '1' to slide the idle expiry, '0' to only read
  ARGV[3] throttle ms: the expiry is written only when the last write is at least this old
  Returns { 1, userId, userAgent, ip, data, createdAt, lastSeenAt, expiresAt, absoluteExpiresAt, hash }
  or { 0 } when there is no live session.
]]
local s, idx, live = KEYS[1], KEYS[2], KEYS[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local h = ARGV[1]
local v = redis.call('HMGET', s, 'uid', 'ua', 'ip', 'data', 'ca', 'ls', 'exp', 'abs', 'idle', 'sid')
local indexed = redis.call('ZSCORE', idx, h)
if not v[1] or not indexed then
  redis.call('DEL', s)
  redis.call('ZREM', idx, h)
  redis.call('ZREM', live, h)
  return { 0 }
end
local ls, exp, abs, idle = tonumber(v[6]), tonumber(v[7]), tonumber(v[8]), tonumber(v[9])
-- A record whose numbers do not read back (corrupted, or written by something else) is no session.
if not (ls and exp and abs and idle) or now >= exp or now >= abs then
  redis.call('DEL', s)
  redis.call('ZREM', idx, h)
  redis.call('ZREM', live, h)
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
  redis.call('ZADD', live, exp, h)
end
return { 1, v[1], v[2], v[3], v[4], tonumber(v[5]), ls, exp, abs, v[10] }
