--[[
  Ends every session of a user except, optionally, one (e.g. "log out my other devices").
  KEYS[1] the user's key base `sess:{u:<id>}:` (see session-create.lua): touches `idx` and, for each
          indexed session, `s:<hash>`, `f:<family>` and `r:<hash>` under it
  ARGV[1] '' or the hash of the session to keep
  Returns the number of live sessions removed.
]]
local base = KEYS[1]
local idx = base .. 'idx'

--- @include "session-kill"

local removed = 0
for _, h in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
  if h ~= ARGV[1] then removed = removed + kill(h) end
end
return removed
