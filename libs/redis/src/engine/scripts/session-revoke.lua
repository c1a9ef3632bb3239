--[[
  Ends one session: the session, its index entry, its family pointer and its current refresh token.
  KEYS[1] the user's key base `sess:{u:<id>}:` (see session-create.lua): touches `s:<hash>`, `idx`,
          `f:<family>` and `r:<hash>` under it
  ARGV[1] session id hash
  Returns 1 when a live session was removed, 0 when there was none.
]]
local base = KEYS[1]
local idx = base .. 'idx'

--- @include "session-kill"

return kill(ARGV[1])
