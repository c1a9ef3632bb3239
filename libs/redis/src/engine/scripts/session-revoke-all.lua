--[[
  Ends every session of a user except, optionally, one (e.g. "log out my other devices"). Removing a
  session from the index is what ends it; the caller reads the index first and declares the session
  records it saw, which are deleted here. A session indexed after that read is ended too, and named
  in the reply so the caller can delete its record with session-revoke.lua.
  KEYS[1] the user's index `…idx`    KEYS[2] the group's live set
  KEYS[3] the first session record `…s:<hash>` the caller saw in the index; n sessions pass n keys
          KEYS[3]..KEYS[n+2] (all under the user's hash tag, see session-create.lua)
  ARGV[1] '' or the hash of the session to keep
  ARGV[2]..ARGV[n+1] the hashes of KEYS[3]..KEYS[n+2], in the same order
  Returns { removed (live sessions ended), { hash, family, refresh hash, ... } of the declared
  records deleted, { hashes ended whose records were not declared } }.
]]
local idx, live, keep = KEYS[1], KEYS[2], ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local declared = {}
for i = 3, #KEYS do declared[ARGV[i - 1]] = true end

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
for i = 3, #KEYS do
  local h = ARGV[i - 1]
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
