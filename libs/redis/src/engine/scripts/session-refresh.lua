--[[
  Rotates a refresh token (RFC 9700 4.14.2): the presented token is retired, the session gets a new
  id and refresh token, its absolute deadline stays. Presenting a retired token again revokes the
  family's current session: whoever holds the newer token, attacker or user, must log in again,
  except within the grace window right after the rotation, while the session it issued is still the
  family's current one: then the issued pair is handed back, sealed with a key only the presented
  token opens (a retried or concurrent refresh from the same client).
  The caller reads the refresh record (and, for a retired one, the family pointer) first and
  declares every key; if either changed before this runs the reply is { -3 } and it reads again.
  KEYS[1] the presented refresh record `…r:<hash>`
  KEYS[2] the family pointer `…f:<family>`
  KEYS[3] the session the record (current token) or the family pointer (retired token) names `…s:<hash>`
  KEYS[4] the user's index `…idx`    KEYS[5] the group's live set
  KEYS[6] the new session `…s:<new hash>`    KEYS[7] the new refresh record `…r:<new refresh hash>`
  (all under the user's hash tag, see session-create.lua)
  Records: `c:<family>:<session hash>` current; `x:<family>` retired;
           `g:<family>:<grace end ms>:<issued session hash>:<sealed pair>` retired, in its grace window.
  ARGV[1] presented refresh token hash    ARGV[2] the record as the caller read it
  ARGV[3] the family pointer as the caller read it ('' for none; ignored for a current record)
  ARGV[4] new session id hash    ARGV[5] new refresh token hash
  ARGV[6] grace window ms (0 = none)    ARGV[7] the new pair sealed with the presented token
  Returns { 1, createdAt, expiresAt, absoluteExpiresAt } after a rotation;
  { 2, sealed pair, expiresAt, absoluteExpiresAt } within the grace window;
  { 0 } when the token is unknown or its session has ended;
  { -1, revoked, family's current session hash or '', its refresh hash or '', its user id or '' }
  when a retired token was presented (revoked = live sessions removed);
  { -2 } when a new hash is taken already (the caller draws new ones);
  { -3 } when the record or the family pointer changed since the caller read them.
]]
local r, f, s, idx, live, ns, nr = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local record = redis.call('GET', r)
if not record then return { 0 } end
if record ~= ARGV[2] then return { -3 } end
local current = redis.call('GET', f) or ''
local state = string.sub(record, 1, 1)

if state ~= 'c' then
  if current ~= ARGV[3] then return { -3 } end
  local v = redis.call('HMGET', s, 'exp', 'abs', 'rh', 'uid')
  if state == 'g' then
    local _, _, fam, grace, granted, sealed = string.find(record, '^g:([^:]+):(%d+):([^:]+):(.+)$')
    if grace and now < tonumber(grace) and current == granted and tonumber(v[1]) and tonumber(v[2])
      and redis.call('ZSCORE', idx, current) and now < tonumber(v[1]) and now < tonumber(v[2]) then
      return { 2, sealed, tonumber(v[1]), tonumber(v[2]) }
    end
  end
  if current == '' then return { -1, 0, '', '', '' } end
  local removed = redis.call('DEL', s)
  local indexed = redis.call('ZREM', idx, current)
  redis.call('ZREM', live, current)
  redis.call('DEL', f)
  local revoked = 0
  if removed == 1 and indexed == 1 then revoked = 1 end
  return { -1, revoked, current, v[3] or '', v[4] or '' }
end

local _, _, fam, h = string.find(record, '^c:([^:]+):(.+)$')
local v = redis.call('HMGET', s, 'uid', 'ua', 'ip', 'data', 'ca', 'exp', 'abs', 'idle', 'rh')
if current ~= h or not v[1] or not redis.call('ZSCORE', idx, h) or v[9] ~= ARGV[1]
  or not (tonumber(v[6]) and tonumber(v[7]) and tonumber(v[8])) or now >= tonumber(v[6]) or now >= tonumber(v[7]) then
  -- The family moved on or the session ended: this token is dead.
  if current == h then
    redis.call('DEL', s, f)
    redis.call('ZREM', idx, h)
    redis.call('ZREM', live, h)
  end
  redis.call('DEL', r)
  return { 0 }
end
if redis.call('EXISTS', ns) == 1 or redis.call('EXISTS', nr) == 1 then return { -2 } end

local abs, idle = tonumber(v[7]), tonumber(v[8])
local exp = math.min(now + idle, abs)
local nh = ARGV[4]
redis.call('HSET', ns, 'uid', v[1], 'ua', v[2], 'ip', v[3], 'data', v[4], 'ca', v[5], 'ls', now,
  'exp', exp, 'abs', abs, 'idle', idle, 'fam', fam, 'rh', ARGV[5], 'sid', nh)
redis.call('PEXPIRE', ns, exp - now)
redis.call('DEL', s)
redis.call('ZREM', idx, h)
redis.call('ZADD', idx, exp, nh)
local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', idx, math.max(1, tonumber(top[2]) - now))
redis.call('ZREM', live, h)
redis.call('ZADD', live, exp, nh)
redis.call('SET', f, nh, 'PX', abs - now)
-- Kept until the family's absolute deadline, so a replay is recognised for as long as it matters.
local retired = 'x:' .. fam
local grace = tonumber(ARGV[6])
if grace > 0 then retired = 'g:' .. fam .. ':' .. (now + grace) .. ':' .. nh .. ':' .. ARGV[7] end
redis.call('SET', r, retired, 'PX', abs - now)
redis.call('SET', nr, 'c:' .. fam .. ':' .. nh, 'PX', abs - now)
return { 1, tonumber(v[5]), exp, abs }
