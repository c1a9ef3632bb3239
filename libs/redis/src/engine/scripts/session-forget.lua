--[[
  Deletes the family pointer and the current refresh record of a session that has ended, if they
  still name it: tidying after session-revoke.lua, eviction or revokeAll (both expire on their own
  at the absolute deadline otherwise).
  KEYS[1] the family pointer `…f:<family>`    KEYS[2] the refresh record `…r:<refresh hash>`
  (both under the user's hash tag, see session-create.lua)
  ARGV[1] the ended session's hash    ARGV[2] its family id
  Returns the number of keys deleted.
]]
local n = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then n = n + redis.call('DEL', KEYS[1]) end
if redis.call('GET', KEYS[2]) == 'c:' .. ARGV[2] .. ':' .. ARGV[1] then n = n + redis.call('DEL', KEYS[2]) end
return n
