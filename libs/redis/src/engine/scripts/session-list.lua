--[[
  Lists a user's live sessions, pruning index entries whose sessions have ended. The caller reads
  the index first and declares the session records it saw; the reply says whether the index still
  holds exactly those, so a session indexed in between is not silently left out (the caller reads
  again).
  KEYS[1] the user's index `…idx`    KEYS[2] the group's live set
  KEYS[3] the first session record `…s:<hash>` the caller saw; n sessions pass KEYS[3]..KEYS[n+2]
          (all under the user's hash tag, see session-create.lua)
  ARGV[1]..ARGV[n] the hashes of KEYS[3]..KEYS[n+2], in the same order
  Returns { 1 if every indexed session was declared else 0,
            { { hash, userAgent, ip, data, createdAt, lastSeenAt, expiresAt, absoluteExpiresAt }, ... } }
  in the order declared.
]]
local idx, live = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', idx, '-inf', now)
local out, seen = {}, 0
for i = 3, #KEYS do
  local h = ARGV[i - 2]
  if redis.call('ZSCORE', idx, h) then
    seen = seen + 1
    local v = redis.call('HMGET', KEYS[i], 'ua', 'ip', 'data', 'ca', 'ls', 'exp', 'abs')
    local ca, ls, exp, abs = tonumber(v[4]), tonumber(v[5]), tonumber(v[6]), tonumber(v[7])
    if v[1] and ca and ls and exp and abs and now < exp and now < abs then
      out[#out + 1] = { h, v[1], v[2], v[3], ca, ls, exp, abs }
    elseif not v[1] then
      redis.call('ZREM', idx, h)
      redis.call('ZREM', live, h)
      seen = seen - 1
    end
  end
end
local complete = 0
if redis.call('ZCARD', idx) == seen then complete = 1 end
return { complete, out }
