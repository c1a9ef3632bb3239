--[[
  Ends one session: the session, its index entry, its family pointer and its current refresh token.
  KEYS[1] the user's key base `sess:{u:<id>}:` (see session-create.lua): touches `s:<hash>`, `idx`,
          `f:<family>` and `r:<hash>` under it
  ARGV[1] session id hash
  Returns 1 when a live session was removed, 0 when there was none.
]]
local base = KEYS[1]
local idx = base .. 'idx'

local function kill(h)
  local s = base .. 's:' .. h
  local v = redis.call('HMGET', s, 'fam', 'rh')
  local n = redis.call('DEL', s)
  redis.call('ZREM', idx, h)
  if v[1] then
    local f = base .. 'f:' .. v[1]
    if redis.call('GET', f) == h then redis.call('DEL', f) end
  end
  if v[2] then redis.call('DEL', base .. 'r:' .. v[2]) end
  return n
end

return kill(ARGV[1])
