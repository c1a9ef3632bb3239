--[[
  Creates a session with its refresh token and family, never overwriting an existing one.
  KEYS[1] the user's key base `sess:{u:<id>}:`. Every key the script touches is this base plus a
          suffix, so all of them share its hash slot: `s:<hash>` a session, `idx` the user's index
          (sorted set, score = idle expiry in ms), `f:<family>` a refresh family's current session,
          `r:<hash>` a refresh token record (`c:<family>` current, `x:<family>` retired).
  ARGV[1] session id hash    ARGV[2] refresh token hash    ARGV[3] family id
  ARGV[4] idle timeout ms    ARGV[5] absolute timeout ms   ARGV[6] max sessions per user (0 = no cap)
  ARGV[7] '' or the epoch ms at which the session was created while Redis was away (a replay):
          its absolute deadline then counts from that moment, not from the replay
  ARGV[8] user id    ARGV[9] user agent    ARGV[10] ip    ARGV[11] data (JSON)
  ARGV[12] '' or, for a creation replayed after an outage, a moment on the Redis clock no later
          than the start of that outage: if the user's revocation epoch `ep` (see
          session-revoke-all.lua) is later, a revokeAll may have run after this creation, so the
          session is not created (a replay never brings back what a later revocation removed)
  Returns { 1, createdAt, expiresAt, absoluteExpiresAt, evicted }, { 0 } when a key exists already
  or the session would already be past its absolute deadline, { -3 } when a later revokeAll covers it.
]]
local base = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx = base .. 'idx'

--- @include "session-kill"

if ARGV[12] ~= nil and ARGV[12] ~= '' and tonumber(redis.call('GET', base .. 'ep') or '-1') > tonumber(ARGV[12]) then
  return { -3 }
end
local h, rh, fam = ARGV[1], ARGV[2], ARGV[3]
local idle, absolute, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local created = now
if ARGV[7] ~= '' then created = math.min(tonumber(ARGV[7]), now) end
local abs = created + absolute
local exp = math.min(now + idle, abs)
if exp <= now then return { 0 } end
local s = base .. 's:' .. h
if redis.call('EXISTS', s) == 1 or redis.call('EXISTS', base .. 'r:' .. rh) == 1 or redis.call('EXISTS', base .. 'f:' .. fam) == 1 then
  return { 0 }
end

redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)
local evicted = 0
if cap > 0 then
  while redis.call('ZCARD', idx) >= cap do
    kill(redis.call('ZRANGE', idx, 0, 0)[1])
    evicted = evicted + 1
  end
end

redis.call('HSET', s, 'uid', ARGV[8], 'ua', ARGV[9], 'ip', ARGV[10], 'data', ARGV[11], 'ca', created, 'ls', now,
  'exp', exp, 'abs', abs, 'idle', idle, 'fam', fam, 'rh', rh, 'sid', h)
redis.call('PEXPIRE', s, exp - now)
redis.call('SET', base .. 'f:' .. fam, h, 'PX', abs - now)
redis.call('SET', base .. 'r:' .. rh, 'c:' .. fam, 'PX', abs - now)
redis.call('ZADD', idx, exp, h)
local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', idx, math.max(1, tonumber(top[2]) - now))
return { 1, created, exp, abs, evicted }
