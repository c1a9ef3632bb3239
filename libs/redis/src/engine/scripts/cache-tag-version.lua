--[[
  The version a value about to be written records for one of its tags, with the tag's version key
  kept alive at least as long as that value: a missing version gets the fresh token, an existing
  one has its TTL raised (never lowered; made permanent for a value without TTL). A version key
  that expires anyway only turns its values into misses, never back into hits.
  KEYS[1] the tag version key
  ARGV[1] a fresh random version, used when none exists
  ARGV[2] lifetime of the value that will reference it, in milliseconds (0: no expiry)
  Returns the version.
]]
local ttl = tonumber(ARGV[2])
local version = redis.call('GET', KEYS[1])
if version == false then
  version = ARGV[1]
  if ttl > 0 then
    redis.call('SET', KEYS[1], version, 'PX', ttl)
  else
    redis.call('SET', KEYS[1], version)
  end
  return version
end
if ttl == 0 then
  redis.call('PERSIST', KEYS[1])
else
  local left = redis.call('PTTL', KEYS[1])
  if left >= 0 and left < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return version
