--[[
  A loader is about to run for a cache key: stake the key so that any invalidation made while it
  runs (DEL, a pattern or namespace UNLINK, a user's SET) makes its later write a no-op. A missing
  key, or one holding an older load's marker, gets this load's marker; a key holding a value keeps
  it (stale-while-revalidate still serves it) and the caller is told its SHA1 instead.
  KEYS[1] the value key
  ARGV[1] this load's marker ("~l|" then a random token)
  ARGV[2] the marker's lifetime in milliseconds (the loader deadline: a write after it is refused)
  Returns {1} when the marker was placed, {0, sha1 of the current value} when a value is there.
]]
local current = redis.call('GET', KEYS[1])
if current == false or string.sub(current, 1, 3) == '~l|' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1}
end
return {0, redis.sha1hex(current)}
