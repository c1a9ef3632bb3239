--[[
  Ends every session of a user except, optionally, one (e.g. "log out my other devices"). Removing a
  session from the index is what ends it; the caller reads the index first and declares the session
  records it saw, which are deleted here. A session indexed after that read is ended too, and named
  in the reply so the caller can delete its record with session-revoke.lua.
  KEYS[1] the user's index `…idx`    KEYS[2] the group's live set
  KEYS[3] the user's revocation epoch `…ep`
  KEYS[4] the first session record `…s:<hash>` the caller saw in the index; n sessions pass n keys
          KEYS[4]..KEYS[n+3] (all under the user's hash tag, see session-create.lua)
  ARGV[1] '' or the hash of the session to keep
  ARGV[2] '' (now) or, when replayed after an outage, the moment on the Redis clock the outage began
  ARGV[3] how long to keep the revocation epoch, ms (the absolute session timeout: no creation older
          than that can be replayed anyway)
  ARGV[4]..ARGV[n+3] the hashes of KEYS[4]..KEYS[n+3], in the same order
  Sets the user's revocation epoch (epoch ms, never lowered): a creation replayed from an outage
  that began before it is refused by session-create.lua.
  Returns { removed (live sessions ended), { hash, family, refresh hash, ... } of the declared
  records deleted, { hashes ended whose records were not declared } }.
]]
local idx, live, epk = KEYS[1], KEYS[2], KEYS[3]
local keep = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ep = now
if ARGV[2] ~= '' then ep = tonumber(ARGV[2]) end
ep = math.max(ep, tonumber(redis.call('GET', epk) or '-1'))
local hold = math.max(tonumber(ARGV[3]), redis.call('PTTL', epk), 1)
redis.call('SET', epk, ep, 'PX', hold)
local declared = {}
for i = 4, #KEYS do declared[ARGV[i]] = true end

local removed, forget, undeclared = 0, {}, {}
local entries = redis.call('ZRANGE', idx, 0, -1, 'WITHSCORES')
for i = 1, #entries, 2 do
  local h, score = entries[i], tonumber(entries[i + 1])
  if h ~= keep then
    redis.call('ZREM', idx, h)
    redis.call('ZREM', live, h)
    if score > now then removed = removed + 1 end
    if not declared[h] then undeclared[#undeclared + 1] = h end
  end
end
for i = 4, #KEYS do
  local h = ARGV[i]
  if h ~= keep then
    local v = redis.call('HMGET', KEYS[i], 'fam', 'rh')
    if redis.call('DEL', KEYS[i]) == 1 then
      forget[#forget + 1] = h
      forget[#forget + 1] = v[1] or ''
      forget[#forget + 1] = v[2] or ''
    end
  end
end
return { removed, forget, undeclared }
