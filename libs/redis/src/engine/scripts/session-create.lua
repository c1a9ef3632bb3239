--[[
  Creates a session with its refresh token and family, never overwriting an existing one. Every
  key is passed in KEYS, all under the user's hash tag `sess:{s:<group>}:<user tag>:` (the group
  counter under the same tag): no key is derived here, so a slot being migrated routes correctly.
  KEYS[1] the user's index `…idx` (sorted set: session hash → idle expiry in ms)
  KEYS[2] the new session `…s:<hash>` (hash)
  KEYS[3] the new refresh record `…r:<refresh hash>`
  KEYS[4] the new family pointer `…f:<family>`
  KEYS[5] the group's live set `sess:{s:<group>}:live` (session hash → idle expiry), for O(1) counts
  ARGV[1] session id hash    ARGV[2] refresh token hash    ARGV[3] family id
  ARGV[4] idle timeout ms    ARGV[5] absolute timeout ms   ARGV[6] max sessions per user (0 = no cap)
  ARGV[7] '' or the epoch ms at which the session was created while Redis was away (a replay):
          its absolute deadline then counts from that moment, not from the replay
  ARGV[8] user id    ARGV[9] user agent    ARGV[10] ip    ARGV[11] data (JSON)
  KEYS[6] the user's revocation epoch `…ep` (epoch ms, set by session-revoke-all.lua; '0' until
          then). Kept alive at least until this session's absolute deadline.
  ARGV[12] '' or, for a creation replayed after an outage, a moment on the Redis clock no later
          than the start of that outage: if the user's revocation epoch (KEYS[6]) is later, a
          revokeAll may have run after this creation, so the session is not created (a replay
          never brings back what a later revocation removed)
  Returns { 1, createdAt, expiresAt, absoluteExpiresAt, evicted, evicted hashes... }, { 0 } when
  a key exists already or the session would already be past its absolute deadline, { -3 } when a
  later revokeAll covers it. An evicted session leaves the index (which alone makes it invalid);
  the caller deletes its records.
]]
local idx, s, r, f, live, ep = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if ARGV[12] ~= nil and ARGV[12] ~= '' and tonumber(redis.call('GET', ep) or '-1') > tonumber(ARGV[12]) then
  return { -3 }
end
local h, rh, fam = ARGV[1], ARGV[2], ARGV[3]
local idle, absolute, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local created = now
if ARGV[7] ~= '' then created = math.min(tonumber(ARGV[7]), now) end
local abs = created + absolute
local exp = math.min(now + idle, abs)
if exp <= now then return { 0 } end
if redis.call('EXISTS', s) == 1 or redis.call('EXISTS', r) == 1 or redis.call('EXISTS', f) == 1 then
  return { 0 }
end

redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)
redis.call('ZREMRANGEBYSCORE', live, '-inf', now)
local reply = { 1, created, exp, abs, 0 }
if cap > 0 then
  while redis.call('ZCARD', idx) >= cap do
    local victim = redis.call('ZRANGE', idx, 0, 0)[1]
    redis.call('ZREM', idx, victim)
    redis.call('ZREM', live, victim)
    reply[5] = reply[5] + 1
    reply[#reply + 1] = victim
  end
end

redis.call('HSET', s, 'uid', ARGV[8], 'ua', ARGV[9], 'ip', ARGV[10], 'data', ARGV[11], 'ca', created, 'ls', now,
  'exp', exp, 'abs', abs, 'idle', idle, 'fam', fam, 'rh', rh, 'sid', h)
redis.call('PEXPIRE', s, exp - now)
redis.call('SET', f, h, 'PX', abs - now)
redis.call('SET', r, 'c:' .. fam .. ':' .. h, 'PX', abs - now)
redis.call('ZADD', idx, exp, h)
local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', idx, math.max(1, tonumber(top[2]) - now))
redis.call('ZADD', live, exp, h)
-- The epoch key lives as long as any session of the user can (0: no revokeAll yet), so it always
-- sits, and moves during a Cluster slot migration, with the keys revokeAll declares beside it.
if redis.call('PTTL', ep) < abs - now then
  redis.call('SET', ep, redis.call('GET', ep) or '0', 'PX', abs - now)
end
return reply
